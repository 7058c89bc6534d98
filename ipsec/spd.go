package ipsec

import (
	"fmt"
	"net/netip"
	"slices"
)

// The Security Policy Database as the IPsec service holds it (RFC 4301
// section 4.4.1; reference sections 3.8, 5.10 and 10): quick mode filters
// with their actions and quick mode policies, main mode filters with their
// authentication methods and main mode policies. Package engine/agent
// compiles the assigned static policy into these; the data path gets the
// specific quick mode filters.

// Direction is the direction of traffic a filter applies to, seen from this
// host. Its values equal those of driver/sadb's Direction, so a conversion
// between the two is a plain type conversion.
type Direction uint8

// Directions. The zero value is invalid.
const (
	Outbound Direction = iota + 1 // leaving this host
	Inbound                       // arriving at this host
)

func (d Direction) String() string {
	switch d {
	case Outbound:
		return "outbound"
	case Inbound:
		return "inbound"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// Selector is the traffic a filter matches: IPv4 source and destination
// prefixes, a protocol (ProtoAny matches all) and, for TCP and UDP, single
// ports (0 = any port). A main mode filter uses the prefixes only. An
// invalid Prefix stands for an address that is not known yet (me or a
// server type in a generic filter) and counts as any in Weight.
type Selector struct {
	Src, Dst         netip.Prefix
	Protocol         Protocol
	SrcPort, DstPort uint16
}

// Reverse returns s with source and destination (prefixes and ports)
// swapped: the selector of the mirror image of a filter.
func (s Selector) Reverse() Selector {
	s.Src, s.Dst = s.Dst, s.Src
	s.SrcPort, s.DstPort = s.DstPort, s.SrcPort
	return s
}

// Weight is the specificity of s; a larger weight is more specific and is
// matched first. It is the formula that driver/sadb's Selector.Weight
// documents and the data path uses, where a single port scores 17 and any
// port 0 (Selector ports are never ranges): prefix lengths dominate, then
// a named protocol, then named ports.
func (s Selector) Weight() uint32 {
	w := uint32(bitsOf(s.Src)+bitsOf(s.Dst)) << 8
	if s.Protocol != ProtoAny {
		w |= 1 << 7
	}
	if s.SrcPort != 0 {
		w += 17
	}
	if s.DstPort != 0 {
		w += 17
	}
	return w
}

func bitsOf(p netip.Prefix) int {
	if !p.IsValid() {
		return 0
	}
	return p.Bits()
}

// Covers reports whether every packet o matches also matches s: each
// prefix of s contains o's, the protocol of s is any or o's, and each port
// of s is any or o's. Invalid prefixes cover and are covered by nothing.
func (s Selector) Covers(o Selector) bool {
	return prefixCovers(s.Src, o.Src) && prefixCovers(s.Dst, o.Dst) &&
		(s.Protocol == ProtoAny || s.Protocol == o.Protocol) &&
		(s.SrcPort == 0 || s.SrcPort == o.SrcPort) && (s.DstPort == 0 || s.DstPort == o.DstPort)
}

// prefixCovers reports whether f contains all of p (both valid).
func prefixCovers(f, p netip.Prefix) bool {
	return f.IsValid() && p.IsValid() && f.Bits() <= p.Bits() && f.Contains(p.Addr())
}

// String formats s as "10.0.0.1/32:any -> 0.0.0.0/0:80 TCP"; an invalid
// prefix prints as "?".
func (s Selector) String() string {
	return fmt.Sprintf("%s:%s -> %s:%s %v", prefixString(s.Src), portString(s.SrcPort),
		prefixString(s.Dst), portString(s.DstPort), s.Protocol)
}

func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return "?"
	}
	return p.String()
}

func portString(p uint16) string {
	if p == 0 {
		return "any"
	}
	return fmt.Sprint(p)
}

// RuleRef names the rule a filter comes from: the GUID of the static policy
// (braced, as store.GUID) and the rule's ID in it, 0 being the default
// response rule.
type RuleRef struct {
	Policy string
	Rule   int
}

// QMPolicy is a quick mode policy (`show qmpolicy`): the offers a
// negotiate filter proposes and accepts, in preference order.
type QMPolicy struct {
	Name string

	// PFS asks for a fresh Diffie-Hellman exchange per quick mode.
	// PFSGroup is its group; DHNone means the main mode group (static
	// qmpfs=yes, dynamic pfsgroup=grpmm).
	PFS      bool
	PFSGroup DHGroup

	// Offers is shared with the SPD that holds the policy: read-only.
	Offers []QMOffer

	// Soft falls back to clear text with peers that do not answer IKE.
	Soft bool
}

// Equal reports whether p and o are the same policy.
func (p QMPolicy) Equal(o QMPolicy) bool {
	return p.Name == o.Name && p.PFS == o.PFS && p.PFSGroup == o.PFSGroup &&
		p.Soft == o.Soft && slices.Equal(p.Offers, o.Offers)
}

// MMPolicy is a main mode policy (`show mmpolicy`).
type MMPolicy struct {
	Name string

	// Offers is shared with the SPD that holds the policy: read-only.
	Offers []MMOffer

	Lifetime         uint32 // main mode SA lifetime, seconds
	QMPerMM          uint32 // quick modes per main mode SA; 0 = unlimited
	SoftSAExpiration uint32 // seconds; 0 = none (static policies set none)

	// MasterPFS re-authenticates (a new main mode) for every quick mode;
	// QMPerMM is then 1.
	MasterPFS bool
}

// Equal reports whether p and o are the same policy.
func (p MMPolicy) Equal(o MMPolicy) bool {
	return p.Name == o.Name && p.Lifetime == o.Lifetime && p.QMPerMM == o.QMPerMM &&
		p.SoftSAExpiration == o.SoftSAExpiration && p.MasterPFS == o.MasterPFS &&
		slices.Equal(p.Offers, o.Offers)
}

// QMFilter is a quick mode (transport or tunnel) filter. A generic filter is
// one direction of a filter as configured; a specific filter is a generic
// one with every address made concrete (me, server types and DNS names
// expanded to host prefixes, one filter per address combination) and a
// Weight. Specific filters carry the Name of their generic filter. QMFilter
// is comparable with ==.
type QMFilter struct {
	Name    string
	Generic bool

	// Selector holds concrete prefixes. In a generic filter a side that is
	// me or a server type has an invalid prefix; SrcAddr and DstAddr keep
	// the configured sides (swapped in a mirror image) for display.
	Selector         Selector
	SrcAddr, DstAddr Address
	Direction        Direction

	// Mirrored reports that the configured filter is mirrored; Mirror that
	// this filter is its reverse image.
	Mirrored, Mirror bool

	InboundAction, OutboundAction Action

	// InPass and Soft are the filter action's flags (reference section
	// 10); they matter for negotiate only.
	InPass, Soft bool

	// Tunnel is the tunnel endpoint; the invalid Addr means transport mode.
	Tunnel   netip.Addr
	ConnType ConnType

	// QMPolicy is the Name of the quick mode policy of a negotiate filter,
	// empty for permit and block.
	QMPolicy string

	Rule   RuleRef
	Weight uint32 // specific filters only; see Selector.Weight
}

// Action returns the action for the filter's direction.
func (f QMFilter) Action() Action {
	if f.Direction == Inbound {
		return f.InboundAction
	}
	return f.OutboundAction
}

// MMFilter is a main mode filter: which peers IKE talks to, with which
// authentication methods and main mode policy. Generic and specific
// filters are as for QMFilter; the Selector holds addresses only.
type MMFilter struct {
	Name    string
	Generic bool

	Selector         Selector
	SrcAddr, DstAddr Address
	Direction        Direction
	ConnType         ConnType

	// Auth is the rule's authentication methods in preference order,
	// shared with the SPD that holds the filter: read-only.
	Auth []AuthMethod

	// MMPolicy is the Name of the main mode policy.
	MMPolicy string

	// RespondOnly marks the default response rule: IKE answers a peer
	// that starts a negotiation but never starts one. QMPolicy then names
	// the quick mode policy whose offers the responder accepts.
	RespondOnly bool
	QMPolicy    string

	Rule   RuleRef
	Weight uint32 // specific filters only; see Selector.Weight
}

// Equal reports whether f and o are the same filter.
func (f MMFilter) Equal(o MMFilter) bool {
	return f.Name == o.Name && f.Generic == o.Generic && f.Selector == o.Selector &&
		f.SrcAddr == o.SrcAddr && f.DstAddr == o.DstAddr && f.Direction == o.Direction &&
		f.ConnType == o.ConnType && f.MMPolicy == o.MMPolicy && f.RespondOnly == o.RespondOnly &&
		f.QMPolicy == o.QMPolicy && f.Rule == o.Rule && f.Weight == o.Weight &&
		slices.Equal(f.Auth, o.Auth)
}
