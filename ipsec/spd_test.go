package ipsec

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSelectorWeight pins the weights of the formula documented on
// driver/sadb's Selector.Weight for single ports.
func TestSelectorWeight(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		s    Selector
		want uint32
	}{
		{Selector{}, 0},
		{Selector{Src: p("0.0.0.0/0"), Dst: p("0.0.0.0/0")}, 0},
		{Selector{Src: p("10.0.0.1/32"), Dst: p("0.0.0.0/0")}, 32 << 8},
		{Selector{Src: p("10.0.0.1/32"), Dst: p("0.0.0.0/0"), Protocol: ProtoICMP}, 32<<8 | 128},
		{Selector{Src: p("10.0.0.0/8"), Dst: p("192.0.2.0/24"), Protocol: ProtoTCP, DstPort: 80}, 32<<8 | 128 | 17},
		{Selector{Src: p("10.0.0.1/32"), Dst: p("192.0.2.1/32"), Protocol: ProtoUDP, SrcPort: 68, DstPort: 67}, 64<<8 | 128 | 34},
		{Selector{Dst: p("192.0.2.1/32")}, 32 << 8}, // an unknown side counts as any
	} {
		require.Equal(t, tc.want, tc.s.Weight(), tc.s.String())
	}
	// Prefix lengths dominate protocol and ports.
	require.Greater(t, Selector{Src: p("10.0.0.0/25")}.Weight(),
		Selector{Src: p("10.0.0.0/24"), Protocol: ProtoTCP, SrcPort: 1, DstPort: 2}.Weight())
}

func TestSelectorReverseAndString(t *testing.T) {
	s := Selector{Src: netip.MustParsePrefix("10.0.0.1/32"), Dst: netip.MustParsePrefix("0.0.0.0/0"), Protocol: ProtoTCP, SrcPort: 1025, DstPort: 80}
	r := s.Reverse()
	require.Equal(t, Selector{Src: s.Dst, Dst: s.Src, Protocol: ProtoTCP, SrcPort: 80, DstPort: 1025}, r)
	require.Equal(t, s, r.Reverse())
	require.Equal(t, s.Weight(), r.Weight())
	require.Equal(t, "10.0.0.1/32:1025 -> 0.0.0.0/0:80 TCP", s.String())
	require.Equal(t, "?:any -> 0.0.0.0/0:any ANY", Selector{Dst: s.Dst}.String())
	require.Equal(t, "outbound", Outbound.String())
	require.Equal(t, "inbound", Inbound.String())
	require.Equal(t, "Direction(0)", Direction(0).String())
}

func TestSPDTypes(t *testing.T) {
	f := QMFilter{Direction: Inbound, InboundAction: ActionBlock, OutboundAction: ActionPermit}
	require.Equal(t, ActionBlock, f.Action())
	f.Direction = Outbound
	require.Equal(t, ActionPermit, f.Action())

	qp := QMPolicy{Name: "q", PFS: true, Offers: []QMOffer{{ESP: true, ESPCipher: Cipher3DES, ESPAuth: HashSHA1}}}
	q2 := qp
	q2.Offers = append([]QMOffer(nil), qp.Offers...)
	require.True(t, qp.Equal(q2))
	q2.Offers[0].LifeSec = 900
	require.False(t, qp.Equal(q2))

	mp := MMPolicy{Name: "m", Offers: DefaultMMOffers, Lifetime: 28800}
	m2 := mp
	require.True(t, mp.Equal(m2))
	m2.Offers = DefaultMMOffers[:2]
	require.False(t, mp.Equal(m2))

	mf := MMFilter{Name: "a", Auth: []AuthMethod{{Kind: AuthKerberos}}}
	mf2 := mf
	mf2.Auth = []AuthMethod{{Kind: AuthKerberos}}
	require.True(t, mf.Equal(mf2))
	mf2.Auth = []AuthMethod{{Kind: AuthPSK, PSK: "k"}}
	require.False(t, mf.Equal(mf2))
}

func TestSelectorCovers(t *testing.T) {
	p := netip.MustParsePrefix
	all := Selector{Src: p("10.0.0.0/8"), Dst: p("0.0.0.0/0")}
	host := Selector{Src: p("10.1.2.3/32"), Dst: p("192.0.2.1/32"), Protocol: ProtoTCP, DstPort: 80}
	for _, tc := range []struct {
		s, o Selector
		want bool
	}{
		{all, host, true},
		{host, all, false},
		{host, host, true},
		{Selector{Src: p("10.1.2.3/32"), Dst: p("192.0.2.1/32"), Protocol: ProtoUDP}, host, false},
		{Selector{Src: p("10.1.2.3/32"), Dst: p("192.0.2.1/32"), DstPort: 443}, host, false},
		{Selector{Src: p("10.1.2.3/32"), Dst: p("192.0.2.1/32")}, host, true},
		{Selector{Dst: p("0.0.0.0/0")}, host, false}, // invalid source prefix
	} {
		if got := tc.s.Covers(tc.o); got != tc.want {
			t.Errorf("%v covers %v = %v, want %v", tc.s, tc.o, got, tc.want)
		}
	}
}
