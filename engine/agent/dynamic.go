package agent

import (
	"fmt"

	"github.com/gonetsh/gonetsh/ipsec"
)

// CompileDynamic expands a dynamic rule for host into generic and specific
// filters exactly as Compile expands a static rule with one filter (see the
// package documentation), except that the actions of the two directions
// may differ. Main mode filters are emitted when an action is negotiate;
// they name r.MMPolicy. The SPD holds no policies and no PolicyGUID; its
// specific filters are in rank order. An error is a *RuleError whose
// Policy is empty.
func CompileDynamic(r *ipsec.DynamicRule, host HostInfo) (*SPD, error) {
	spd := &SPD{}
	c := &compiler{spd: spd, host: newHostSets(host), mmSeen: map[mmKey]struct{}{}, mmName: r.MMPolicy}
	fail := func(filter int, err error) error {
		return &RuleError{Rule: r.Name, Filter: filter, Err: err}
	}
	for _, a := range []ipsec.Action{r.InboundAction, r.OutboundAction} {
		if a < ipsec.ActionPermit || a > ipsec.ActionNegotiate {
			return nil, fail(0, fmt.Errorf("%w: action %v", ErrFilter, a))
		}
	}
	tunnel, err := endpoint(r.Tunnel)
	if err != nil {
		return nil, fail(0, err)
	}
	var tunnelDir ipsec.Direction
	if tunnel.IsValid() {
		if r.Mirrored {
			return nil, fail(1, ErrMirroredTunnel)
		}
		tunnelDir = ipsec.Outbound
		if c.host.isMe(tunnel) {
			tunnelDir = ipsec.Inbound
		}
	}
	if (r.SrcPort != 0 || r.DstPort != 0) && !r.Protocol.HasPorts() {
		return nil, fail(1, fmt.Errorf("%w: ports with protocol %v (ports need TCP or UDP)", ErrFilter, r.Protocol))
	}
	src, err := c.newSide(r.Src, r.SrcMask, r.Dst)
	if err != nil {
		return nil, fail(1, err)
	}
	dst, err := c.newSide(r.Dst, r.DstMask, r.Src)
	if err != nil {
		return nil, fail(1, err)
	}
	g := ipsec.QMFilter{
		Name:           r.Name,
		Generic:        true,
		InboundAction:  r.InboundAction,
		OutboundAction: r.OutboundAction,
		Tunnel:         tunnel,
		ConnType:       r.ConnType,
		Rule:           r.Ref,
		Mirrored:       r.Mirrored,
		Selector:       ipsec.Selector{Protocol: r.Protocol, SrcPort: r.SrcPort, DstPort: r.DstPort},
	}
	var mm *mmRule
	if r.Negotiates() {
		g.QMPolicy = r.QMPolicy
		mm = &mmRule{ref: r.Ref, conn: r.ConnType, auth: r.Auth}
	}
	c.directed(g, &src, &dst, tunnelDir, mm)
	if r.Mirrored && !(r.Src == r.Dst && r.SrcMask == r.DstMask && r.SrcPort == r.DstPort) {
		g.Mirror = true
		g.Selector = g.Selector.Reverse()
		c.directed(g, &dst, &src, tunnelDir, mm)
	}
	if mm != nil && tunnel.IsValid() {
		c.tunnelPair(mm, g.Name, r.Tunnel, tunnel, tunnelDir)
	}
	spd.QMSpecific = rankOrder(spd.QMSpecific, qmRankKey)
	spd.MMSpecific = rankOrder(spd.MMSpecific, mmRankKey)
	return spd, nil
}

func qmRankKey(f *ipsec.QMFilter) (uint32, uint32) { return f.Weight, actionRank(f.Action()) }

func mmRankKey(f *ipsec.MMFilter) (uint32, uint32) {
	return f.Weight, actionRank(ipsec.ActionNegotiate)
}

// MergeQMSpecific merges two lists of specific quick mode filters, each in
// rank order, into one in rank order (weight, largest first, then block,
// negotiate, permit); on a tie the filter of a comes first. Neither input
// is modified.
func MergeQMSpecific(a, b []ipsec.QMFilter) []ipsec.QMFilter { return mergeRanked(a, b, qmRankKey) }

// MergeMMSpecific is MergeQMSpecific for main mode filters.
func MergeMMSpecific(a, b []ipsec.MMFilter) []ipsec.MMFilter { return mergeRanked(a, b, mmRankKey) }

func mergeRanked[T any](a, b []T, key func(*T) (uint32, uint32)) []T {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]T, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		wa, ra := key(&a[i])
		wb, rb := key(&b[j])
		if wb > wa || (wb == wa && rb < ra) {
			out = append(out, b[j])
			j++
		} else {
			out = append(out, a[i])
			i++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}
