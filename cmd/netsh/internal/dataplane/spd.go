// Package dataplane joins the engine, the IKE negotiator and the driver
// in the gonetsh service: it converts the engine's compiled SPD into the
// data path's entries, the negotiator's SAs into the driver's SA database,
// and carries IKE datagrams on UDP 500 and (through the driver) 4500.
//
// It is the only place that knows both the engine's types (ipsec,
// engine/agent) and the driver's (driver, driver/sadb), so that neither
// imports the other (STYLE.md section 5).
package dataplane

import (
	"net/netip"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// table is one compiled SPD with the maps back from data path entries to
// the engine's filters.
type table struct {
	spd     *sadb.SPD
	entries []sadb.Entry
	filters map[uint64]ipsec.QMFilter // entry ID -> specific filter
	bySel   map[sadb.Selector]uint64  // negotiate entries by selector
}

// compile converts the specific quick mode filters (both directions, in
// rank order) into data path entries. Entry IDs are the filters' positions
// plus one, stable for one table only: an SA installed under an older
// table keeps its Ref, which the next table may give to another filter;
// the engine re-keys on policy change, so the window is the life of the
// old SAs.
//
// soft are the peers of soft associations: each gets an Override permit
// entry both ways, ahead of every filter (see Plane.FailAcquire).
//
// ranks, when not nil, holds for each filter the selector whose weight
// ranks it (a filter narrowed from a generic one, in its own direction);
// a zero Selector ranks a filter by its own.
func compile(specific []ipsec.QMFilter, ranks []ipsec.Selector, soft []netip.Addr) (*table, error) {
	t := &table{
		filters: make(map[uint64]ipsec.QMFilter, len(specific)),
		bySel:   make(map[sadb.Selector]uint64),
	}
	for i, f := range specific {
		id := uint64(i + 1)
		e := sadb.Entry{
			Selector: selector(f.Direction, f.Selector),
			Action:   f.Action(),
			ID:       id,
			InPass:   f.InPass,
			Soft:     f.Soft,
			Tunnel:   f.Tunnel,
		}
		if i < len(ranks) && ranks[i] != (ipsec.Selector{}) {
			e.RankAs = selector(f.Direction, ranks[i])
		}
		t.entries = append(t.entries, e)
		t.filters[id] = f
		if e.Action == ipsec.ActionNegotiate {
			if _, dup := t.bySel[e.Selector]; !dup {
				t.bySel[e.Selector] = id
			}
		}
	}
	for i, peer := range soft {
		id := uint64(len(specific) + 1 + 2*i)
		host := netip.PrefixFrom(peer, 32)
		t.entries = append(t.entries,
			sadb.Entry{ID: id, Action: ipsec.ActionPermit, Override: true, Selector: sadb.Selector{Dir: sadb.Outbound, Dst: host}},
			sadb.Entry{ID: id + 1, Action: ipsec.ActionPermit, Override: true, Selector: sadb.Selector{Dir: sadb.Inbound, Src: host}})
	}
	spd, err := sadb.Compile(t.entries)
	if err != nil {
		return nil, err
	}
	t.spd = spd
	return t, nil
}

// selector converts an engine selector of direction dir; an invalid
// prefix (an unknown address in a generic filter) is any.
func selector(dir ipsec.Direction, s ipsec.Selector) sadb.Selector {
	out := sadb.Selector{
		Dir:      sadb.Direction(dir),
		Src:      s.Src,
		Dst:      s.Dst,
		Protocol: s.Protocol,
	}
	if s.SrcPort != 0 {
		out.SrcPort = sadb.Port(s.SrcPort)
	}
	if s.DstPort != 0 {
		out.DstPort = sadb.Port(s.DstPort)
	}
	if !out.Src.IsValid() {
		out.Src = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	if !out.Dst.IsValid() {
		out.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	out.Src, out.Dst = out.Src.Masked(), out.Dst.Masked()
	return out
}

// exact returns the negotiate entry whose selector is exactly sel in
// direction dir; 0: none.
func (t *table) exact(dir ipsec.Direction, sel ipsec.Selector) uint64 {
	if t == nil {
		return 0
	}
	return t.bySel[selector(dir, sel)]
}

// ref finds the negotiate entry an SA of direction dir carrying sel
// serves: the entry with exactly that selector, else the entry the
// selector's first packet would match. 0: none.
func (t *table) ref(dir ipsec.Direction, sel ipsec.Selector) uint64 {
	if t == nil {
		return 0
	}
	s := selector(dir, sel)
	if id, ok := t.bySel[s]; ok {
		return id
	}
	f := sadb.Fields{Src: s.Src.Addr(), Dst: s.Dst.Addr(), Protocol: s.Protocol, SrcPort: s.SrcPort.Lo, DstPort: s.DstPort.Lo}
	if e, ok := t.spd.Lookup(sadb.Direction(dir), f); ok && e.Action == ipsec.ActionNegotiate {
		return e.ID
	}
	return 0
}
