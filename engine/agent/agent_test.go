package agent

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

// spec renders the fields of a specific filter that the order depends on.
func spec(f ipsec.QMFilter) string {
	return fmt.Sprintf("%s %v %v %v w=%d", f.Name, f.Direction, f.Selector, f.Action(), f.Weight)
}

func specs(fs []ipsec.QMFilter) []string {
	rows := make([]string, len(fs))
	for i, f := range fs {
		rows[i] = spec(f)
	}
	return rows
}

func TestBuiltinPolicies(t *testing.T) {
	kerberos := []ipsec.AuthMethod{{Kind: ipsec.AuthKerberos}}
	defaultResponse := ipsec.QMPolicy{Name: "Default Response", Offers: ipsec.DefaultQMOffers}
	secured := func(mm, qm, flags string) (qmG, qmS, mmG, mmS []string) {
		neg := "negotiate/negotiate mirrored"
		negM := "negotiate/negotiate mirrored mirror"
		qmG = []string{
			"Rule 1 (1) G outbound ?:any -> 0.0.0.0/0:any ANY [me->any] " + neg + flags + " qm=" + qm + " all rule=1 w=0",
			"Rule 1 (1) G inbound 0.0.0.0/0:any -> ?:any ANY [any->me] " + negM + flags + " qm=" + qm + " all rule=1 w=0",
			"Rule 2 (1) G outbound ?:any -> 0.0.0.0/0:any ICMP [me->any] permit/permit mirrored all rule=2 w=0",
			"Rule 2 (1) G inbound 0.0.0.0/0:any -> ?:any ICMP [any->me] permit/permit mirrored mirror all rule=2 w=0",
		}
		// ICMP (a named protocol) is more specific than ANY.
		qmS = []string{
			"Rule 2 (1) S outbound 10.0.0.1/32:any -> 0.0.0.0/0:any ICMP [me->any] permit/permit mirrored all rule=2 w=8320",
			"Rule 2 (1) S outbound 10.0.0.2/32:any -> 0.0.0.0/0:any ICMP [me->any] permit/permit mirrored all rule=2 w=8320",
			"Rule 2 (1) S inbound 0.0.0.0/0:any -> 10.0.0.1/32:any ICMP [any->me] permit/permit mirrored mirror all rule=2 w=8320",
			"Rule 2 (1) S inbound 0.0.0.0/0:any -> 10.0.0.2/32:any ICMP [any->me] permit/permit mirrored mirror all rule=2 w=8320",
			"Rule 1 (1) S outbound 10.0.0.1/32:any -> 0.0.0.0/0:any ANY [me->any] " + neg + flags + " qm=" + qm + " all rule=1 w=8192",
			"Rule 1 (1) S outbound 10.0.0.2/32:any -> 0.0.0.0/0:any ANY [me->any] " + neg + flags + " qm=" + qm + " all rule=1 w=8192",
			"Rule 1 (1) S inbound 0.0.0.0/0:any -> 10.0.0.1/32:any ANY [any->me] " + negM + flags + " qm=" + qm + " all rule=1 w=8192",
			"Rule 1 (1) S inbound 0.0.0.0/0:any -> 10.0.0.2/32:any ANY [any->me] " + negM + flags + " qm=" + qm + " all rule=1 w=8192",
		}
		mmG = []string{
			"Rule 1 (1) G outbound ? -> 0.0.0.0/0 [me->any] auth=kerberos mm=" + mm + " all rule=1 w=0",
			"Rule 1 (1) G inbound 0.0.0.0/0 -> ? [any->me] auth=kerberos mm=" + mm + " all rule=1 w=0",
		}
		mmS = []string{
			"Rule 1 (1) S outbound 10.0.0.1/32 -> 0.0.0.0/0 [me->any] auth=kerberos mm=" + mm + " all rule=1 w=8192",
			"Rule 1 (1) S outbound 10.0.0.2/32 -> 0.0.0.0/0 [me->any] auth=kerberos mm=" + mm + " all rule=1 w=8192",
			"Rule 1 (1) S inbound 0.0.0.0/0 -> 10.0.0.1/32 [any->me] auth=kerberos mm=" + mm + " all rule=1 w=8192",
			"Rule 1 (1) S inbound 0.0.0.0/0 -> 10.0.0.2/32 [any->me] auth=kerberos mm=" + mm + " all rule=1 w=8192",
		}
		return
	}
	respond := func(mm string) (g, s []string) {
		g = []string{
			"Default Response G outbound ? -> 0.0.0.0/0 [me->any] auth=kerberos mm=" + mm + " respond-only qm=Default Response all rule=0 w=0",
			"Default Response G inbound 0.0.0.0/0 -> ? [any->me] auth=kerberos mm=" + mm + " respond-only qm=Default Response all rule=0 w=0",
		}
		s = []string{
			"Default Response S outbound 10.0.0.1/32 -> 0.0.0.0/0 [me->any] auth=kerberos mm=" + mm + " respond-only qm=Default Response all rule=0 w=8192",
			"Default Response S outbound 10.0.0.2/32 -> 0.0.0.0/0 [me->any] auth=kerberos mm=" + mm + " respond-only qm=Default Response all rule=0 w=8192",
			"Default Response S inbound 0.0.0.0/0 -> 10.0.0.1/32 [any->me] auth=kerberos mm=" + mm + " respond-only qm=Default Response all rule=0 w=8192",
			"Default Response S inbound 0.0.0.0/0 -> 10.0.0.2/32 [any->me] auth=kerberos mm=" + mm + " respond-only qm=Default Response all rule=0 w=8192",
		}
		return
	}
	mmPolicy := func(name string) []ipsec.MMPolicy {
		return []ipsec.MMPolicy{{Name: name, Offers: ipsec.DefaultMMOffers, Lifetime: 28800}}
	}
	requestOffers := append(slices.Clone(ipsec.DefaultQMOffers), ipsec.QMOffer{AH: ipsec.HashSHA1}, ipsec.QMOffer{AH: ipsec.HashMD5})

	type want struct {
		qmG, qmS, mmG, mmS []string
		mmPols             []ipsec.MMPolicy
		qmPols             []ipsec.QMPolicy
	}
	server := func() want {
		var w want
		w.qmG, w.qmS, w.mmG, w.mmS = secured(store.PolicyServer, store.FilterActionRequestSecurity, " inpass soft")
		g, s := respond(store.PolicyServer)
		w.mmG, w.mmS = append(w.mmG, g...), append(w.mmS, s...)
		w.mmPols = mmPolicy(store.PolicyServer)
		w.qmPols = []ipsec.QMPolicy{{Name: store.FilterActionRequestSecurity, Offers: requestOffers, Soft: true}, defaultResponse}
		return w
	}
	secure := func() want {
		var w want
		w.qmG, w.qmS, w.mmG, w.mmS = secured(store.PolicySecureServer, store.FilterActionRequireSecurity, " inpass")
		g, s := respond(store.PolicySecureServer)
		w.mmG, w.mmS = append(w.mmG, g...), append(w.mmS, s...)
		w.mmPols = mmPolicy(store.PolicySecureServer)
		w.qmPols = []ipsec.QMPolicy{{Name: store.FilterActionRequireSecurity, Offers: ipsec.DefaultQMOffers}, defaultResponse}
		return w
	}
	client := func() want {
		var w want
		w.mmG, w.mmS = respond(store.PolicyClient)
		w.mmPols = mmPolicy(store.PolicyClient)
		w.qmPols = []ipsec.QMPolicy{defaultResponse}
		return w
	}
	for _, tc := range []struct {
		policy string
		guid   store.GUID
		want   want
	}{
		{store.PolicyServer, store.GUIDPolicyServer, server()},
		{store.PolicyClient, store.GUIDPolicyClient, client()},
		{store.PolicySecureServer, store.GUIDPolicySecureServer, secure()},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			x := newFixture(t)
			x.assign(tc.policy)
			spd := x.compile(host)
			require.Equal(t, tc.guid, spd.PolicyGUID)
			require.Equal(t, tc.policy, spd.PolicyName)
			require.Equal(t, tc.want.qmG, nilIfEmpty(qmRows(spd.QMFilters)), "generic QM filters")
			require.Equal(t, tc.want.qmS, nilIfEmpty(qmRows(spd.QMSpecific)), "specific QM filters")
			require.Equal(t, tc.want.mmG, mmRows(spd.MMFilters), "generic MM filters")
			require.Equal(t, tc.want.mmS, mmRows(spd.MMSpecific), "specific MM filters")
			require.Equal(t, tc.want.mmPols, spd.MMPolicies)
			require.Equal(t, tc.want.qmPols, spd.QMPolicies)
			for _, f := range slices.Concat(spd.QMFilters, spd.QMSpecific) {
				require.Equal(t, string(tc.guid), f.Rule.Policy)
			}
			for _, f := range slices.Concat(spd.MMFilters, spd.MMSpecific) {
				require.Equal(t, string(tc.guid), f.Rule.Policy)
				require.Equal(t, kerberos, f.Auth)
			}
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestDirections covers mirrored and non-mirrored transport filters and the
// direction rule of the package documentation.
func TestDirections(t *testing.T) {
	x := newFixture(t)
	x.list("L",
		filter(me, ip("192.0.2.10"), notMirrored, proto(ipsec.ProtoTCP, 0, 80)), // 1: from me: outbound
		filter(ip("203.0.113.45"), me, notMirrored),                             // 2: to me: inbound
		filter(ip("10.0.0.1"), ip("192.0.2.10"), notMirrored),                   // 3: from a host address: outbound
		filter(ip("192.0.2.0"), ip("198.51.100.0"), notMirrored, masks(24, 24)), // 4: routed: both
		filter(anyAddr, anyAddr),                                                // 5: mirrored onto itself: no mirror image
		filter(ip("10.0.0.0"), anyAddr, notMirrored, masks(8, 0)),               // 6: both sides may be local: both
		filter(ip("192.0.2.10"), me, proto(ipsec.ProtoTCP, 443, 0)),             // 7: mirrored, ports swap
		filter(ip("192.0.2.77"), anyAddr, notMirrored, masks(24, 0)),            // 8: generic keeps the host bits
	)
	x.action("Block", ipsec.ActionBlock)
	x.policy("P", noDefaultRule)
	x.rule("P", "R", "L", "Block")
	spd := x.compile(host)

	require.Equal(t, []string{
		"R (1) G outbound ?:any -> 192.0.2.10/32:80 TCP [me->192.0.2.10] block/block all rule=1 w=0",
		"R (2) G inbound 203.0.113.45/32:any -> ?:any ANY [203.0.113.45->me] block/block all rule=1 w=0",
		"R (3) G outbound 10.0.0.1/32:any -> 192.0.2.10/32:any ANY [10.0.0.1->192.0.2.10] block/block all rule=1 w=0",
		"R (4) G outbound 192.0.2.0/24:any -> 198.51.100.0/24:any ANY [192.0.2.0->198.51.100.0] block/block all rule=1 w=0",
		"R (4) G inbound 192.0.2.0/24:any -> 198.51.100.0/24:any ANY [192.0.2.0->198.51.100.0] block/block all rule=1 w=0",
		"R (5) G outbound 0.0.0.0/0:any -> 0.0.0.0/0:any ANY [any->any] block/block mirrored all rule=1 w=0",
		"R (5) G inbound 0.0.0.0/0:any -> 0.0.0.0/0:any ANY [any->any] block/block mirrored all rule=1 w=0",
		"R (6) G outbound 10.0.0.0/8:any -> 0.0.0.0/0:any ANY [10.0.0.0->any] block/block all rule=1 w=0",
		"R (6) G inbound 10.0.0.0/8:any -> 0.0.0.0/0:any ANY [10.0.0.0->any] block/block all rule=1 w=0",
		"R (7) G inbound 192.0.2.10/32:443 -> ?:any TCP [192.0.2.10->me] block/block mirrored all rule=1 w=0",
		"R (7) G outbound ?:any -> 192.0.2.10/32:443 TCP [me->192.0.2.10] block/block mirrored mirror all rule=1 w=0",
		"R (8) G inbound 192.0.2.77/24:any -> 0.0.0.0/0:any ANY [192.0.2.77->any] block/block all rule=1 w=0",
	}, qmRows(spd.QMFilters))

	require.Equal(t, []string{
		"R (1) outbound 10.0.0.1/32:any -> 192.0.2.10/32:80 TCP block w=16529",
		"R (1) outbound 10.0.0.2/32:any -> 192.0.2.10/32:80 TCP block w=16529",
		"R (7) inbound 192.0.2.10/32:443 -> 10.0.0.1/32:any TCP block w=16529",
		"R (7) inbound 192.0.2.10/32:443 -> 10.0.0.2/32:any TCP block w=16529",
		"R (7) outbound 10.0.0.1/32:any -> 192.0.2.10/32:443 TCP block w=16529",
		"R (7) outbound 10.0.0.2/32:any -> 192.0.2.10/32:443 TCP block w=16529",
		"R (2) inbound 203.0.113.45/32:any -> 10.0.0.1/32:any ANY block w=16384",
		"R (2) inbound 203.0.113.45/32:any -> 10.0.0.2/32:any ANY block w=16384",
		"R (3) outbound 10.0.0.1/32:any -> 192.0.2.10/32:any ANY block w=16384",
		"R (4) outbound 192.0.2.0/24:any -> 198.51.100.0/24:any ANY block w=12288",
		"R (4) inbound 192.0.2.0/24:any -> 198.51.100.0/24:any ANY block w=12288",
		"R (8) inbound 192.0.2.0/24:any -> 0.0.0.0/0:any ANY block w=6144",
		"R (6) outbound 10.0.0.0/8:any -> 0.0.0.0/0:any ANY block w=2048",
		"R (6) inbound 10.0.0.0/8:any -> 0.0.0.0/0:any ANY block w=2048",
		"R (5) outbound 0.0.0.0/0:any -> 0.0.0.0/0:any ANY block w=0",
		"R (5) inbound 0.0.0.0/0:any -> 0.0.0.0/0:any ANY block w=0",
	}, specs(spd.QMSpecific))

	// Block and permit need no negotiation: no main mode, no policies.
	require.Empty(t, spd.MMFilters)
	require.Empty(t, spd.MMSpecific)
	require.Empty(t, spd.MMPolicies)
	require.Empty(t, spd.QMPolicies)
}

func TestServerTypes(t *testing.T) {
	build := func(t *testing.T) fixture {
		x := newFixture(t)
		x.list("S",
			filter(me, dnsSrv, proto(ipsec.ProtoUDP, 0, 53)),
			filter(winsSrv, me, notMirrored),
			filter(me, dhcpSrv, notMirrored, proto(ipsec.ProtoUDP, 68, 67)),
			filter(gateway, me, proto(ipsec.ProtoICMP, 0, 0)),
		)
		// Microsoft's help pairs a server type with 0.0.0.0 and the grammar
		// accepts it as me; the store's own check wants me, so add it by hand.
		l := &x.st.FilterLists[len(x.st.FilterLists)-1]
		l.Filters = append(l.Filters, filter(dhcpSrv, ip("0.0.0.0"), notMirrored, masks(32, 32), proto(ipsec.ProtoUDP, 67, 68)))
		x.policy("P", noDefaultRule)
		x.rule("P", "Servers", "S", store.FilterActionPermit)
		return x
	}

	t.Run("expanded", func(t *testing.T) {
		spd := build(t).compile(host)
		require.Equal(t, []string{
			"Servers (1) G outbound ?:any -> ?:53 UDP [me->dns] permit/permit mirrored all rule=1 w=0",
			"Servers (1) G inbound ?:53 -> ?:any UDP [dns->me] permit/permit mirrored mirror all rule=1 w=0",
			"Servers (2) G inbound ?:any -> ?:any ANY [wins->me] permit/permit all rule=1 w=0",
			"Servers (3) G outbound ?:68 -> ?:67 UDP [me->dhcp] permit/permit all rule=1 w=0",
			"Servers (4) G inbound ?:any -> ?:any ICMP [gateway->me] permit/permit mirrored all rule=1 w=0",
			"Servers (4) G outbound ?:any -> ?:any ICMP [me->gateway] permit/permit mirrored mirror all rule=1 w=0",
			"Servers (5) G inbound ?:67 -> ?:68 UDP [dhcp->0.0.0.0] permit/permit all rule=1 w=0",
		}, qmRows(spd.QMFilters))
		require.Equal(t, []string{
			"Servers (3) outbound 10.0.0.1/32:68 -> 10.0.0.67/32:67 UDP permit w=16546",
			"Servers (3) outbound 10.0.0.2/32:68 -> 10.0.0.67/32:67 UDP permit w=16546",
			"Servers (5) inbound 10.0.0.67/32:67 -> 10.0.0.1/32:68 UDP permit w=16546",
			"Servers (5) inbound 10.0.0.67/32:67 -> 10.0.0.2/32:68 UDP permit w=16546",
			"Servers (1) outbound 10.0.0.1/32:any -> 10.0.0.53/32:53 UDP permit w=16529",
			"Servers (1) outbound 10.0.0.1/32:any -> 192.0.2.53/32:53 UDP permit w=16529",
			"Servers (1) outbound 10.0.0.2/32:any -> 10.0.0.53/32:53 UDP permit w=16529",
			"Servers (1) outbound 10.0.0.2/32:any -> 192.0.2.53/32:53 UDP permit w=16529",
			"Servers (1) inbound 10.0.0.53/32:53 -> 10.0.0.1/32:any UDP permit w=16529",
			"Servers (1) inbound 10.0.0.53/32:53 -> 10.0.0.2/32:any UDP permit w=16529",
			"Servers (1) inbound 192.0.2.53/32:53 -> 10.0.0.1/32:any UDP permit w=16529",
			"Servers (1) inbound 192.0.2.53/32:53 -> 10.0.0.2/32:any UDP permit w=16529",
			"Servers (4) inbound 10.0.0.254/32:any -> 10.0.0.1/32:any ICMP permit w=16512",
			"Servers (4) inbound 10.0.0.254/32:any -> 10.0.0.2/32:any ICMP permit w=16512",
			"Servers (4) outbound 10.0.0.1/32:any -> 10.0.0.254/32:any ICMP permit w=16512",
			"Servers (4) outbound 10.0.0.2/32:any -> 10.0.0.254/32:any ICMP permit w=16512",
			"Servers (2) inbound 10.0.0.44/32:any -> 10.0.0.1/32:any ANY permit w=16384",
			"Servers (2) inbound 10.0.0.44/32:any -> 10.0.0.2/32:any ANY permit w=16384",
		}, specs(spd.QMSpecific))
	})

	t.Run("host without servers", func(t *testing.T) {
		// One address given twice and an IPv6 one: both ignored. No
		// server of any type: the generic filters stay, nothing expands.
		h := HostInfo{Addrs: []netip.Addr{addr("10.0.0.1"), addr("10.0.0.1"), addr("2001:db8::1")}}
		spd := build(t).compile(h)
		require.Len(t, spd.QMFilters, 7)
		require.Empty(t, spd.QMSpecific)
	})

	t.Run("host with no address", func(t *testing.T) {
		spd := build(t).compile(HostInfo{DNSServers: host.DNSServers})
		require.Len(t, spd.QMFilters, 7)
		require.Empty(t, spd.QMSpecific)
	})
}

func TestDNSName(t *testing.T) {
	t.Run("resolved", func(t *testing.T) {
		x := newFixture(t)
		wsus := dnsName("wsus.example.test", "192.0.2.20")
		// A mask beside a DNS name is ignored: a name is one host.
		x.list("W", filter(me, wsus, masks(32, 24), proto(ipsec.ProtoTCP, 0, 443)))
		x.action("Secure WSUS", ipsec.ActionNegotiate)
		x.policy("P", noDefaultRule)
		x.rule("P", "WSUS", "W", "Secure WSUS")
		spd := x.compile(host)
		require.Equal(t, []string{
			"WSUS (1) G outbound ?:any -> 192.0.2.20/32:443 TCP [me->wsus.example.test] negotiate/negotiate mirrored qm=Secure WSUS all rule=1 w=0",
			"WSUS (1) G inbound 192.0.2.20/32:443 -> ?:any TCP [wsus.example.test->me] negotiate/negotiate mirrored mirror qm=Secure WSUS all rule=1 w=0",
		}, qmRows(spd.QMFilters))
		require.Equal(t, []string{
			"WSUS (1) outbound 10.0.0.1/32:any -> 192.0.2.20/32:443 TCP negotiate w=16529",
			"WSUS (1) outbound 10.0.0.2/32:any -> 192.0.2.20/32:443 TCP negotiate w=16529",
			"WSUS (1) inbound 192.0.2.20/32:443 -> 10.0.0.1/32:any TCP negotiate w=16529",
			"WSUS (1) inbound 192.0.2.20/32:443 -> 10.0.0.2/32:any TCP negotiate w=16529",
		}, specs(spd.QMSpecific))
		require.Equal(t, []string{
			"WSUS (1) G outbound ? -> 192.0.2.20/32 [me->wsus.example.test] auth=kerberos mm=P all rule=1 w=0",
			"WSUS (1) G inbound 192.0.2.20/32 -> ? [wsus.example.test->me] auth=kerberos mm=P all rule=1 w=0",
		}, mmRows(spd.MMFilters))
		require.Len(t, spd.MMSpecific, 4)
		require.Equal(t, "wsus.example.test", spd.QMFilters[0].DstAddr.Name)
	})

	t.Run("unresolved", func(t *testing.T) {
		x := newFixture(t)
		x.list("W", filter(me, anyAddr), filter(me, dnsName("gone.example.test", "")))
		x.policy("P")
		x.rule("P", "WSUS", "W", store.FilterActionPermit)
		_, err := Compile(x.st, host)
		require.ErrorIs(t, err, ErrUnresolved)
		var re *RuleError
		require.ErrorAs(t, err, &re)
		require.Equal(t, RuleError{Policy: "P", Rule: "WSUS", Filter: 2, Err: re.Err}, *re)
		require.EqualError(t, err, `agent: policy "P", rule "WSUS", filter 2: a DNS name has no resolved address: "gone.example.test"`)
	})
}

func TestTunnel(t *testing.T) {
	gwA := HostInfo{Addrs: []netip.Addr{addr("198.51.100.1")}}
	build := func(t *testing.T, mirrored bool, endpointB ipsec.Address) fixture {
		x := newFixture(t)
		mir := func(f *store.Filter) { f.Mirrored = mirrored }
		x.list("Site A to Site B", filter(ip("198.51.100.0"), ip("203.0.113.0"), masks(24, 24), mir))
		x.list("Site B to Site A", filter(ip("203.0.113.0"), ip("198.51.100.0"), masks(24, 24), notMirrored))
		x.action("Site-to-site ESP", ipsec.ActionNegotiate, func(a *store.FilterAction) { a.QMPFS = true })
		x.policy("Tunnel", noDefaultRule)
		psk := func(r *store.Rule) { r.Auth = []ipsec.AuthMethod{{Kind: ipsec.AuthPSK, PSK: "k"}} }
		x.rule("Tunnel", "A to B", "Site A to Site B", "Site-to-site ESP", psk, func(r *store.Rule) { r.Tunnel = endpointB })
		x.rule("Tunnel", "B to A", "Site B to Site A", "Site-to-site ESP", psk, func(r *store.Rule) { r.Tunnel = ip("198.51.100.1") })
		return x
	}

	t.Run("pair of rules", func(t *testing.T) {
		spd := build(t, false, ip("203.0.113.1")).compile(gwA)
		require.Equal(t, []string{
			"A to B (1) G outbound 198.51.100.0/24:any -> 203.0.113.0/24:any ANY [198.51.100.0->203.0.113.0] negotiate/negotiate qm=Site-to-site ESP tunnel=203.0.113.1 all rule=1 w=0",
			"B to A (1) G inbound 203.0.113.0/24:any -> 198.51.100.0/24:any ANY [203.0.113.0->198.51.100.0] negotiate/negotiate qm=Site-to-site ESP tunnel=198.51.100.1 all rule=2 w=0",
		}, qmRows(spd.QMFilters))
		require.Equal(t, []string{
			"A to B (1) S outbound 198.51.100.0/24:any -> 203.0.113.0/24:any ANY [198.51.100.0->203.0.113.0] negotiate/negotiate qm=Site-to-site ESP tunnel=203.0.113.1 all rule=1 w=12288",
			"B to A (1) S inbound 203.0.113.0/24:any -> 198.51.100.0/24:any ANY [203.0.113.0->198.51.100.0] negotiate/negotiate qm=Site-to-site ESP tunnel=198.51.100.1 all rule=2 w=12288",
		}, qmRows(spd.QMSpecific))
		require.Equal(t, []string{
			"A to B (1) G outbound ? -> 203.0.113.1/32 [me->203.0.113.1] auth=psk mm=Tunnel all rule=1 w=0",
			"A to B (1) G inbound 203.0.113.1/32 -> ? [203.0.113.1->me] auth=psk mm=Tunnel all rule=1 w=0",
			"B to A (1) G outbound 198.51.100.1/32 -> 0.0.0.0/0 [198.51.100.1->any] auth=psk mm=Tunnel all rule=2 w=0",
			"B to A (1) G inbound 0.0.0.0/0 -> 198.51.100.1/32 [any->198.51.100.1] auth=psk mm=Tunnel all rule=2 w=0",
		}, mmRows(spd.MMFilters))
		require.Equal(t, []string{
			"A to B (1) S outbound 198.51.100.1/32 -> 203.0.113.1/32 [me->203.0.113.1] auth=psk mm=Tunnel all rule=1 w=16384",
			"A to B (1) S inbound 203.0.113.1/32 -> 198.51.100.1/32 [203.0.113.1->me] auth=psk mm=Tunnel all rule=1 w=16384",
			"B to A (1) S outbound 198.51.100.1/32 -> 0.0.0.0/0 [198.51.100.1->any] auth=psk mm=Tunnel all rule=2 w=8192",
			"B to A (1) S inbound 0.0.0.0/0 -> 198.51.100.1/32 [any->198.51.100.1] auth=psk mm=Tunnel all rule=2 w=8192",
		}, mmRows(spd.MMSpecific))
		require.Equal(t, []ipsec.QMPolicy{{Name: "Site-to-site ESP", PFS: true, Offers: ipsec.DefaultQMOffers}}, spd.QMPolicies)
	})

	t.Run("endpoint by DNS name", func(t *testing.T) {
		spd := build(t, false, dnsName("gw-b.example.test", "203.0.113.1")).compile(gwA)
		require.Equal(t, addr("203.0.113.1"), spd.QMFilters[0].Tunnel)
		require.Equal(t, "gw-b.example.test", spd.MMFilters[0].DstAddr.Name)
	})

	t.Run("mirrored filter", func(t *testing.T) {
		_, err := Compile(build(t, true, ip("203.0.113.1")).st, gwA)
		require.ErrorIs(t, err, ErrMirroredTunnel)
		var re *RuleError
		require.ErrorAs(t, err, &re)
		require.Equal(t, "A to B", re.Rule)
		require.Equal(t, 1, re.Filter)
		require.EqualError(t, err, `agent: policy "Tunnel", rule "A to B", filter 1: `+ErrMirroredTunnel.Error())
	})

	t.Run("unresolved endpoint", func(t *testing.T) {
		_, err := Compile(build(t, false, dnsName("gw-b.example.test", "")).st, gwA)
		require.ErrorIs(t, err, ErrUnresolved)
		require.EqualError(t, err, `agent: policy "Tunnel", rule "A to B": tunnel endpoint: a DNS name has no resolved address: "gw-b.example.test"`)
	})
}

func TestInactiveRules(t *testing.T) {
	x := newFixture(t)
	x.list("L1", filter(me, ip("192.0.2.1")))
	x.list("L2", filter(me, ip("192.0.2.2")))
	x.list("L3", filter(me, ip("192.0.2.3")))
	x.action("Block", ipsec.ActionBlock)
	x.policy("P", noDefaultRule)
	inactive := func(r *store.Rule) { r.Active = false }
	x.rule("P", "off", "L1", "Block", inactive)
	x.rule("P", "on", "L2", store.FilterActionPermit)
	x.rule("P", "negotiate off", "L3", store.FilterActionRequireSecurity, inactive)
	spd := x.compile(host)
	require.Equal(t, []string{
		"on (1) G outbound ?:any -> 192.0.2.2/32:any ANY [me->192.0.2.2] permit/permit mirrored all rule=2 w=0",
		"on (1) G inbound 192.0.2.2/32:any -> ?:any ANY [192.0.2.2->me] permit/permit mirrored mirror all rule=2 w=0",
	}, qmRows(spd.QMFilters))
	require.Len(t, spd.QMSpecific, 4)
	// Neither the inactive negotiate rule nor the inactive default
	// response rule leaves a policy or a main mode filter.
	require.Empty(t, spd.QMPolicies)
	require.Empty(t, spd.MMPolicies)
	require.Empty(t, spd.MMFilters)
	require.Empty(t, spd.MMSpecific)
}

// TestTieOrder: equally specific filters with different actions go block,
// negotiate, permit; a more specific filter goes first whatever its action.
func TestTieOrder(t *testing.T) {
	x := newFixture(t)
	x.list("Peer", filter(me, ip("192.0.2.10"), notMirrored))
	x.list("Peer web", filter(me, ip("192.0.2.10"), notMirrored, proto(ipsec.ProtoTCP, 0, 80)))
	x.action("Block", ipsec.ActionBlock)
	x.policy("P", noDefaultRule)
	x.rule("P", "p", "Peer", store.FilterActionPermit)
	x.rule("P", "n", "Peer", store.FilterActionRequireSecurity)
	x.rule("P", "b", "Peer", "Block")
	x.rule("P", "w", "Peer web", store.FilterActionPermit)
	spd := x.compile(host)
	require.Equal(t, []string{
		"w (1) outbound 10.0.0.1/32:any -> 192.0.2.10/32:80 TCP permit w=16529",
		"w (1) outbound 10.0.0.2/32:any -> 192.0.2.10/32:80 TCP permit w=16529",
		"b (1) outbound 10.0.0.1/32:any -> 192.0.2.10/32:any ANY block w=16384",
		"b (1) outbound 10.0.0.2/32:any -> 192.0.2.10/32:any ANY block w=16384",
		"n (1) outbound 10.0.0.1/32:any -> 192.0.2.10/32:any ANY negotiate w=16384",
		"n (1) outbound 10.0.0.2/32:any -> 192.0.2.10/32:any ANY negotiate w=16384",
		"p (1) outbound 10.0.0.1/32:any -> 192.0.2.10/32:any ANY permit w=16384",
		"p (1) outbound 10.0.0.2/32:any -> 192.0.2.10/32:any ANY permit w=16384",
	}, specs(spd.QMSpecific))
	// The generic filters keep the policy order.
	var names []string
	for _, f := range spd.QMFilters {
		names = append(names, f.Name)
	}
	require.Equal(t, []string{"p (1)", "n (1)", "b (1)", "w (1)"}, names)
}

// TestSettingsCarried: filter action flags and offers, policy IKE settings,
// connection types and authentication methods reach the SPD.
func TestSettingsCarried(t *testing.T) {
	x := newFixture(t)
	offers := []ipsec.QMOffer{{AH: ipsec.HashSHA1, ESP: true, ESPCipher: ipsec.CipherAES128, ESPAuth: ipsec.HashSHA1, LifeKB: 50000, LifeSec: 900}}
	x.list("L", filter(me, ip("192.0.2.10")))
	x.action("Custom", ipsec.ActionNegotiate, func(a *store.FilterAction) {
		a.InPass, a.Soft, a.QMPFS, a.Offers = true, false, true, offers
	})
	// A filter action called like the default response's quick mode policy.
	x.action("default response", ipsec.ActionNegotiate, func(a *store.FilterAction) { a.Soft = true })
	mmOffers := []ipsec.MMOffer{{Cipher: ipsec.Cipher3DES, Hash: ipsec.HashSHA1, Group: ipsec.DHGroup14}}
	rootCA := []ipsec.AuthMethod{{Kind: ipsec.AuthRootCA, CA: "CN=Root", CertMap: true}}
	x.policy("P", func(p *store.Policy) {
		p.MMLifetime, p.QMPerMM, p.MMPFS, p.MMOffers = 30, 5, true, mmOffers
		p.DefaultRule.Auth, p.DefaultRule.QMPFS = rootCA, true
	})
	auth := []ipsec.AuthMethod{{Kind: ipsec.AuthPSK, PSK: "k"}, {Kind: ipsec.AuthKerberos}}
	x.rule("P", "lan", "L", "Custom", func(r *store.Rule) { r.ConnType, r.Auth = ipsec.ConnLAN, auth })
	x.rule("P", "dialup", "L", "default response", func(r *store.Rule) { r.ConnType = ipsec.ConnDialup })
	spd := x.compile(host)

	// mmpfs forces qmpermm to 1 (store normalisation).
	require.Equal(t, []ipsec.MMPolicy{{Name: "P", Offers: mmOffers, Lifetime: 1800, QMPerMM: 1, MasterPFS: true}}, spd.MMPolicies)
	require.Equal(t, []ipsec.QMPolicy{
		{Name: "Custom", PFS: true, Offers: offers},
		{Name: "default response", Offers: ipsec.DefaultQMOffers, Soft: true},
		{Name: "Default Response (default rule)", PFS: true, Offers: ipsec.DefaultQMOffers},
	}, spd.QMPolicies)

	for _, f := range spd.QMSpecific {
		switch f.Rule.Rule {
		case 1:
			require.True(t, f.InPass && !f.Soft && f.ConnType == ipsec.ConnLAN && f.QMPolicy == "Custom", qmRow(f))
		case 2:
			require.True(t, !f.InPass && f.Soft && f.ConnType == ipsec.ConnDialup && f.QMPolicy == "default response", qmRow(f))
		default:
			t.Fatal(qmRow(f))
		}
	}
	require.Equal(t, []string{
		"lan (1) G outbound ? -> 192.0.2.10/32 [me->192.0.2.10] auth=psk,kerberos mm=P lan rule=1 w=0",
		"lan (1) G inbound 192.0.2.10/32 -> ? [192.0.2.10->me] auth=psk,kerberos mm=P lan rule=1 w=0",
		"dialup (1) G outbound ? -> 192.0.2.10/32 [me->192.0.2.10] auth=kerberos mm=P dialup rule=2 w=0",
		"dialup (1) G inbound 192.0.2.10/32 -> ? [192.0.2.10->me] auth=kerberos mm=P dialup rule=2 w=0",
		"Default Response G outbound ? -> 0.0.0.0/0 [me->any] auth=rootca mm=P respond-only qm=Default Response (default rule) all rule=0 w=0",
		"Default Response G inbound 0.0.0.0/0 -> ? [any->me] auth=rootca mm=P respond-only qm=Default Response (default rule) all rule=0 w=0",
	}, mmRows(spd.MMFilters))
	require.Equal(t, auth, spd.MMFilters[0].Auth)
	require.Equal(t, rootCA, spd.MMFilters[5].Auth)
	// Equal weights: main mode filters keep the rule order, the default
	// response rule's come last.
	var order []int
	for _, f := range spd.MMSpecific {
		order = append(order, f.Rule.Rule)
	}
	require.Equal(t, []int{1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0}, order)
}

func TestRecompileEqual(t *testing.T) {
	x := newFixture(t)
	x.list("L",
		filter(me, dnsSrv, proto(ipsec.ProtoUDP, 0, 53)),
		filter(me, dnsName("wsus.example.test", "192.0.2.20"), proto(ipsec.ProtoTCP, 0, 443)),
		filter(ip("192.0.2.0"), me, masks(24, 32)),
	)
	x.policy("P")
	x.rule("P", "R", "L", store.FilterActionRequestSecurity)
	x.rule("P", "ICMP", store.FilterListAllICMP, store.FilterActionPermit)

	a := x.compile(host)
	b := x.compile(host)
	require.True(t, a.Equal(b))
	require.True(t, reflect.DeepEqual(a, b))
	clone := x.st.Clone()
	c, err := Compile(&clone, host)
	require.NoError(t, err)
	require.True(t, a.Equal(c))
	require.NotEmpty(t, a.QMSpecific)
	require.NotEmpty(t, a.MMSpecific)

	// The SPD shares no memory with the State.
	for i := range x.st.FilterActions {
		for j := range x.st.FilterActions[i].Offers {
			x.st.FilterActions[i].Offers[j].LifeSec = 1
		}
	}
	for i := range x.st.Policies {
		x.st.Policies[i].MMOffers[0].Group = ipsec.DHGroup20
		x.st.Policies[i].DefaultRule.Auth[0].Kind = ipsec.AuthPSK
		x.st.Policies[i].DefaultRule.QMOffers[0].LifeKB = 1
	}
	require.True(t, a.Equal(c))

	// Any change shows.
	other := host
	other.DNSServers = []netip.Addr{addr("10.0.0.53")}
	d, err := Compile(&clone, other)
	require.NoError(t, err)
	require.False(t, a.Equal(d))
	for i := range clone.FilterLists {
		if clone.FilterLists[i].Name == "L" {
			clone.FilterLists[i].Filters[0].DstPort = 5353
		}
	}
	e, err := Compile(&clone, host)
	require.NoError(t, err)
	require.False(t, a.Equal(e))
	require.False(t, a.Equal(nil))
	require.False(t, (*SPD)(nil).Equal(a))
}

func TestNoAssignedPolicy(t *testing.T) {
	x := newFixture(t)
	spd := x.compile(host)
	require.Equal(t, &SPD{}, spd)
	require.True(t, spd.Equal(nil))
	require.True(t, (*SPD)(nil).Equal(spd))
	empty, err := Compile(nil, host)
	require.NoError(t, err)
	require.True(t, empty.Equal(spd))
	_, ok := spd.QMPolicy("Default Response")
	require.False(t, ok)

	// Assigned, then unassigned again.
	x.assign(store.PolicyServer)
	require.False(t, x.compile(host).Equal(spd))
	p, err := x.st.Policy(store.PolicyServer)
	require.NoError(t, err)
	p.Assigned = false
	require.NoError(t, x.st.PutPolicy(p))
	require.True(t, x.compile(host).Equal(spd))
}

func TestPolicyLookups(t *testing.T) {
	x := newFixture(t)
	x.assign(store.PolicySecureServer)
	spd := x.compile(host)
	qp, ok := spd.QMPolicy(store.FilterActionRequireSecurity)
	require.True(t, ok)
	require.Equal(t, ipsec.DefaultQMOffers, qp.Offers)
	mp, ok := spd.MMPolicy(store.PolicySecureServer)
	require.True(t, ok)
	require.Equal(t, uint32(28800), mp.Lifetime)
	_, ok = spd.MMPolicy("nope")
	require.False(t, ok)
	for _, f := range spd.QMSpecific {
		if f.QMPolicy != "" {
			_, ok := spd.QMPolicy(f.QMPolicy)
			require.True(t, ok, f.QMPolicy)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(x fixture)
		target error
		msg    string
	}{
		{"ports without TCP or UDP", func(x fixture) {
			require.NoError(x.t, x.st.AddFilter("L", filter(me, anyAddr, proto(ipsec.ProtoICMP, 0, 8))))
		}, ErrFilter, `agent: policy "P", rule "R", filter 2: invalid filter: ports with protocol ICMP (ports need TCP or UDP)`},
		{"IPv6 address", func(x fixture) {
			l := &x.st.FilterLists[len(x.st.FilterLists)-1]
			l.Filters = append(l.Filters, filter(me, ip("2001:db8::1")))
		}, ErrFilter, `agent: policy "P", rule "R", filter 2: invalid filter: 2001:db8::1 is not an IPv4 address`},
		{"missing filter list", func(x fixture) {
			x.st.Policies[len(x.st.Policies)-1].Rules[0].FilterList = "{00000000-0000-0000-0000-000000000000}"
		}, ErrReference, `agent: policy "P", rule "R": missing filter list or filter action`},
		{"no action", func(x fixture) {
			for i := range x.st.FilterActions {
				if x.st.FilterActions[i].Name == store.FilterActionPermit {
					x.st.FilterActions[i].Action = 0
				}
			}
		}, ErrFilter, `agent: policy "P", rule "R": invalid filter: filter action "Permit" has action Action(0)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newFixture(t)
			x.list("L", filter(me, anyAddr))
			x.policy("P")
			x.rule("P", "R", "L", store.FilterActionPermit)
			tc.mutate(x)
			spd, err := Compile(x.st, host)
			require.Nil(t, spd)
			require.ErrorIs(t, err, tc.target)
			require.EqualError(t, err, tc.msg)
		})
	}
}

// TestGUIDCase: rules find their filter list and action whatever the case
// of the GUID they hold.
func TestGUIDCase(t *testing.T) {
	x := newFixture(t)
	x.assign(store.PolicyServer)
	want := x.compile(host)
	for i := range x.st.Policies {
		for j := range x.st.Policies[i].Rules {
			r := &x.st.Policies[i].Rules[j]
			r.FilterList = store.GUID(strings.ToLower(string(r.FilterList)))
			r.FilterAction = store.GUID(strings.ToLower(string(r.FilterAction)))
		}
	}
	require.True(t, want.Equal(x.compile(host)))
}

// TestRankOrderLarge checks the order invariant on the benchmark policy.
func TestRankOrderLarge(t *testing.T) {
	st := bigState(t, 50, 100)
	spd, err := Compile(st, host)
	require.NoError(t, err)
	require.Len(t, spd.QMFilters, 10000)
	require.Len(t, spd.QMSpecific, 20000)
	for i := 1; i < len(spd.QMSpecific); i++ {
		a, b := spd.QMSpecific[i-1], spd.QMSpecific[i]
		require.GreaterOrEqual(t, a.Weight, b.Weight)
		if a.Weight == b.Weight {
			require.LessOrEqual(t, actionRank(a.Action()), actionRank(b.Action()))
		}
		require.Equal(t, b.Selector.Weight(), b.Weight)
	}
	for i := 1; i < len(spd.MMSpecific); i++ {
		require.GreaterOrEqual(t, spd.MMSpecific[i-1].Weight, spd.MMSpecific[i].Weight)
	}
	again, err := Compile(st, host)
	require.NoError(t, err)
	require.True(t, spd.Equal(again))
}

func TestErrorUnwrap(t *testing.T) {
	err := error(&RuleError{Policy: "P", Rule: "Rule 3", Err: ErrReference})
	require.True(t, errors.Is(err, ErrReference))
	require.Equal(t, `agent: policy "P", rule "Rule 3": missing filter list or filter action`, err.Error())
}

// TestRankOrder compares the in-place permutation of rankOrder with a
// stable sort.
func TestRankOrder(t *testing.T) {
	type item struct {
		w, r uint32
		id   int
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 10, 1000} {
		in := make([]item, n)
		for i := range in {
			in[i] = item{uint32(rng.IntN(4)) << 8, uint32(rng.IntN(3)), i}
		}
		want := slices.Clone(in)
		slices.SortStableFunc(want, func(a, b item) int {
			if a.w != b.w {
				return cmp.Compare(b.w, a.w)
			}
			return cmp.Compare(a.r, b.r)
		})
		got := rankOrder(in, func(x *item) (uint32, uint32) { return x.w, x.r })
		require.Equal(t, want, got, "n=%d", n)
	}
}
