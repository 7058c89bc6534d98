package agent

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/ipsec"
)

func TestCompileDynamic(t *testing.T) {
	host := HostInfo{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.5"), netip.MustParseAddr("192.0.2.6")}}
	r := ipsec.DynamicRule{
		Name: "Dynamic Rule 1", Ref: ipsec.RuleRef{Rule: 1},
		Src: ipsec.Address{Kind: ipsec.AddrMe}, Dst: ipsec.Address{Kind: ipsec.AddrIP, IP: netip.MustParseAddr("10.0.0.0")},
		SrcMask: 32, DstMask: 8, Protocol: ipsec.ProtoTCP, DstPort: 80, Mirrored: true, ConnType: ipsec.ConnAll,
		InboundAction: ipsec.ActionPermit, OutboundAction: ipsec.ActionBlock, MMPolicy: "m",
	}
	spd, err := CompileDynamic(&r, host)
	require.NoError(t, err)
	require.Len(t, spd.QMFilters, 2) // outbound and its inbound mirror image
	require.Len(t, spd.QMSpecific, 4)
	require.Empty(t, spd.MMFilters, "no negotiate action, no main mode filters")
	for _, f := range spd.QMFilters {
		require.Equal(t, "Dynamic Rule 1", f.Name)
		require.Equal(t, ipsec.RuleRef{Rule: 1}, f.Rule)
		require.Empty(t, f.QMPolicy)
	}
	require.Equal(t, ipsec.ActionBlock, spd.QMFilters[0].Action())
	require.Equal(t, ipsec.ActionPermit, spd.QMFilters[1].Action())
	require.Equal(t, ipsec.ActionBlock, spd.QMSpecific[0].Action(), "block ranks before permit at equal weight")

	r.InboundAction, r.QMPolicy = ipsec.ActionNegotiate, "q"
	spd, err = CompileDynamic(&r, host)
	require.NoError(t, err)
	require.Len(t, spd.MMFilters, 2)
	require.Len(t, spd.MMSpecific, 4)
	require.Equal(t, "m", spd.MMFilters[0].MMPolicy)
	require.Equal(t, "q", spd.QMFilters[0].QMPolicy)

	r.Tunnel = ipsec.Address{Kind: ipsec.AddrIP, IP: netip.MustParseAddr("203.0.113.1")}
	_, err = CompileDynamic(&r, host)
	require.ErrorIs(t, err, ErrMirroredTunnel)
	r.Protocol = ipsec.ProtoICMP
	r.Tunnel = ipsec.Address{}
	_, err = CompileDynamic(&r, host)
	require.ErrorIs(t, err, ErrFilter)
}
