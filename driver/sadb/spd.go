package sadb

// The Security Policy Database, RFC 4301 section 4.4.1, ordered as the
// Windows IPsec service orders its filters (reference section 10): from
// most specific to least specific, first match wins.

import (
	"cmp"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/gonetsh/gonetsh/ipsec"
)

// PortRange is an inclusive range of TCP or UDP ports. The zero value and
// the full range 0-65535 both mean any port, so a range can never select
// exactly port 0 (netsh has no way to say so either).
type PortRange struct {
	Lo, Hi uint16
}

// Port returns the range holding the single port p; Port(0) is any port.
func Port(p uint16) PortRange { return PortRange{p, p} }

// IsAny reports whether r accepts every port.
func (r PortRange) IsAny() bool { return r == PortRange{} || r == PortRange{0, 0xffff} }

// Contains reports whether p is in r.
func (r PortRange) Contains(p uint16) bool { return r.IsAny() || r.Lo <= p && p <= r.Hi }

// String returns "any", the port, or "lo-hi".
func (r PortRange) String() string {
	switch {
	case r.IsAny():
		return "any"
	case r.Lo == r.Hi:
		return fmt.Sprintf("%d", r.Lo)
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// score is the port part of the weight: 0 for any, 17 for a single port,
// and in between 17 minus the bit length of the range width, so that a
// narrower range is more specific.
func (r PortRange) score() uint32 {
	if r.IsAny() {
		return 0
	}
	return 17 - uint32(bits.Len16(r.Hi-r.Lo))
}

// Selector is the traffic description of one SPD entry (RFC 4301 section
// 4.4.1.1): one direction, source and destination prefixes, a protocol and,
// for TCP and UDP, port ranges. A mirrored netsh filter becomes two
// selectors, one per direction, with the addresses and ports swapped; the
// caller does that expansion.
type Selector struct {
	Dir Direction

	// Src and Dst are IPv4 prefixes; host bits are ignored. The zero
	// Prefix means any address, as does 0.0.0.0/0.
	Src, Dst netip.Prefix

	// Protocol is the IP protocol; ipsec.ProtoAny (0) matches every one.
	Protocol ipsec.Protocol

	// SrcPort and DstPort restrict TCP and UDP ports. They must be any
	// unless Protocol is ipsec.ProtoTCP or ipsec.ProtoUDP.
	SrcPort, DstPort PortRange
}

// normalize returns s with masked prefixes (the zero Prefix becoming
// 0.0.0.0/0) and any-port ranges as the zero PortRange. It assumes
// validate passed.
func (s Selector) normalize() Selector {
	anyV4 := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if !s.Src.IsValid() {
		s.Src = anyV4
	}
	if !s.Dst.IsValid() {
		s.Dst = anyV4
	}
	s.Src, s.Dst = s.Src.Masked(), s.Dst.Masked()
	if s.SrcPort.IsAny() {
		s.SrcPort = PortRange{}
	}
	if s.DstPort.IsAny() {
		s.DstPort = PortRange{}
	}
	return s
}

// Validate reports why s cannot go into an SPD, wrapping ErrSelector, or
// returns nil.
func (s Selector) Validate() error {
	if !s.Dir.valid() {
		return fmt.Errorf("%w: direction %v", ErrSelector, s.Dir)
	}
	for _, p := range []netip.Prefix{s.Src, s.Dst} {
		if p != (netip.Prefix{}) && (!p.IsValid() || !p.Addr().Is4()) {
			return fmt.Errorf("%w: %v is not an IPv4 prefix", ErrSelector, p)
		}
	}
	for _, r := range []PortRange{s.SrcPort, s.DstPort} {
		if r.Lo > r.Hi {
			return fmt.Errorf("%w: port range %d-%d", ErrSelector, r.Lo, r.Hi)
		}
		if !r.IsAny() && !s.Protocol.HasPorts() {
			return fmt.Errorf("%w: port %v with protocol %v (ports need TCP or UDP)", ErrSelector, r, s.Protocol)
		}
	}
	return nil
}

// Weight is the specificity of s; a larger weight is more specific and is
// tried first. With s normalized:
//
//	weight = (srcBits + dstBits) << 8
//	       | protocolGiven << 7
//	       | score(SrcPort) + score(DstPort)
//
// where srcBits and dstBits are the prefix lengths (0-32 each, so they
// dominate: a host address beats a subnet, a longer mask a shorter one,
// any comes last), protocolGiven is 1 for a named protocol, and score is
// 0 for any port, 17 for a single port and 17-bitlen(Hi-Lo) for a range
// (1-16). The maximum is 64<<8|1<<7|34. Ties are broken by Compile.
func (s Selector) Weight() uint32 {
	s = s.normalize()
	w := uint32(s.Src.Bits()+s.Dst.Bits()) << 8
	if s.Protocol != ipsec.ProtoAny {
		w |= 1 << 7
	}
	return w | s.SrcPort.score() + s.DstPort.score()
}

// String formats s as "outbound 10.0.0.0/8:any -> 0.0.0.0/0:80 TCP".
func (s Selector) String() string {
	s2 := s
	if s.Validate() == nil {
		s2 = s.normalize()
	}
	return fmt.Sprintf("%v %v:%v -> %v:%v %v", s2.Dir, s2.Src, s2.SrcPort, s2.Dst, s2.DstPort, s2.Protocol)
}

// Entry is one SPD entry: a selector and what to do with matching traffic.
type Entry struct {
	Selector Selector
	Action   ipsec.Action

	// Weight is Selector.Weight(), filled in by Compile; a value given to
	// Compile is ignored.
	Weight uint32

	// ID refers to whatever produced the entry (a rule and filter of the
	// policy store); the SPD does not interpret it. The outbound SA of a
	// negotiated flow can be keyed by it (SAD.Outbound).
	ID uint64

	// InPass accepts unsecured inbound packets that match a negotiate
	// entry while answering with a negotiation; Soft falls back to clear
	// text when the peer does not answer IKE (reference section 10). Both
	// matter only for ipsec.ActionNegotiate and are kept as given.
	InPass, Soft bool

	// Tunnel is the tunnel endpoint of a negotiate entry; the invalid
	// Addr means transport mode.
	Tunnel netip.Addr

	// RankAs, when its Dir is set, is the selector whose weight ranks
	// the entry instead of its own: an entry the engine narrowed from a
	// generic one (one peer of "this host to any") ranks where the
	// generic entry does, ahead of it (its own selector is heavier), and
	// behind every entry the generic one ranks behind, as Windows' specific
	// filters keep the weight of their generic filter.
	RankAs Selector

	// Override ranks the entry before every entry without it, whatever
	// the weights: the engine's soft associations (clear text with a
	// peer that did not answer IKE under a soft filter action) override
	// the negotiate filter that covers them.
	Override bool
}

// validate reports why e cannot go into an SPD.
func (e Entry) validate() error {
	if err := e.Selector.Validate(); err != nil {
		return err
	}
	switch e.Action {
	case ipsec.ActionPermit, ipsec.ActionBlock, ipsec.ActionNegotiate:
	default:
		return fmt.Errorf("%w: action %v", ErrEntry, e.Action)
	}
	if e.Tunnel.IsValid() && !e.Tunnel.Is4() {
		return fmt.Errorf("%w: tunnel endpoint %v is not IPv4", ErrEntry, e.Tunnel)
	}
	return nil
}

// actionRank orders equally weighted entries: block, then negotiate, then
// permit (the safe choice for the administrator error of overlapping
// filters with different actions; Windows' own tie order is undocumented).
func actionRank(a ipsec.Action) int {
	switch a {
	case ipsec.ActionBlock:
		return 0
	case ipsec.ActionNegotiate:
		return 1
	}
	return 2
}

// SPD is an immutable, compiled Security Policy Database snapshot. Its
// methods are safe for concurrent use without locking; a nil *SPD is an
// empty database. The owner publishes a new snapshot with an
// atomic.Pointer[SPD] swap; readers holding the old one finish with it.
//
// # Order
//
// Entries are ordered by Weight, largest first; equal weights by action
// (block, negotiate, permit), then by position in the slice given to
// Compile. This total order is an entry's rank; Lookup returns the
// matching entry of lowest rank, which is exactly what a linear scan of
// Entries() in order would return (RFC 4301 section 4.4.1: the SPD is
// ordered and the first match applies).
//
// # Index
//
// Each direction is a tuple space (Srinivasan, Suri and Varghese 1999). A
// tuple is an entry shape: (source level, destination level, protocol
// given, source port exact, destination port exact), where a prefix's
// level is its length rounded down to a multiple of 8. For a packet, each
// tuple gives one exact key: the addresses masked to the levels, the
// protocol if the shape names one, and each port the shape gives exactly.
// One open-addressing hash table per direction maps (tuple, key) to a
// bucket: the ranks of the entries with that shape and key, ascending.
// When every entry of a tuple has level-aligned prefixes and no port
// range, a bucket holds identical selectors and its first rank is the
// answer; otherwise the bucket is scanned for the first entry that really
// matches (length within the level, port ranges). An entry whose selector
// repeats an earlier one of its direction can never be first and is left
// out of the buckets (it stays in Entries).
//
// Tuples are probed in order of their lowest rank, and the search stops at
// the first tuple whose lowest rank is above the best match so far. Since
// prefix lengths dominate the weight, a packet matching a specific entry
// stops after the few most specific shapes. Lookup therefore costs at most
// one hash probe per tuple, and there are at most 200 tuples per direction
// (typically a handful) whatever the number of entries; only buckets of
// entries that share a level-aligned key but differ below it (say many /28
// subnets of one /24, or port ranges on one address pair) are scanned.
type SPD struct {
	entries []Entry   // in rank order
	match   []matcher // by rank, for bucket verification
	out, in index
}

// Compile validates and normalizes entries, computes their weights, sorts
// them into rank order and builds the index. It copies entries; the caller
// keeps the slice. An invalid entry fails the whole compilation with an
// error naming its position and wrapping ErrSelector or ErrEntry. An empty
// or nil slice yields an empty SPD.
func Compile(entries []Entry) (*SPD, error) {
	type ranked struct {
		e    Entry
		rank uint32 // RankAs's weight, else the entry's own
		pos  int
	}
	rs := make([]ranked, len(entries))
	for i, e := range entries {
		if err := e.validate(); err != nil {
			return nil, fmt.Errorf("entry %d (ID %d): %w", i, e.ID, err)
		}
		e.Selector = e.Selector.normalize()
		e.Weight = e.Selector.Weight()
		rank := e.Weight
		if e.RankAs.Dir != 0 {
			rank = e.RankAs.Weight()
		}
		rs[i] = ranked{e, rank, i}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		if a.e.Override != b.e.Override {
			if a.e.Override {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.rank, a.rank); c != 0 {
			return c
		}
		if c := cmp.Compare(b.e.Weight, a.e.Weight); c != 0 {
			return c
		}
		if c := cmp.Compare(actionRank(a.e.Action), actionRank(b.e.Action)); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})
	s := &SPD{
		entries: make([]Entry, len(rs)),
		match:   make([]matcher, len(rs)),
	}
	for i, r := range rs {
		s.entries[i] = r.e
		s.match[i] = newMatcher(r.e.Selector)
	}
	s.out.build(s.entries, s.match, Outbound)
	s.in.build(s.entries, s.match, Inbound)
	return s, nil
}

// Len returns the number of entries.
func (s *SPD) Len() int {
	if s == nil {
		return 0
	}
	return len(s.entries)
}

// Entries returns a copy of the entries in rank order, with weights: the
// list `show qmfilter type=specific` prints.
func (s *SPD) Entries() []Entry {
	if s == nil {
		return nil
	}
	return slices.Clone(s.entries)
}

// Lookup returns the first entry, in rank order, of direction dir whose
// selector matches f, and false when none does (the caller applies its
// default: Windows permits traffic no filter matches). f must hold IPv4
// addresses; any other Fields match nothing. Lookup does not allocate and
// takes no lock.
func (s *SPD) Lookup(dir Direction, f Fields) (Entry, bool) {
	if s == nil {
		return Entry{}, false
	}
	var ix *index
	switch dir {
	case Outbound:
		ix = &s.out
	case Inbound:
		ix = &s.in
	default:
		return Entry{}, false
	}
	r := s.lookup(ix, &f)
	if r < 0 {
		return Entry{}, false
	}
	return s.entries[r], true
}
