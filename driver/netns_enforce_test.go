//go:build linux

package driver

// Inbound enforcement in the kernel (Enforcer, driver/nft): cleartext
// packets that never enter the TUN device. The netns lab of netns_test.go,
// B with an nftables enforcer, plus a third namespace C hanging off B by a
// veth of its own; C reaches B's wire address through it.
//
//	A == veth 10.99.<n>.0/24 == B (driver, nft table gonetsh) == veth 10.98.<n>.0/24 == C
//	                           wire 10.99.<n>.2                                      10.98.<n>.1
//	                                                               C: route 10.99.<n>.2/32 dev vc

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonetsh/gonetsh/driver/nft"
	"github.com/gonetsh/gonetsh/driver/tun/tuntest"
	"github.com/gonetsh/gonetsh/internal/netnstest"
	"github.com/gonetsh/gonetsh/ipsec"
)

// dropWait is how long a packet the kernel must drop is waited for.
const dropWait = 300 * time.Millisecond

// TestNetnsInboundEnforcement checks B's nftables rules with Go traffic:
// under a negotiate entry without InPass (Require Security) covering A's
// and C's wire addresses, C's cleartext UDP and TCP to B are dropped while
// its ICMP echo (a more specific permit entry) is answered and IKE (UDP
// 500) always gets through; A's ESP works as in TestNetns. With InPass
// (Request Security) C's UDP and TCP get through. Close removes the table.
func TestNetnsInboundEnforcement(t *testing.T) {
	netnstest.RequireRoot(t)
	before := runtime.NumGoroutine()
	t.Run("lab", func(t *testing.T) {
		start := time.Now()
		l := newLabEnforced(t, ProtocolESP, ipsec.CipherAESGCM128, ipsec.HashNone, true, true)
		nsB := l.b.ns
		n := l.wireA.As4()[2]
		wireC := netip.AddrFrom4([4]byte{10, 98, n, 1})
		wireBC := netip.AddrFrom4([4]byte{10, 98, n, 2})
		nsC := netnstest.New(t, "c")
		nsC.Sysctl(t, "net.ipv6.conf.all.disable_ipv6", "1", true)
		nsC.Sysctl(t, "net.ipv6.conf.default.disable_ipv6", "1", true)
		nsC.Sysctl(t, "net.ipv4.conf.all.rp_filter", "0", false)
		nsC.Sysctl(t, "net.ipv4.conf.default.rp_filter", "0", false)
		netnstest.Veth(t, nsC, "vc", nsB, "vbc")
		nsC.IP(t, "addr", "add", netip.PrefixFrom(wireC, 24).String(), "dev", "vc")
		nsB.IP(t, "addr", "add", netip.PrefixFrom(wireBC, 24).String(), "dev", "vbc")
		nsC.IP(t, "route", "add", host(l.wireB).String(), "dev", "vc", "src", wireC.String())
		nsC.WaitRunning(t, "vc", netnsWait)
		nsB.WaitRunning(t, "vbc", netnsWait)
		t.Logf("setup: %v", time.Since(start).Round(time.Millisecond))

		// B's policy: the lab's tunnel, then per peer wire address a
		// mirrored negotiate entry and, more specific by protocol, an
		// ICMP permit.
		setB := func(inPass bool) {
			t.Helper()
			entries := slices.Clone(l.s.topo.bSPD)
			for i, peer := range []netip.Addr{l.wireA, wireC} {
				neg := mirrored(uint64(100+2*i), ipsec.ActionNegotiate, host(l.wireB), host(peer), ipsec.ProtoAny)
				for j := range neg {
					neg[j].InPass = inPass
				}
				entries = append(entries, neg...)
				entries = append(entries, mirrored(uint64(101+2*i), ipsec.ActionPermit, host(l.wireB), host(peer), ipsec.ProtoICMP)...)
			}
			policy(t, l.b.d, entries...)
		}

		start = time.Now()
		setB(false)
		require.Positive(t, nftRules(t, nsB), "no nft table in B")
		ike := listenUDP(t, nsB, netip.AddrPortFrom(l.wireB, 500))
		sendUDP(t, nsC, wireC, ike, "ike-1")
		require.True(t, receivedUDP(t, ike, "ike-1", netnsWait), "IKE from C did not reach B")
		udp := listenUDP(t, nsB, netip.AddrPortFrom(l.wireB, 0))
		sendUDP(t, nsC, wireC, udp, "clear-1")
		require.False(t, receivedUDP(t, udp, "clear-1", dropWait), "cleartext UDP from C reached B under Require Security")
		tcp := listenTCP(t, nsB, l.wireB)
		require.Error(t, dialTCP(nsC, wireC, tcp, dropWait), "cleartext TCP from C connected under Require Security")
		require.True(t, echoFrom(t, nsC, wireC, l.wireB, 1), "no echo reply to C (ICMP permit)")
		l.sendEcho(t, 1)
		require.True(t, l.awaitReply(t, 1, netnsWait), "no echo reply through the tunnel")
		_, sb := l.settle(t)
		require.Equal(t, uint64(1), sb.ProtectedPacketsReceived, "B's ESP from A")
		t.Logf("require: %v", time.Since(start).Round(time.Millisecond))

		start = time.Now()
		setB(true)
		sendUDP(t, nsC, wireC, udp, "clear-2")
		require.True(t, receivedUDP(t, udp, "clear-2", netnsWait), "cleartext UDP from C dropped under Request Security (InPass)")
		require.NoError(t, dialTCP(nsC, wireC, tcp, netnsWait), "cleartext TCP from C under Request Security (InPass)")
		sendUDP(t, nsC, wireC, ike, "ike-2")
		require.True(t, receivedUDP(t, ike, "ike-2", netnsWait), "IKE from C did not reach B")
		t.Logf("request: %v", time.Since(start).Round(time.Millisecond))

		require.NoError(t, l.b.d.Close())
		require.Equal(t, -1, nftRules(t, nsB), "nft table left in B after Close")
	})
	goroutines(t, before)
}

// nftRules returns the number of rules in the enforcer's chain in ns, or
// -1 when its table does not exist.
func nftRules(t *testing.T, ns *netnstest.NS) int {
	t.Helper()
	n := -1
	require.NoError(t, ns.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(tables, func(tb *nftables.Table) bool { return tb.Name == nft.Table })
		if i < 0 {
			return nil
		}
		rs, err := c.GetRules(tables[i], &nftables.Chain{Name: nft.Chain, Table: tables[i]})
		n = len(rs)
		return err
	}))
	return n
}

// listenUDP opens a UDP socket on addr in ns; t.Cleanup closes it.
func listenUDP(t *testing.T, ns *netnstest.NS, addr netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	require.NoError(t, ns.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return c
}

// sendUDP sends msg from src in ns to the address of to.
func sendUDP(t *testing.T, ns *netnstest.NS, src netip.Addr, to *net.UDPConn, msg string) {
	t.Helper()
	sendUDPTo(t, ns, src, to.LocalAddr().(*net.UDPAddr).AddrPort(), []byte(msg))
}

// sendUDPTo sends msg from src (an ephemeral port) in ns to dst.
func sendUDPTo(t *testing.T, ns *netnstest.NS, src netip.Addr, dst netip.AddrPort, msg []byte) {
	t.Helper()
	require.NoError(t, ns.Do(func() error {
		c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(dst))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(msg)
		return err
	}))
}

// receivedUDP reports whether msg arrives at c within wait; other
// datagrams are skipped.
func receivedUDP(t *testing.T, c *net.UDPConn, msg string, wait time.Duration) bool {
	t.Helper()
	return received(t, c, c.Read, msg, wait)
}

// received reports whether read, on the socket c, returns msg within
// wait; other messages are skipped.
func received(t *testing.T, c interface{ SetReadDeadline(time.Time) error }, read func([]byte) (int, error), msg string, wait time.Duration) bool {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
	buf := make([]byte, 1500)
	for {
		n, err := read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false
		}
		require.NoError(t, err)
		if string(buf[:n]) == msg {
			return true
		}
	}
}

// listenTCP opens a TCP listener on addr in ns, accepting and closing
// connections until t.Cleanup closes it.
func listenTCP(t *testing.T, ns *netnstest.NS, addr netip.Addr) net.Listener {
	t.Helper()
	return listenTCPOn(t, ns, netip.AddrPortFrom(addr, 0))
}

// listenTCPOn is listenTCP on a given port.
func listenTCPOn(t *testing.T, ns *netnstest.NS, addr netip.AddrPort) net.Listener {
	t.Helper()
	var ln net.Listener
	require.NoError(t, ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", addr.String())
		return err
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln
}

// dialTCP connects from src in ns to ln within timeout and closes the
// connection.
func dialTCP(ns *netnstest.NS, src netip.Addr, ln net.Listener, timeout time.Duration) error {
	return ns.Do(func() error {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: timeout}
		c, err := d.Dial("tcp4", ln.Addr().String())
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// echoFrom sends one ICMP echo request from src in ns to dst on a raw socket
// of its own and reports whether the reply arrives within netnsWait.
func echoFrom(t *testing.T, ns *netnstest.NS, src, dst netip.Addr, seq uint16) bool {
	t.Helper()
	return echoWithin(t, ns, src, dst, seq, netnsWait)
}

// echoWithin is echoFrom, waiting wait for the reply.
func echoWithin(t *testing.T, ns *netnstest.NS, src, dst netip.Addr, seq uint16, wait time.Duration) bool {
	t.Helper()
	var c *net.IPConn
	require.NoError(t, ns.Do(func() error {
		pc, err := net.ListenPacket("ip4:icmp", src.String())
		if err == nil {
			c = pc.(*net.IPConn)
		}
		return err
	}))
	defer c.Close()
	p, err := tuntest.ICMPEcho(src, dst, echoID, seq, make([]byte, echoPayload))
	require.NoError(t, err)
	_, err = c.WriteTo(tuntest.IPv4(p).Payload(), &net.IPAddr{IP: dst.AsSlice()})
	if errors.Is(err, unix.EPERM) {
		t.Logf("echo %d from %v: %v (an output filter)", seq, src, err)
		return false
	}
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false
		}
		require.NoError(t, err)
		m := buf[:n]
		if n >= 8 && m[0] == 0 && binary.BigEndian.Uint16(m[4:]) == echoID && binary.BigEndian.Uint16(m[6:]) == seq &&
			from.(*net.IPAddr).IP.Equal(dst.AsSlice()) {
			return true
		}
	}
}
