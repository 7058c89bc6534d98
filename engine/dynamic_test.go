package engine

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/engine/agent"
	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

func ipAddr(s string) ipsec.Address {
	return ipsec.Address{Kind: ipsec.AddrIP, IP: netip.MustParseAddr(s)}
}

func dynRule(src, dst ipsec.Address, in, out ipsec.Action) ipsec.DynamicRule {
	return ipsec.DynamicRule{Src: src, Dst: dst, SrcMask: ipsec.DefaultMask(src), DstMask: ipsec.DefaultMask(dst),
		Protocol: ipsec.ProtoAny, Mirrored: true, ConnType: ipsec.ConnAll, InboundAction: in, OutboundAction: out,
		MMPolicy: "m", Auth: []ipsec.AuthMethod{{Kind: ipsec.AuthKerberos}}}
}

// The served SPD merges the static-derived and dynamic specific filters by
// rank; Stop and a restart drop the dynamic objects.
func TestDynamicMergeAndLifetime(t *testing.T) {
	e, db := newEngine(t, t.TempDir())
	assign(t, db, store.Local, "Server (Request Security)")
	require.NoError(t, e.Start(context.Background()))
	defer e.Stop()
	static, err := e.SPD()
	require.NoError(t, err)

	me := ipsec.Address{Kind: ipsec.AddrMe}
	require.NoError(t, e.AddMMPolicy(ipsec.MMPolicy{Name: "m", Offers: ipsec.DefaultMMOffers, Lifetime: 60}))
	require.ErrorIs(t, e.AddMMPolicy(ipsec.MMPolicy{Name: "M"}), ErrMMPolicyExists)
	require.NoError(t, e.AddRule(dynRule(me, ipAddr("10.0.0.1"), ipsec.ActionBlock, ipsec.ActionBlock)))
	require.ErrorIs(t, e.AddRule(dynRule(me, ipAddr("10.0.0.1"), ipsec.ActionPermit, ipsec.ActionPermit)), ErrTransportExists)
	require.ErrorIs(t, e.AddRule(dynRule(me, ipAddr("10.0.0.2"), ipsec.ActionNegotiate, ipsec.ActionPermit)), ErrNoDefaultQMPolicy)

	spd, err := e.SPD()
	require.NoError(t, err)
	require.Len(t, spd.QMSpecific, len(static.QMSpecific)+2)
	require.Equal(t, "Dynamic Rule 1", spd.QMSpecific[0].Name, "a /32 <-> /32 filter ranks first")
	require.True(t, slices.IsSortedFunc(spd.QMSpecific, func(a, b ipsec.QMFilter) int { return int(b.Weight) - int(a.Weight) }))
	_, ok := spd.MMPolicy("m")
	require.True(t, ok)
	require.ErrorIs(t, e.DeleteMMPolicy("m", false), ErrMMPolicyInUse)

	rules, err := e.Rules()
	require.NoError(t, err)
	require.Len(t, rules, 1)
	require.Equal(t, ipsec.RuleRef{Rule: 1}, rules[0].Ref)

	e.Stop()
	require.NoError(t, e.Start(context.Background()))
	rules, err = e.Rules()
	require.NoError(t, err)
	require.Empty(t, rules)
	spd, err = e.SPD()
	require.NoError(t, err)
	require.True(t, spd.Equal(static))
}

func TestDynamicDeleteAllKeepsStatic(t *testing.T) {
	e, db := newEngine(t, t.TempDir())
	assign(t, db, store.Local, "Server (Request Security)")
	require.NoError(t, e.Start(context.Background()))
	defer e.Stop()
	static, err := e.SPD()
	require.NoError(t, err)
	require.NoError(t, e.AddMMPolicy(ipsec.MMPolicy{Name: "m"}))
	require.NoError(t, e.AddQMPolicy(ipsec.QMPolicy{Name: "q"}))
	r := dynRule(ipsec.Address{Kind: ipsec.AddrAny}, ipsec.Address{Kind: ipsec.AddrAny}, ipsec.ActionNegotiate, ipsec.ActionNegotiate)
	r.QMPolicy = "Q"
	require.NoError(t, e.AddRule(r))
	require.ErrorIs(t, e.DeleteQMPolicy("", true), ErrQMPolicyInUse)
	require.NoError(t, e.DeleteAll())
	spd, err := e.SPD()
	require.NoError(t, err)
	require.True(t, spd.Equal(static))
	name := static.MMPolicies[0].Name
	require.ErrorIs(t, e.DeleteMMPolicy(name, false), ErrStaticMMPolicy)
	require.ErrorIs(t, e.SetMMPolicy(name, func(*ipsec.MMPolicy) {}), ErrStaticMMPolicy)
}

func TestMergeSpecific(t *testing.T) {
	f := func(name string, w uint32, a ipsec.Action) ipsec.QMFilter {
		return ipsec.QMFilter{Name: name, Weight: w, Direction: ipsec.Outbound, OutboundAction: a}
	}
	a := []ipsec.QMFilter{f("s1", 10, ipsec.ActionPermit), f("s2", 5, ipsec.ActionBlock)}
	b := []ipsec.QMFilter{f("d1", 10, ipsec.ActionPermit), f("d2", 10, ipsec.ActionBlock), f("d3", 1, ipsec.ActionBlock)}
	var names []string
	for _, x := range agent.MergeQMSpecific(a, b) {
		names = append(names, x.Name)
	}
	// b is not sorted by action among equal weights: a merge keeps each
	// list's order, only interleaving them.
	require.Equal(t, []string{"s1", "d1", "d2", "s2", "d3"}, names)
}
