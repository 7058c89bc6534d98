package ipsec

import "strings"

// DynamicRule is a rule of the dynamic context (`ipsec dynamic add rule`,
// reference 3.3): one filter with its own inbound and outbound actions,
// bound to named main mode and quick mode policies of the SPD. The engine
// keeps it in memory only; package engine/agent expands it into filters.
type DynamicRule struct {
	Name string  // the name of every filter of the rule (set by the engine)
	Ref  RuleRef // Policy "" marks a dynamic rule (set by the engine)

	Src, Dst         Address
	SrcMask, DstMask Mask
	Protocol         Protocol
	SrcPort, DstPort uint16
	Mirrored         bool
	ConnType         ConnType
	Tunnel           Address // Kind 0: transport mode

	InboundAction, OutboundAction Action
	MMPolicy, QMPolicy            string
	Auth                          []AuthMethod
}

// Negotiates reports whether an action of r is negotiate.
func (r *DynamicRule) Negotiates() bool {
	return r.InboundAction == ActionNegotiate || r.OutboundAction == ActionNegotiate
}

// IsTunnel reports whether r is a tunnel rule.
func (r *DynamicRule) IsTunnel() bool { return r.Tunnel.Kind != 0 }

// Key returns the tags that identify r.
func (r *DynamicRule) Key() RuleKey {
	return RuleKey{Src: r.Src, Dst: r.Dst, SrcMask: r.SrcMask, DstMask: r.DstMask, Protocol: r.Protocol,
		SrcPort: r.SrcPort, DstPort: r.DstPort, Mirrored: r.Mirrored, ConnType: r.ConnType, Tunnel: r.Tunnel}
}

// RuleKey identifies a dynamic rule (reference 3.5, `set rule` and
// `delete rule`): addresses, protocol, ports, mirrored, conntype, masks and
// tunnel end point.
type RuleKey struct {
	Src, Dst         Address
	SrcMask, DstMask Mask
	Protocol         Protocol
	SrcPort, DstPort uint16
	Mirrored         bool
	ConnType         ConnType
	Tunnel           Address
}

// SameAddress reports whether a and b name the same address: DNS names
// compare by name, case-insensitively (whatever they resolved to), the
// others by value.
func SameAddress(a, b Address) bool {
	if a.Kind == AddrDNSName || b.Kind == AddrDNSName {
		return a.Kind == b.Kind && strings.EqualFold(a.Name, b.Name)
	}
	return a == b
}

// Match reports whether k and o identify the same rule: SameAddress for
// the addresses and the tunnel end point, a mask only beside a literal
// address, the other fields equal.
func (k RuleKey) Match(o RuleKey) bool {
	sameMask := func(a Address, m, n Mask) bool { return a.Kind != AddrIP || m == n }
	return SameAddress(k.Src, o.Src) && SameAddress(k.Dst, o.Dst) && SameAddress(k.Tunnel, o.Tunnel) &&
		sameMask(k.Src, k.SrcMask, o.SrcMask) && sameMask(k.Dst, k.DstMask, o.DstMask) &&
		k.Protocol == o.Protocol && k.SrcPort == o.SrcPort && k.DstPort == o.DstPort &&
		k.Mirrored == o.Mirrored && k.ConnType == o.ConnType
}
