//go:build linux

package driver

// End-to-end over real sockets: two tunnel gateways, each a driver with a
// kernel TUN device and the Linux wire, in network namespaces of their own
// joined by a veth pair. The hosts behind them are the namespaces' own
// stacks (10.1.0.1 in A, 10.2.0.1 in B, on lo); the traffic is the
// kernel's: an ICMP echo answered by B's kernel and a TCP stream.
//
//	  A (gn<pid>-<n>a)                              B (gn<pid>-<n>b)
//	  lo 10.1.0.1                                   lo 10.2.0.1
//	  route 10.2.0.0/24 dev TUN                     route 10.1.0.0/24 dev TUN
//	  TUN <-> driver <-> wire 10.99.<n>.1 == veth == 10.99.<n>.2 wire <-> driver <-> TUN
//	                                          capture (AF_PACKET) on B's end

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonetsh/gonetsh/driver/ah"
	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/esp"
	"github.com/gonetsh/gonetsh/driver/nft"
	"github.com/gonetsh/gonetsh/driver/route"
	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/driver/tun"
	"github.com/gonetsh/gonetsh/driver/tun/tuntest"
	"github.com/gonetsh/gonetsh/internal/netnstest"
	"github.com/gonetsh/gonetsh/ipsec"
)

// Netns test parameters.
const (
	netnsMTU    = 1400    // TUN MTU: a full inner packet plus ESP-in-UDP overhead fits the veth's 1500
	streamSize  = 4 << 20 // bytes of the TCP stream
	netnsWait   = 5 * time.Second
	streamWait  = 60 * time.Second
	echoPayload = 56 // as ping(8): an 84-byte IPv4 packet
)

// plainMarker is in every ICMP payload and at the start of every KiB of
// the TCP stream: it must never be seen on the wire.
var plainMarker = []byte("GONETSH-PLAINTEXT-")

var (
	innerA = netip.MustParseAddr("10.1.0.1")
	innerB = netip.MustParseAddr("10.2.0.1")
)

// labSeq numbers the labs of this process (the third octet of the wire
// addresses).
var labSeq atomic.Uint32

// lab is the two gateways, the suite between them and the capture.
type lab struct {
	s            suite
	a, b         *gateway
	wireA, wireB netip.Addr
	capture      *netnstest.Capture // on B's end of the veth
	icmp         *net.IPConn        // raw ICMP socket of A, bound to innerA
	bundle       bool               // AH+ESP bundles (AH SHA1 with the suite's ESP), not single SAs
}

// gateway is one namespace with its driver.
type gateway struct {
	ns *netnstest.NS
	d  *Driver
}

// newLab builds the topology for a suite of gateways-style parameters
// (protocol, cipher, hash, encapsulation), installs mirrored negotiate
// policies and the four SAs, starts both drivers and the capture.
func newLab(t *testing.T, proto Protocol, cipher ipsec.Cipher, hash ipsec.Hash, encap bool) *lab {
	t.Helper()
	return newLabEnforced(t, proto, cipher, hash, encap, false)
}

// newLabEnforced is newLab, with an nftables enforcer in B's driver if
// enforceB.
func newLabEnforced(t *testing.T, proto Protocol, cipher ipsec.Cipher, hash ipsec.Hash, encap, enforceB bool) *lab {
	t.Helper()
	return newLabWith(t, proto, cipher, hash, encap, enforceB, false)
}

// newLabWith is newLabEnforced, with TUN devices with offloads
// (tun.CreateOffload) if offload. The wires keep UDP GSO and GRO off
// either way: the capture must see every datagram.
func newLabWith(t *testing.T, proto Protocol, cipher ipsec.Cipher, hash ipsec.Hash, encap, enforceB, offload bool) *lab {
	t.Helper()
	n := byte(labSeq.Add(1)%250 + 1)
	l := &lab{
		wireA: netip.AddrFrom4([4]byte{10, 99, n, 1}),
		wireB: netip.AddrFrom4([4]byte{10, 99, n, 2}),
	}
	topo := topology{
		name: "netns", mode: ModeTunnel,
		aHost: innerA, bHost: innerB, aEnd: l.wireA, bEnd: l.wireB,
		aSPD: tunnel(mirrored(1, ipsec.ActionNegotiate, netA, netB, ipsec.ProtoAny), l.wireB),
		bSPD: tunnel(mirrored(1, ipsec.ActionNegotiate, netB, netA, ipsec.ProtoAny), l.wireA),
		aOut: 1, aIn: 1, bOut: 1, bIn: 1,
	}
	l.s = suite{name: "netns", proto: proto, cipher: cipher, hash: hash, encap: encap, topo: topo}

	nsA, nsB := twoHosts(t, l.wireA, l.wireB)
	nsA.IP(t, "addr", "add", netip.PrefixFrom(innerA, 32).String(), "dev", "lo")
	nsB.IP(t, "addr", "add", netip.PrefixFrom(innerB, 32).String(), "dev", "lo")
	l.a = newGateway(t, nsA, l.wireA, gatewayOpts{remote: netB, src: innerA, offload: offload})
	l.b = newGateway(t, nsB, l.wireB, gatewayOpts{remote: netA, src: innerB, enforce: enforceB, offload: offload})
	l.start(t)
	return l
}

// twoHosts creates the namespaces of A and B, joined by the veth pair
// va-vb with wireA and wireB on it (/24), and waits for the link.
func twoHosts(t *testing.T, wireA, wireB netip.Addr) (nsA, nsB *netnstest.NS) {
	t.Helper()
	nsA, nsB = netnstest.New(t, "a"), netnstest.New(t, "b")
	for _, ns := range []*netnstest.NS{nsA, nsB} {
		// No IPv6 chatter (router solicitations, MLD) into the TUN
		// devices or on the wire; no reverse-path filter surprises.
		ns.Sysctl(t, "net.ipv6.conf.all.disable_ipv6", "1", true)
		ns.Sysctl(t, "net.ipv6.conf.default.disable_ipv6", "1", true)
		ns.Sysctl(t, "net.ipv4.conf.all.rp_filter", "0", false)
		ns.Sysctl(t, "net.ipv4.conf.default.rp_filter", "0", false)
	}
	netnstest.Veth(t, nsA, "va", nsB, "vb")
	nsA.IP(t, "addr", "add", netip.PrefixFrom(wireA, 24).String(), "dev", "va")
	nsB.IP(t, "addr", "add", netip.PrefixFrom(wireB, 24).String(), "dev", "vb")
	nsA.WaitRunning(t, "va", netnsWait)
	nsB.WaitRunning(t, "vb", netnsWait)
	return nsA, nsB
}

// start installs the topology's policies and the four SAs in the
// gateways, starts both drivers, the capture on B's veth and A's ICMP
// socket on the topology's aHost.
func (l *lab) start(t *testing.T) {
	t.Helper()
	policy(t, l.a.d, l.s.topo.aSPD...)
	policy(t, l.b.d, l.s.topo.bSPD...)
	if l.bundle {
		installBundle(t, l.s, l.a.d, l.b.d)
	} else {
		l.s.installAB(t, l.a.d, l.b.d, sadb.Lifetime{}, sadb.Lifetime{})
		l.s.installBA(t, l.a.d, l.b.d)
	}
	require.NoError(t, l.a.d.Start())
	require.NoError(t, l.b.d.Start())

	l.capture = l.b.ns.Capture(t, "vb")
	require.NoError(t, l.a.ns.Do(func() error {
		c, err := net.ListenPacket("ip4:icmp", l.s.topo.aHost.String())
		if err == nil {
			l.icmp = c.(*net.IPConn)
		}
		return err
	}))
	t.Cleanup(func() { l.icmp.Close() })
}

// tunnel sets the tunnel endpoint of entries.
func tunnel(entries []sadb.Entry, peer netip.Addr) []sadb.Entry {
	for i := range entries {
		entries[i].Tunnel = peer
	}
	return entries
}

// gatewayOpts are the parts of a gateway that differ between labs.
type gatewayOpts struct {
	// remote, if valid, is routed by hand into the TUN device, from the
	// address src.
	remote netip.Prefix
	src    netip.Addr
	// enforce gives the driver an nftables enforcer.
	enforce bool
	// offload gives the TUN device TSO and GRO (tun.CreateOffload).
	offload bool
	// mark, if not zero, is the SO_MARK of the wire's sockets, and the
	// driver gets a route.Manager for it (Router).
	mark uint32
}

// newGateway creates, inside ns, the TUN device and the Linux wire on
// wire:4500, with the enforcer and router of o (their netlink sockets
// opened inside ns), and a driver over them that t.Cleanup closes.
func newGateway(t *testing.T, ns *netnstest.NS, wire netip.Addr, o gatewayOpts) *gateway {
	t.Helper()
	name := fmt.Sprintf("gn%dt", os.Getpid())
	create := tun.Create
	if o.offload {
		create = tun.CreateOffload
	}
	var dev tun.Device
	var w conn.Wire
	var enf *nft.Enforcer
	var r *route.Manager
	closeAll := func() {
		if dev != nil {
			dev.Close()
		}
		if w != nil {
			w.Close()
		}
		if enf != nil {
			enf.Close()
		}
		if r != nil {
			r.Close()
		}
	}
	err := ns.Do(func() error {
		var err error
		if dev, err = create(name, netnsMTU); err != nil {
			return err
		}
		if w, err = conn.NewLinux(conn.LinuxConfig{Local: wire, Mark: o.mark, NoOffload: true}); err != nil {
			return err
		}
		if o.enforce {
			if enf, err = nft.New(nft.Config{}); err != nil {
				return err
			}
		}
		if o.mark != 0 {
			r, err = route.New(route.Config{Mark: o.mark})
		}
		return err
	})
	if err != nil {
		closeAll()
		t.Fatalf("TUN device, wire, enforcer and router in %s: %v", ns.Name(), err)
	}
	cfg := Config{
		TUN:    dev,
		Wire:   w,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if enf != nil {
		cfg.Enforcer = enf
	}
	if r != nil {
		cfg.Router = r
	}
	d, err := New(cfg)
	if err != nil {
		closeAll()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close driver in %s: %v", ns.Name(), err)
		}
	})
	if o.remote.IsValid() {
		ns.IP(t, "route", "add", o.remote.String(), "dev", name, "src", o.src.String())
	}
	return &gateway{ns: ns, d: d}
}

// policy compiles entries and installs them in d.
func policy(t *testing.T, d *Driver, entries ...sadb.Entry) {
	t.Helper()
	spd, err := sadb.Compile(entries)
	require.NoError(t, err)
	require.NoError(t, d.SetPolicy(spd))
}

// sendEcho sends an echo request from the topology's aHost to bHost
// through A's raw ICMP socket.
func (l *lab) sendEcho(t *testing.T, seq uint16) {
	t.Helper()
	payload := make([]byte, echoPayload)
	copy(payload, plainMarker)
	p, err := tuntest.ICMPEcho(l.s.topo.aHost, l.s.topo.bHost, echoID, seq, payload)
	require.NoError(t, err)
	_, err = l.icmp.WriteTo(tuntest.IPv4(p).Payload(), &net.IPAddr{IP: l.s.topo.bHost.AsSlice()})
	require.NoError(t, err)
}

var echoID = uint16(os.Getpid())

// awaitReply reports whether the echo reply seq from bHost arrives at
// A's ICMP socket within wait.
func (l *lab) awaitReply(t *testing.T, seq uint16, wait time.Duration) bool {
	t.Helper()
	require.NoError(t, l.icmp.SetReadDeadline(time.Now().Add(wait)))
	buf := make([]byte, 1500)
	for {
		n, from, err := l.icmp.ReadFrom(buf) // the IPv4 header stripped
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false
		}
		require.NoError(t, err)
		m := buf[:n]
		if n >= 8 && m[0] == 0 && binary.BigEndian.Uint16(m[4:]) == echoID && binary.BigEndian.Uint16(m[6:]) == seq &&
			from.(*net.IPAddr).IP.Equal(l.s.topo.bHost.AsSlice()) {
			return true
		}
	}
}

// stream sends size bytes over TCP from aHost to a listener on bHost
// and checks that they arrive byte for byte. It returns once the
// connection is closed on both sides, A's last ACK included, so that no
// packet of it is still on its way.
func (l *lab) stream(t *testing.T, size int) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{'g', 'o', 'n', 'e', 't', 's', 'h'})
	_, _ = rng.Read(data)
	for off := 0; off < size; off += 1024 {
		copy(data[off:], plainMarker)
	}

	var ln net.Listener
	require.NoError(t, l.b.ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(l.s.topo.bHost, 0).String())
		return err
	}))
	defer ln.Close()
	type result struct {
		got []byte
		err error
	}
	received := make(chan result, 1)
	go func() {
		got, err := receiveAll(ln)
		received <- result{got, err}
	}()

	var c net.Conn
	require.NoError(t, l.a.ns.Do(func() error {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.s.topo.aHost, 0)), Timeout: netnsWait}
		var err error
		c, err = d.Dial("tcp4", ln.Addr().String())
		return err
	}))
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(streamWait)))
	_, err := c.Write(data)
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	_, err = io.Copy(io.Discard, c) // until B's FIN
	require.NoError(t, err)
	var r result
	select {
	case r = <-received:
	case <-time.After(streamWait):
		t.Fatal("the stream did not arrive")
	}
	require.NoError(t, r.err)
	require.Equal(t, len(data), len(r.got), "bytes received")
	require.True(t, bytes.Equal(data, r.got), "the stream arrived altered")
}

// receiveAll accepts one connection, reads it to EOF, shuts its side down
// and waits until the kernel has the ACK of that FIN (state CLOSE, from
// LAST_ACK): the peer sends nothing more.
func receiveAll(ln net.Listener) ([]byte, error) {
	c, err := ln.Accept()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	tc := c.(*net.TCPConn)
	deadline := time.Now().Add(streamWait)
	_ = c.SetDeadline(deadline)
	got, err := io.ReadAll(c)
	if err != nil {
		return got, err
	}
	if err := tc.CloseWrite(); err != nil {
		return got, err
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return got, err
	}
	for {
		var info *unix.TCPInfo
		var ierr error
		if err := rc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
			return got, err
		}
		if ierr != nil {
			return got, ierr
		}
		if info.State == unix.BPF_TCP_CLOSE {
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("TCP state %d, not closed, after %v", info.State, streamWait)
		}
		time.Sleep(time.Millisecond)
	}
}

// wire checks every packet captured on B's veth: ESP in UDP 4500 (or IP
// protocol 50) between the wire addresses, with the SPI of the SA of its
// direction, and no plaintext marker anywhere. It returns the numbers of
// packets A sent to B and B sent to A.
func (l *lab) wire(t *testing.T) (in, out uint64) {
	t.Helper()
	bad := 0
	for i, p := range l.capture.Packets() {
		why := l.whyBad(p)
		if why == "" {
			if p.Outgoing {
				out++
			} else {
				in++
			}
			continue
		}
		if bad++; bad <= 5 {
			t.Errorf("packet %d on the wire (%d bytes, outgoing %v): %s\n% x", i, p.Len, p.Outgoing, why, p.Data[:min(len(p.Data), 64)])
		}
	}
	if bad > 0 {
		t.FailNow()
	}
	return in, out
}

// whyBad returns what is wrong with a captured packet, or "".
func (l *lab) whyBad(p netnstest.Packet) string {
	ip := esp.IPv4(p.Data)
	if !ip.IsValid() || int(ip.TotalLength()) != p.Len || len(p.Data) != p.Len {
		return "not a whole IPv4 packet"
	}
	if bytes.Contains(p.Data, plainMarker) {
		return "plaintext on the wire"
	}
	src, dst, spi, ahSPI := l.wireA, l.wireB, uint32(spiAB), uint32(spiAHAB)
	if p.Outgoing {
		src, dst, spi, ahSPI = l.wireB, l.wireA, spiBA, spiAHBA
	}
	if ip.Src() != src || ip.Dst() != dst {
		return fmt.Sprintf("%v -> %v, want %v -> %v", ip.Src(), ip.Dst(), src, dst)
	}
	body := ip.Payload()
	switch {
	case l.s.encap && ip.Protocol() == esp.ProtocolUDP:
		if len(body) < 12 || binary.BigEndian.Uint16(body) != conn.NATTPort || binary.BigEndian.Uint16(body[2:]) != conn.NATTPort {
			return "UDP, not 4500 -> 4500"
		}
		body = body[8:]
	case l.bundle && ip.Protocol() == esp.ProtocolAH:
		h := ah.Header(body)
		if len(body) < 24+8 || h.SPI() != ahSPI || h.NextHeader() != esp.ProtocolESP {
			return fmt.Sprintf("not AH %#x with ESP inside", ahSPI)
		}
		body = body[24:] // AH with a 96-bit ICV
	case !l.s.encap && !l.bundle && ip.Protocol() == esp.ProtocolESP:
		if len(body) < 8 {
			return "short ESP"
		}
	default:
		return fmt.Sprintf("IP protocol %d in clear", ip.Protocol())
	}
	if got := binary.BigEndian.Uint32(body); got != spi {
		return fmt.Sprintf("SPI %#x, want %#x", got, spi)
	}
	return ""
}

// settle waits until both drivers and the wire agree: every protected
// packet A sent crossed the veth and B opened it, and the other way
// round. It returns the drivers' counters.
func (l *lab) settle(t *testing.T) (sa, sb Stats) {
	t.Helper()
	deadline := time.Now().Add(netnsWait)
	for {
		sa, sb = l.a.d.Stats(), l.b.d.Stats()
		in, out := l.wire(t)
		if sa.ProtectedPacketsSent == in && in == sb.ProtectedPacketsReceived &&
			sb.ProtectedPacketsSent == out && out == sa.ProtectedPacketsReceived {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no agreement after %v: A sent %d, wire A->B %d, B opened %d; B sent %d, wire B->A %d, A opened %d",
				netnsWait, sa.ProtectedPacketsSent, in, sb.ProtectedPacketsReceived, sb.ProtectedPacketsSent, out, sa.ProtectedPacketsReceived)
		}
		time.Sleep(5 * time.Millisecond)
	}
	drops, err := l.capture.Drops()
	require.NoError(t, err)
	require.Zero(t, drops, "the capture missed packets")
	// Byte counters: what one side protected, the other opened.
	require.Equal(t, sa.BytesSentInTunnels, sb.BytesReceivedInTunnels)
	require.Equal(t, sb.BytesSentInTunnels, sa.BytesReceivedInTunnels)
	return sa, sb
}

// tunnelStats is what a tunnel gateway with an encrypting and
// authenticating SA each way counts when it moved the packets and bytes
// of st and nothing else went wrong; blocked are its outbound block
// drops.
func tunnelStats(st Stats, blocked uint64) Stats {
	return Stats{
		ActiveSecurityAssociations: 2,
		KeyAdditions:               2,
		ActiveTunnels:              1,
		ProtectedPacketsSent:       st.ProtectedPacketsSent,
		ProtectedPacketsReceived:   st.ProtectedPacketsReceived,
		ConfidentialBytesSent:      st.BytesSentInTunnels,
		ConfidentialBytesReceived:  st.BytesReceivedInTunnels,
		AuthenticatedBytesSent:     st.BytesSentInTunnels,
		AuthenticatedBytesReceived: st.BytesReceivedInTunnels,
		BytesSentInTunnels:         st.BytesSentInTunnels,
		BytesReceivedInTunnels:     st.BytesReceivedInTunnels,
		BlockedOutbound:            blocked,
	}
}

// netnsTransform is an ESP transform of a netns lab; bundle adds AH
// (HMAC-SHA1-96) around it; offload gives TestNetns's TUN devices TSO and
// GRO (tun.CreateOffload).
type netnsTransform struct {
	name    string
	cipher  ipsec.Cipher
	hash    ipsec.Hash
	encap   bool
	bundle  bool
	offload bool
}

// netnsTransforms are the ESP transforms the netns labs run: AEAD in UDP
// and a CBC cipher with HMAC as protocol 50.
var netnsTransforms = []netnsTransform{
	{"AES-GCM-128 ESP in UDP 4500", ipsec.CipherAESGCM128, ipsec.HashNone, true, false, false},
	{"3DES-SHA1 ESP protocol 50", ipsec.Cipher3DES, ipsec.HashSHA1, false, false, false},
	{"AES-GCM-128 ESP in UDP 4500 TUN offload", ipsec.CipherAESGCM128, ipsec.HashNone, true, false, true},
}

// TestNetns runs the kernel's own traffic through two drivers on real
// sockets: an echo answered by B's kernel, a TCP stream checked byte for
// byte, then an ICMP block entry. The capture on B's veth proves that only
// ESP with the SAs' SPIs crossed the wire, and both drivers' counters
// agree with it.
func TestNetns(t *testing.T) {
	netnstest.RequireRoot(t)
	before := runtime.NumGoroutine()
	for _, tc := range netnsTransforms {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			l := newLabWith(t, ProtocolESP, tc.cipher, tc.hash, tc.encap, false, tc.offload)
			t.Logf("setup: %v", time.Since(start).Round(time.Millisecond))

			// Echo: one packet each way, 84 bytes in the tunnel.
			start = time.Now()
			l.sendEcho(t, 1)
			require.True(t, l.awaitReply(t, 1, netnsWait), "no echo reply")
			sa, sb := l.settle(t)
			one := Stats{ProtectedPacketsSent: 1, ProtectedPacketsReceived: 1, BytesSentInTunnels: 84, BytesReceivedInTunnels: 84}
			require.Equal(t, tunnelStats(one, 0), sa, "A after the echo")
			require.Equal(t, tunnelStats(one, 0), sb, "B after the echo")
			t.Logf("echo: %v", time.Since(start).Round(time.Millisecond))

			// TCP: the stream's bytes and its headers, both ways.
			start = time.Now()
			l.stream(t, streamSize)
			elapsed := time.Since(start)
			sa, sb = l.settle(t)
			require.Equal(t, tunnelStats(sa, 0), sa, "A after the stream")
			require.Equal(t, tunnelStats(sb, 0), sb, "B after the stream")
			require.Greater(t, sa.BytesSentInTunnels, uint64(streamSize))
			require.Greater(t, sa.ProtectedPacketsSent, uint64(streamSize/(netnsMTU-40)))
			require.NotZero(t, sb.ProtectedPacketsSent, "acknowledgements")
			t.Logf("stream: %d MiB in %v (%.1f MiB/s), %d packets A->B, %d B->A", streamSize>>20, elapsed.Round(time.Millisecond),
				float64(streamSize)/(1<<20)/elapsed.Seconds(), sa.ProtectedPacketsSent, sb.ProtectedPacketsSent)

			// Block ICMP on A: the echo is dropped there and nothing
			// crosses the wire.
			start = time.Now()
			policy(t, l.a.d, append(l.s.topo.aSPD, mirrored(2, ipsec.ActionBlock, netA, netB, ipsec.ProtoICMP)...)...)
			l.sendEcho(t, 2)
			deadline := time.Now().Add(netnsWait)
			for l.a.d.Stats().BlockedOutbound != 1 {
				require.True(t, time.Now().Before(deadline), "the echo was not blocked")
				time.Sleep(time.Millisecond)
			}
			require.False(t, l.awaitReply(t, 2, quiet*4), "an answer to a blocked echo")
			sa2, sb2 := l.settle(t)
			require.Equal(t, tunnelStats(sa, 1), sa2, "A after the block")
			require.Equal(t, sb, sb2, "B after the block")
			t.Logf("block: %v", time.Since(start).Round(time.Millisecond))
		})
	}
	goroutines(t, before)
}
