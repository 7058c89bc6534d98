package agent

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func fixedClock() time.Time { return t0 }

// host is the fake HostInfo of most tests: two addresses.
var host = HostInfo{
	Addrs:       []netip.Addr{addr("10.0.0.1"), addr("10.0.0.2")},
	DNSServers:  []netip.Addr{addr("10.0.0.53"), addr("192.0.2.53")},
	WINSServers: []netip.Addr{addr("10.0.0.44")},
	DHCPServer:  addr("10.0.0.67"),
	Gateway:     addr("10.0.0.254"),
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

var (
	me      = ipsec.Address{Kind: ipsec.AddrMe}
	anyAddr = ipsec.Address{Kind: ipsec.AddrAny}
	dnsSrv  = ipsec.Address{Kind: ipsec.AddrDNS}
	winsSrv = ipsec.Address{Kind: ipsec.AddrWINS}
	dhcpSrv = ipsec.Address{Kind: ipsec.AddrDHCP}
	gateway = ipsec.Address{Kind: ipsec.AddrGateway}
)

func ip(s string) ipsec.Address { return ipsec.Address{Kind: ipsec.AddrIP, IP: addr(s)} }

func dnsName(name, resolved string) ipsec.Address {
	a := ipsec.Address{Kind: ipsec.AddrDNSName, Name: name}
	if resolved != "" {
		a.IP = addr(resolved)
	}
	return a
}

// fixture builds a store.State through the store's operations, with a
// fixed clock and GUIDs {00000000-0000-4000-8000-00000000000N}.
type fixture struct {
	t  testing.TB
	st *store.State
}

func newFixture(t testing.TB) fixture {
	st := store.Builtin(fixedClock)
	n := 0
	st.SetEnv(fixedClock, func() store.GUID {
		n++
		return store.GUID(fmt.Sprintf("{00000000-0000-4000-8000-%012X}", n))
	})
	return fixture{t, &st}
}

// filter returns a filter with the add filter defaults (mirrored) and mods.
func filter(src, dst ipsec.Address, mods ...func(*store.Filter)) store.Filter {
	f := store.NewFilter(src, dst)
	for _, m := range mods {
		m(&f)
	}
	return f
}

func notMirrored(f *store.Filter) { f.Mirrored = false }

func proto(p ipsec.Protocol, src, dst uint16) func(*store.Filter) {
	return func(f *store.Filter) { f.Protocol, f.SrcPort, f.DstPort = p, src, dst }
}

func masks(src, dst ipsec.Mask) func(*store.Filter) {
	return func(f *store.Filter) { f.SrcMask, f.DstMask = src, dst }
}

func (x fixture) list(name string, filters ...store.Filter) {
	x.t.Helper()
	_, err := x.st.AddFilterList(store.FilterList{Name: name})
	require.NoError(x.t, err)
	for _, f := range filters {
		require.NoError(x.t, x.st.AddFilter(name, f))
	}
}

func (x fixture) action(name string, a ipsec.Action, mods ...func(*store.FilterAction)) {
	x.t.Helper()
	fa := store.NewFilterAction(name)
	fa.Action = a
	for _, m := range mods {
		m(&fa)
	}
	_, err := x.st.AddFilterAction(fa)
	require.NoError(x.t, err)
}

// policy adds an assigned policy; mods may change its settings.
func (x fixture) policy(name string, mods ...func(*store.Policy)) {
	x.t.Helper()
	p := store.NewPolicy(name)
	p.Assigned = true
	for _, m := range mods {
		m(&p)
	}
	_, err := x.st.AddPolicy(p)
	require.NoError(x.t, err)
}

func noDefaultRule(p *store.Policy) { p.DefaultRule.Active = false }

func (x fixture) rule(policy, name, list, action string, mods ...func(*store.Rule)) {
	x.t.Helper()
	r := store.NewRule(name)
	for _, m := range mods {
		m(&r)
	}
	_, err := x.st.AddRule(policy, list, action, r)
	require.NoError(x.t, err)
}

func (x fixture) assign(policy string) {
	x.t.Helper()
	p, err := x.st.Policy(policy)
	require.NoError(x.t, err)
	p.Assigned = true
	require.NoError(x.t, x.st.PutPolicy(p))
}

func (x fixture) compile(h HostInfo) *SPD {
	x.t.Helper()
	spd, err := Compile(x.st, h)
	require.NoError(x.t, err)
	return spd
}

// qmRow renders every field of a quick mode filter but the policy GUID.
func qmRow(f ipsec.QMFilter) string {
	var b strings.Builder
	kind := "S"
	if f.Generic {
		kind = "G"
	}
	fmt.Fprintf(&b, "%s %s %v %v [%v->%v] %v/%v", f.Name, kind, f.Direction, f.Selector, f.SrcAddr, f.DstAddr, f.InboundAction, f.OutboundAction)
	for _, fl := range []struct {
		on   bool
		name string
	}{{f.Mirrored, "mirrored"}, {f.Mirror, "mirror"}, {f.InPass, "inpass"}, {f.Soft, "soft"}} {
		if fl.on {
			b.WriteString(" " + fl.name)
		}
	}
	if f.QMPolicy != "" {
		fmt.Fprintf(&b, " qm=%s", f.QMPolicy)
	}
	if f.Tunnel.IsValid() {
		fmt.Fprintf(&b, " tunnel=%v", f.Tunnel)
	}
	fmt.Fprintf(&b, " %v rule=%d w=%d", f.ConnType, f.Rule.Rule, f.Weight)
	return b.String()
}

// mmRow renders every field of a main mode filter but the policy GUID.
func mmRow(f ipsec.MMFilter) string {
	var b strings.Builder
	kind := "S"
	if f.Generic {
		kind = "G"
	}
	auth := make([]string, len(f.Auth))
	for i, a := range f.Auth {
		auth[i] = a.Kind.String()
	}
	fmt.Fprintf(&b, "%s %s %v %s -> %s [%v->%v] auth=%s mm=%s", f.Name, kind, f.Direction,
		pfx(f.Selector.Src), pfx(f.Selector.Dst), f.SrcAddr, f.DstAddr, strings.Join(auth, ","), f.MMPolicy)
	if f.RespondOnly {
		fmt.Fprintf(&b, " respond-only qm=%s", f.QMPolicy)
	}
	fmt.Fprintf(&b, " %v rule=%d w=%d", f.ConnType, f.Rule.Rule, f.Weight)
	return b.String()
}

func pfx(p netip.Prefix) string {
	if !p.IsValid() {
		return "?"
	}
	return p.String()
}

func qmRows(fs []ipsec.QMFilter) []string {
	rows := make([]string, len(fs))
	for i, f := range fs {
		rows[i] = qmRow(f)
	}
	return rows
}

func mmRows(fs []ipsec.MMFilter) []string {
	rows := make([]string, len(fs))
	for i, f := range fs {
		rows[i] = mmRow(f)
	}
	return rows
}
