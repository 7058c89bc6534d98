//go:build linux

package driver

// Transport mode on the wire addresses themselves (Router, driver/route):
// A and B have nothing but their veth addresses. Each driver's Router
// routes the peer's address into its TUN device in a table of its own,
// and the driver's sockets carry a mark that an ip rule sends to the main
// table, so that the ESP packets to the same address leave on the veth.
//
//	A (gn<pid>-<n>a)                                    B (gn<pid>-<n>b)
//	rule 1000 fwmark 0x4500 lookup main                 (the same)
//	rule 1001 lookup 17664: 10.96.<n>.2 dev TUN         17664: 10.96.<n>.1 dev TUN
//	TUN <-> driver <-> wire 10.96.<n>.1 == veth == 10.96.<n>.2 wire <-> driver <-> TUN
//	                                          capture (AF_PACKET) on B's end

import (
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/gonetsh/gonetsh/driver/route"
	"github.com/gonetsh/gonetsh/internal/netnstest"
	"github.com/gonetsh/gonetsh/ipsec"
)

// routeMark is the SO_MARK of the drivers' sockets in the routed lab.
const routeMark = 0x4500

// newRoutedLab builds the routed transport-mode lab for a suite's
// transform: mirrored negotiate filters between the wire addresses, the
// four SAs, both drivers started with their Routers, the capture on B.
func newRoutedLab(t *testing.T, proto Protocol, cipher ipsec.Cipher, hash ipsec.Hash, encap, bundle bool) *lab {
	t.Helper()
	n := byte(labSeq.Add(1)%250 + 1)
	l := &lab{
		wireA:  netip.AddrFrom4([4]byte{10, 96, n, 1}),
		wireB:  netip.AddrFrom4([4]byte{10, 96, n, 2}),
		bundle: bundle,
	}
	topo := topology{
		name: "routed", mode: ModeTransport,
		aHost: l.wireA, bHost: l.wireB, aEnd: l.wireA, bEnd: l.wireB,
		aSPD: mirrored(1, ipsec.ActionNegotiate, host(l.wireA), host(l.wireB), ipsec.ProtoAny),
		bSPD: mirrored(1, ipsec.ActionNegotiate, host(l.wireB), host(l.wireA), ipsec.ProtoAny),
		aOut: 1, aIn: 1, bOut: 1, bIn: 1,
	}
	l.s = suite{name: "routed", proto: proto, cipher: cipher, hash: hash, encap: encap, topo: topo}

	nsA, nsB := twoHosts(t, l.wireA, l.wireB)
	l.a = newGateway(t, nsA, l.wireA, gatewayOpts{mark: routeMark})
	l.b = newGateway(t, nsB, l.wireB, gatewayOpts{mark: routeMark})
	l.start(t)
	return l
}

// TestNetnsTransportRouted sends the kernel's own traffic between the
// wire addresses of A and B, which have no other address: an echo and a
// TCP stream. The Routers put the peer's address into the TUN device, the
// marked wire sockets send the ESP past it, and the capture on B's veth
// proves that only ESP (protocol 50, or UDP 4500) with the SAs' SPIs
// crossed, no cleartext ICMP or TCP; with AH+ESP bundles, only AH with
// the bundle's ESP inside. Close removes the routes and rules.
func TestNetnsTransportRouted(t *testing.T) {
	netnstest.RequireRoot(t)
	before := runtime.NumGoroutine()
	cases := append(slices.Clone(netnsTransforms),
		netnsTransform{"AH-SHA1+ESP-3DES-SHA1 bundle", ipsec.Cipher3DES, ipsec.HashSHA1, false, true, false})
	for _, tc := range cases {
		if tc.offload {
			continue // the routed lab has no offload variant
		}
		t.Run(tc.name, func(t *testing.T) {
			l := newRoutedLab(t, ProtocolESP, tc.cipher, tc.hash, tc.encap, tc.bundle)

			l.sendEcho(t, 1)
			require.True(t, l.awaitReply(t, 1, netnsWait), "no echo reply")
			sa, sb := l.settle(t)
			require.Equal(t, uint64(1), sa.ProtectedPacketsSent, "A's echo")
			require.Equal(t, uint64(1), sb.ProtectedPacketsSent, "B's reply")
			require.Equal(t, uint64(64), sa.TransportBytesSent, "ICMP header and payload, transport mode")
			require.Equal(t, sa.TransportBytesSent, sb.TransportBytesReceived)

			start := time.Now()
			l.stream(t, streamSize/4)
			sa, sb = l.settle(t)
			require.Greater(t, sa.TransportBytesSent, uint64(streamSize/4))
			require.Equal(t, sa.TransportBytesSent, sb.TransportBytesReceived)
			require.Equal(t, sb.TransportBytesSent, sa.TransportBytesReceived)
			require.Zero(t, sa.ClearPacketsSent+sb.ClearPacketsSent, "cleartext sent by the drivers")
			t.Logf("stream: %d KiB in %v", streamSize/4>>10, time.Since(start).Round(time.Millisecond))

			require.NoError(t, l.a.d.Close())
			require.Empty(t, ruleTables(t, l.a.ns), "rules left in A after Close")
		})
	}
	goroutines(t, before)
}

// ruleTables returns the tables of the IPv4 rules at route's default
// priorities in ns.
func ruleTables(t *testing.T, ns *netnstest.NS) []int {
	t.Helper()
	var out []int
	require.NoError(t, ns.Do(func() error {
		rs, err := netlink.RuleList(netlink.FAMILY_V4)
		for _, r := range rs {
			if r.Priority == route.DefaultPriority || r.Priority == route.DefaultPriority+1 {
				out = append(out, r.Table)
			}
		}
		return err
	}))
	return out
}
