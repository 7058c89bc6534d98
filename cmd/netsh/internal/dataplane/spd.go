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
	"cmp"
	"net/netip"
	"slices"

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
// The dynamic entries dyn (IDs from dynBase) follow them.
func compile(specific []ipsec.QMFilter, dyn []sadb.Entry) (*table, error) {
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
		t.entries = append(t.entries, e)
		t.filters[id] = f
		if e.Action == ipsec.ActionNegotiate {
			if _, dup := t.bySel[e.Selector]; !dup {
				t.bySel[e.Selector] = id
			}
		}
	}
	for _, e := range dyn {
		t.entries = append(t.entries, e)
		if _, dup := t.bySel[e.Selector]; !dup {
			t.bySel[e.Selector] = e.ID
		}
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

// dynBase is the first ID of a dynamic entry, above any position of a
// specific filter, so that a policy change does not renumber them.
const dynBase = 1 << 32

// dynamic holds the entries of the default response rule (reference
// section 10): a host that answers a quick mode no filter of its own
// covers (Client (Respond Only)) gets, per negotiated selector and
// direction, a negotiate entry for as long as SAs are installed under
// it, so that the data path accepts the decrypted traffic (the SA's
// entry, driver step 2d), routes the replies into the TUN device and
// protects them. It accepts that peer's cleartext (InPass): a Client
// "communicates normally" (reference 4.1) and the peer may exempt some of
// that traffic itself, as the built-ins exempt ICMP. Such an entry never
// acquires: it has no filter of the engine behind it.
type dynamic struct {
	next    uint64
	entries map[uint64]sadb.Entry
	sas     map[sadb.ID]uint64 // SAs installed under a dynamic entry
}

// add returns a new negotiate entry for sel.
func (d *dynamic) add(sel sadb.Selector) uint64 {
	if d.entries == nil {
		d.entries, d.sas, d.next = map[uint64]sadb.Entry{}, map[sadb.ID]uint64{}, dynBase
	}
	id := d.next
	d.next++
	d.entries[id] = sadb.Entry{Selector: sel, Action: ipsec.ActionNegotiate, ID: id, InPass: true}
	return id
}

// forget drops SA id; it reports whether that emptied its entry, which
// is then gone.
func (d *dynamic) forget(id sadb.ID) bool {
	ref, ok := d.sas[id]
	if !ok {
		return false
	}
	delete(d.sas, id)
	for _, r := range d.sas {
		if r == ref {
			return false
		}
	}
	delete(d.entries, ref)
	return true
}

// list returns the entries in ID order.
func (d *dynamic) list() []sadb.Entry {
	out := make([]sadb.Entry, 0, len(d.entries))
	for _, e := range d.entries {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b sadb.Entry) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
