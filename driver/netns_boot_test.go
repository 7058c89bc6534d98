//go:build linux

package driver

// Boot mode in the kernel (SetBootMode, BootEnforcer, driver/nft): host B
// runs a driver with an nftables enforcer and no policy yet; host A is a
// plain namespace on the other end of a veth.
//
//	A 10.97.<n>.1 == veth == 10.97.<n>.2 B (driver, nft table gonetsh: boot chains)

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/internal/netnstest"
	"github.com/gonetsh/gonetsh/ipsec"
)

// TestNetnsBootMode checks the three boot modes with the kernel's own
// traffic. Block: A's echo to B is dropped and so is B's to A, a TCP
// connection to B's exempted port succeeds (its replies pass by the
// exemption's mirror) while one to another port fails, and DHCP passes
// both ways (UDP 67 -> 68 and 68 -> 67) without being listed. Stateful: B
// connects to A by TCP and echoes A (the replies are established), A can
// neither connect to a port of B that is not exempted nor echo B. The
// first SetPolicy lifts boot mode: A's echo and connection get through,
// and boot mode cannot come back. Close removes the table.
func TestNetnsBootMode(t *testing.T) {
	netnstest.RequireRoot(t)
	before := runtime.NumGoroutine()
	t.Run("lab", func(t *testing.T) {
		nsA, nsB, wireA, wireB, b := enforcedPair(t, 97)

		open := listenTCP(t, nsB, wireB)   // exempted
		closed := listenTCP(t, nsB, wireB) // not exempted
		atA := listenTCP(t, nsA, wireA)
		port := uint16(open.Addr().(*net.TCPAddr).Port)
		ex := []sadb.BootExemption{{Protocol: ipsec.ProtoTCP, DstPort: port, Direction: ipsec.Inbound}}
		dhcpB := listenUDP(t, nsB, netip.AddrPortFrom(wireB, sadb.PortDHCPClient))
		dhcpA := listenUDP(t, nsA, netip.AddrPortFrom(wireA, sadb.PortDHCPServer))

		start := time.Now()
		require.NoError(t, b.d.SetBootMode(sadb.BootBlock, ex))
		require.Positive(t, nftRules(t, nsB), "no nft table in B")
		require.False(t, echoWithin(t, nsA, wireA, wireB, 1, dropWait), "echo from A answered in block mode")
		require.False(t, echoWithin(t, nsB, wireB, wireA, 2, dropWait), "echo from B answered in block mode")
		require.NoError(t, dialTCP(nsA, wireA, open, netnsWait), "exempted TCP port in block mode")
		require.Error(t, dialTCP(nsA, wireA, closed, dropWait), "TCP to a port not exempted in block mode")
		require.Error(t, dialTCP(nsB, wireB, atA, dropWait), "TCP from B in block mode")
		_, err := dhcpA.WriteToUDPAddrPort([]byte("offer"), netip.AddrPortFrom(wireB, sadb.PortDHCPClient))
		require.NoError(t, err)
		require.True(t, receivedUDP(t, dhcpB, "offer", netnsWait), "DHCP 67 -> 68 into B in block mode")
		_, err = dhcpB.WriteToUDPAddrPort([]byte("request"), netip.AddrPortFrom(wireA, sadb.PortDHCPServer))
		require.NoError(t, err)
		require.True(t, receivedUDP(t, dhcpA, "request", netnsWait), "DHCP 68 -> 67 out of B in block mode")
		t.Logf("block: %v", time.Since(start).Round(time.Millisecond))

		start = time.Now()
		require.NoError(t, b.d.SetBootMode(sadb.BootStateful, ex))
		require.NoError(t, dialTCP(nsB, wireB, atA, netnsWait), "TCP from B in stateful mode")
		require.True(t, echoWithin(t, nsB, wireB, wireA, 3, netnsWait), "B's echo unanswered in stateful mode")
		require.Error(t, dialTCP(nsA, wireA, closed, dropWait), "TCP from A to a port not exempted in stateful mode")
		require.NoError(t, dialTCP(nsA, wireA, open, netnsWait), "exempted TCP port in stateful mode")
		require.False(t, echoWithin(t, nsA, wireA, wireB, 4, dropWait), "echo from A answered in stateful mode")
		t.Logf("stateful: %v", time.Since(start).Round(time.Millisecond))

		start = time.Now()
		require.NoError(t, b.d.SetPolicy(nil))
		require.True(t, echoWithin(t, nsA, wireA, wireB, 5, netnsWait), "echo from A after the policy")
		require.NoError(t, dialTCP(nsA, wireA, closed, netnsWait), "TCP from A after the policy")
		require.ErrorIs(t, b.d.SetBootMode(sadb.BootBlock, nil), ErrBootOver)
		require.True(t, echoWithin(t, nsA, wireA, wireB, 6, netnsWait), "echo from A after a refused SetBootMode")
		t.Logf("policy: %v", time.Since(start).Round(time.Millisecond))

		require.NoError(t, b.d.Close())
		require.Equal(t, -1, nftRules(t, nsB), "nft table left in B after Close")
	})
	goroutines(t, before)
}

// enforcedPair is two hosts on 10.<net>.<n>.0/24, A plain and B with a
// started driver that has an nftables enforcer and no policy.
func enforcedPair(t *testing.T, net byte) (nsA, nsB *netnstest.NS, wireA, wireB netip.Addr, b *gateway) {
	t.Helper()
	n := byte(labSeq.Add(1)%250 + 1)
	wireA = netip.AddrFrom4([4]byte{10, net, n, 1})
	wireB = netip.AddrFrom4([4]byte{10, net, n, 2})
	nsA, nsB = twoHosts(t, wireA, wireB)
	b = newGateway(t, nsB, wireB, gatewayOpts{enforce: true})
	require.NoError(t, b.d.Start())
	return nsA, nsB, wireA, wireB, b
}
