package driver

import (
	"github.com/gonetsh/gonetsh/driver/internal/clocktest"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/conn/conntest"
	"github.com/gonetsh/gonetsh/driver/esp"
	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/driver/tun/tuntest"
	"github.com/gonetsh/gonetsh/ipsec"
)

// waitFor is how long a test waits for a packet or a counter that must
// come; quiet is how long it watches for one that must not.
const (
	waitFor = 2 * time.Second
	quiet   = 50 * time.Millisecond
)

// node is one driver with its fake devices and what its callbacks saw.
type node struct {
	d        *Driver
	tun      *tuntest.ChannelTUN
	wire     *conntest.Wire
	sent     *conntest.Recorder // packets this node put on the wire
	acquires chan Acquire
	events   chan sadb.Event
	ike      chan ikeMsg
}

type ikeMsg struct {
	ep  conn.Endpoint
	msg []byte
}

// offer queues v unless ch is full: callbacks must not block, and a test
// that floods them (FuzzInbound) does not read them.
func offer[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

func newNode(t testing.TB, name string, w *conntest.Wire, clk *clocktest.Clock, tweak func(*Config)) *node {
	t.Helper()
	n := &node{
		tun:      tuntest.NewChannelTUN(name, 0, 4),
		wire:     w,
		sent:     &conntest.Recorder{},
		acquires: make(chan Acquire, 64),
		events:   make(chan sadb.Event, 64),
		ike:      make(chan ikeMsg, 64),
	}
	w.SetHook(n.sent.Hook)
	cfg := Config{
		TUN:          n.tun.TUN(),
		Wire:         w,
		Now:          clk.Now,
		OnAcquire:    func(a Acquire) { offer(n.acquires, a) },
		OnExpire:     func(e sadb.Event) { offer(n.events, e) },
		OnIKE:        func(ep conn.Endpoint, msg []byte) { offer(n.ike, ikeMsg{ep, append([]byte(nil), msg...)}) },
		TickInterval: 2 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	d, err := New(cfg)
	require.NoError(t, err)
	n.d = d
	return n
}

// newPair returns two started drivers joined by a conntest pair; they are
// closed when the test ends.
func newPair(t testing.TB, tweak func(*Config)) (a, b *node, clk *clocktest.Clock) {
	t.Helper()
	clk = clocktest.New()
	wa, wb := conntest.NewPair(4)
	a = newNode(t, "a", wa, clk, tweak)
	b = newNode(t, "b", wb, clk, tweak)
	require.NoError(t, a.d.Start())
	require.NoError(t, b.d.Start())
	t.Cleanup(func() {
		a.d.Close()
		b.d.Close()
	})
	return a, b, clk
}

// send injects pkt into n's TUN device, as the host routing it.
func (n *node) send(t testing.TB, pkt []byte) {
	t.Helper()
	require.NoError(t, n.tun.Inject(append([]byte(nil), pkt...)))
}

// recv returns the next packet n delivered to its host.
func (n *node) recv(t testing.TB) []byte {
	t.Helper()
	p, err := n.tun.Next(waitFor)
	require.NoError(t, err)
	return p
}

// nothing asserts that n delivers no packet for a while.
func (n *node) nothing(t testing.TB) {
	t.Helper()
	if p, err := n.tun.Next(quiet); err == nil {
		t.Fatalf("unexpected packet delivered: % x", p)
	}
}

// stat waits until the counter read by get reaches want.
func (n *node) stat(t testing.TB, name string, get func(Stats) uint64, want uint64) {
	t.Helper()
	var got uint64
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if got = get(n.d.Stats()); got == want {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s = %d, want %d", name, got, want)
}

// held waits until n holds want packets for acquires.
func (n *node) held(t testing.TB, want int) {
	t.Helper()
	n.stat(t, "held packets", func(Stats) uint64 { return uint64(n.d.pool.Outstanding()) }, uint64(want))
}

// acquire returns the next Acquire n raised.
func (n *node) acquire(t testing.TB) Acquire {
	t.Helper()
	select {
	case a := <-n.acquires:
		return a
	case <-time.After(waitFor):
		t.Fatal("no acquire")
		return Acquire{}
	}
}

// noAcquire asserts that n raises no Acquire for a while.
func (n *node) noAcquire(t testing.TB) {
	t.Helper()
	select {
	case a := <-n.acquires:
		t.Fatalf("unexpected acquire for entry %d", a.Entry.ID)
	case <-time.After(quiet):
	}
}

// event returns the next SAD event n reported.
func (n *node) event(t testing.TB) sadb.Event {
	t.Helper()
	select {
	case e := <-n.events:
		return e
	case <-time.After(waitFor):
		t.Fatal("no SA event")
		return sadb.Event{}
	}
}

// nextIKE returns the next IKE message n passed to OnIKE.
func (n *node) nextIKE(t testing.TB) ikeMsg {
	t.Helper()
	select {
	case m := <-n.ike:
		return m
	case <-time.After(waitFor):
		t.Fatal("no IKE message")
		return ikeMsg{}
	}
}

// policy compiles entries and installs them.
func (n *node) policy(t testing.TB, entries ...sadb.Entry) {
	t.Helper()
	spd, err := sadb.Compile(entries)
	require.NoError(t, err)
	n.d.SetPolicy(spd)
}

// Addresses.
var (
	hostA = netip.MustParseAddr("10.0.0.1")
	hostB = netip.MustParseAddr("10.0.0.2")

	gwA    = netip.MustParseAddr("192.0.2.1")
	gwB    = netip.MustParseAddr("192.0.2.2")
	netA   = netip.MustParsePrefix("10.1.0.0/24")
	netB   = netip.MustParsePrefix("10.2.0.0/24")
	inNetA = netip.MustParseAddr("10.1.0.5")
	inNetB = netip.MustParseAddr("10.2.0.7")
)

func host(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, 32) }

// mirrored returns the two entries of a mirrored netsh filter from src to
// dst, both with the given ID.
func mirrored(id uint64, act ipsec.Action, src, dst netip.Prefix, proto ipsec.Protocol) []sadb.Entry {
	return []sadb.Entry{
		{ID: id, Action: act, Selector: sadb.Selector{Dir: sadb.Outbound, Src: src, Dst: dst, Protocol: proto}},
		{ID: id, Action: act, Selector: sadb.Selector{Dir: sadb.Inbound, Src: dst, Dst: src, Protocol: proto}},
	}
}

// topology is a pair of peers and the policy between them.
type topology struct {
	name         string
	mode         Mode
	aHost, bHost netip.Addr // the test traffic's addresses
	aEnd, bEnd   netip.Addr // the SA endpoints
	aSPD, bSPD   []sadb.Entry
	// Entry IDs: the outbound entry of each side and the inbound one
	// its peer's packets must match.
	aOut, aIn, bOut, bIn uint64
}

// hosts: A and B protect their own traffic with one mirrored negotiate
// filter each (transport mode).
var hosts = topology{
	name: "hosts", mode: ModeTransport,
	aHost: hostA, bHost: hostB, aEnd: hostA, bEnd: hostB,
	aSPD: mirrored(1, ipsec.ActionNegotiate, host(hostA), host(hostB), ipsec.ProtoAny),
	bSPD: mirrored(1, ipsec.ActionNegotiate, host(hostB), host(hostA), ipsec.ProtoAny),
	aOut: 1, aIn: 1, bOut: 1, bIn: 1,
}

// gateways: the 2003 tunnel of reference section 10, two non-mirrored
// rules per side, the outbound one naming the remote endpoint, the
// inbound one the local endpoint.
var gateways = topology{
	name: "gateways", mode: ModeTunnel,
	aHost: inNetA, bHost: inNetB, aEnd: gwA, bEnd: gwB,
	aSPD: []sadb.Entry{
		{ID: 10, Action: ipsec.ActionNegotiate, Tunnel: gwB, Selector: sadb.Selector{Dir: sadb.Outbound, Src: netA, Dst: netB}},
		{ID: 11, Action: ipsec.ActionNegotiate, Tunnel: gwA, Selector: sadb.Selector{Dir: sadb.Inbound, Src: netB, Dst: netA}},
	},
	bSPD: []sadb.Entry{
		{ID: 20, Action: ipsec.ActionNegotiate, Tunnel: gwA, Selector: sadb.Selector{Dir: sadb.Outbound, Src: netB, Dst: netA}},
		{ID: 21, Action: ipsec.ActionNegotiate, Tunnel: gwB, Selector: sadb.Selector{Dir: sadb.Inbound, Src: netA, Dst: netB}},
	},
	aOut: 10, aIn: 11, bOut: 20, bIn: 21,
}

// suite is an SA transform between the two peers of a topology.
type suite struct {
	name   string
	proto  Protocol
	cipher ipsec.Cipher
	hash   ipsec.Hash
	encap  bool
	topo   topology
}

// The SPIs of the A-to-B and B-to-A SAs.
const (
	spiAB = 0x1001
	spiBA = 0x2001
)

var suites = []suite{
	{"AES-GCM-128 UDP transport", ProtocolESP, ipsec.CipherAESGCM128, ipsec.HashNone, true, hosts},
	{"3DES-SHA1 ESP transport", ProtocolESP, ipsec.Cipher3DES, ipsec.HashSHA1, false, hosts},
	{"AES-CBC-SHA1 ESP tunnel", ProtocolESP, ipsec.CipherAES128, ipsec.HashSHA1, false, gateways},
	{"AES-GCM-128 UDP tunnel", ProtocolESP, ipsec.CipherAESGCM128, ipsec.HashNone, true, gateways},
	{"NULL-SHA256 ESP transport", ProtocolESP, ipsec.CipherNone, ipsec.HashSHA256, false, hosts},
	{"AH-SHA1 transport", ProtocolAH, ipsec.CipherNone, ipsec.HashSHA1, false, hosts},
	{"AH-MD5 tunnel", ProtocolAH, ipsec.CipherNone, ipsec.HashMD5, false, gateways},
}

// suiteByName returns the suite named name.
func suiteByName(t testing.TB, name string) suite {
	t.Helper()
	for _, s := range suites {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no suite %q", name)
	return suite{}
}

// keyBytes returns n deterministic key bytes derived from tag.
func keyBytes(tag byte, n int) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = tag*31 + byte(i)*7 + 1
	}
	return k
}

// params returns the SA data for one direction; spi picks the keys.
func (s suite) params(local netip.Addr, ref uint64, spi uint32) SAParams {
	p := SAParams{
		Protocol: s.proto,
		Mode:     s.topo.mode,
		Cipher:   s.cipher,
		Hash:     s.hash,
		EncKey:   keyBytes(byte(spi>>8), esp.EncKeyLen(s.cipher)),
		AuthKey:  keyBytes(byte(spi>>8)+1, esp.AuthKeyLen(s.hash)),
		Local:    local,
		Encap:    s.encap,
		Ref:      ref,
	}
	if s.proto == ProtocolAH {
		p.EncKey = nil
	}
	return p
}

// ids of the four SAs.
func (s suite) abOut() sadb.ID { return sadb.ID{Dir: sadb.Outbound, SPI: spiAB, Dst: s.topo.bEnd} }
func (s suite) abIn() sadb.ID  { return sadb.ID{Dir: sadb.Inbound, SPI: spiAB, Dst: s.topo.bEnd} }
func (s suite) baOut() sadb.ID { return sadb.ID{Dir: sadb.Outbound, SPI: spiBA, Dst: s.topo.aEnd} }
func (s suite) baIn() sadb.ID  { return sadb.ID{Dir: sadb.Inbound, SPI: spiBA, Dst: s.topo.aEnd} }

// installAB installs the A-to-B pair of SAs with the given lifetimes.
func (s suite) installAB(t testing.TB, a, b *Driver, soft, hard sadb.Lifetime) {
	t.Helper()
	out := s.params(s.topo.aEnd, s.topo.aOut, spiAB)
	out.Soft, out.Hard = soft, hard
	require.NoError(t, b.AddSA(s.abIn(), s.params(netip.Addr{}, s.topo.bIn, spiAB)))
	require.NoError(t, a.AddSA(s.abOut(), out))
}

// installBA installs the B-to-A pair.
func (s suite) installBA(t testing.TB, a, b *Driver) {
	t.Helper()
	require.NoError(t, a.AddSA(s.baIn(), s.params(netip.Addr{}, s.topo.aIn, spiBA)))
	require.NoError(t, b.AddSA(s.baOut(), s.params(s.topo.bEnd, s.topo.bOut, spiBA)))
}

// setup installs the topology's policies and all four SAs.
func (s suite) setup(t testing.TB, a, b *node) {
	t.Helper()
	a.policy(t, s.topo.aSPD...)
	b.policy(t, s.topo.bSPD...)
	s.installAB(t, a.d, b.d, sadb.Lifetime{}, sadb.Lifetime{})
	s.installBA(t, a.d, b.d)
}

// echo returns an ICMP echo request with a recognisable payload of n
// bytes; reply makes it an echo reply.
func echo(t testing.TB, reply bool, src, dst netip.Addr, seq uint16, n int) []byte {
	t.Helper()
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	build := tuntest.ICMPEcho
	if reply {
		build = tuntest.ICMPEchoReply
	}
	p, err := build(src, dst, 0x4242, seq, payload)
	require.NoError(t, err)
	return p
}

func udp(t testing.TB, src, dst string, payload string) []byte {
	t.Helper()
	p, err := tuntest.UDP(netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst), []byte(payload))
	require.NoError(t, err)
	return p
}

// goroutines waits until at most want goroutines run and fails after
// waitFor: the routines of a closed driver must be gone.
func goroutines(t testing.TB, want int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want at most %d:\n%s", n, want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}
