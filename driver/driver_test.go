package driver

import (
	"bytes"
	"encoding/binary"
	"github.com/gonetsh/gonetsh/driver/internal/clocktest"
	"net/netip"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/ah"
	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/conn/conntest"
	"github.com/gonetsh/gonetsh/driver/esp"
	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/driver/tun/tuntest"
	"github.com/gonetsh/gonetsh/ipsec"
)

// checkWire asserts that p, sent by the peer at src to the one at dst, is
// protected by the SA spi of suite s and does not show plain.
func checkWire(t *testing.T, s suite, p conntest.Packet, src, dst netip.Addr, spi uint32, plain []byte) {
	t.Helper()
	var body []byte // from the SPI on
	switch {
	case s.encap:
		require.Equal(t, conn.KindUDP, p.Endpoint.Kind)
		require.Equal(t, netip.AddrPortFrom(src, 4500), p.Endpoint.Remote, "UDP source")
		require.Equal(t, netip.AddrPortFrom(dst, 4500), p.Endpoint.Local, "UDP destination")
		body = p.Data
	default:
		require.Equal(t, conn.KindIP, p.Endpoint.Kind)
		ip := esp.IPv4(p.Data)
		require.True(t, ip.IsValid())
		require.Equal(t, uint16(0), ip.CalculateChecksum()^ip.Checksum(), "outer header checksum")
		require.Equal(t, src, ip.Src())
		require.Equal(t, dst, ip.Dst())
		want := byte(esp.ProtocolESP)
		if s.proto == ProtocolAH {
			want = esp.ProtocolAH
		}
		require.Equal(t, want, ip.Protocol())
		body = ip.Payload()
	}
	if s.proto == ProtocolAH {
		require.Equal(t, spi, ah.Header(body).SPI())
	} else {
		require.Equal(t, spi, esp.Header(body).SPI())
	}
	if s.cipher != ipsec.CipherNone {
		icmp := tuntest.IPv4(plain).Payload()
		require.False(t, bytes.Contains(p.Data, icmp[8:]), "the ICMP payload crossed the wire in clear")
	}
}

// TestRoundTrip sends an echo from A's host to B's and the reply back,
// through every suite: the packets arrive byte-identical, what crossed the
// wire is ESP or AH, and the byte counters of reference 5.9 move.
func TestRoundTrip(t *testing.T) {
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			a, b, _ := newPair(t, nil)
			s.setup(t, a, b)
			topo := s.topo

			req := echo(t, false, topo.aHost, topo.bHost, 1, 100)
			a.send(t, req)
			require.Equal(t, req, b.recv(t))
			sent := a.sent.Packets()
			require.Len(t, sent, 1)
			checkWire(t, s, sent[0], topo.aEnd, topo.bEnd, spiAB, req)

			rep := echo(t, true, topo.bHost, topo.aHost, 1, 100)
			b.send(t, rep)
			require.Equal(t, rep, a.recv(t))
			sent = b.sent.Packets()
			require.Len(t, sent, 1)
			checkWire(t, s, sent[0], topo.bEnd, topo.aEnd, spiBA, rep)

			// Protected bytes: the inner packet in tunnel mode, the IP
			// payload in transport mode.
			n := uint64(len(req))
			if topo.mode == ModeTransport {
				n -= esp.IPv4MinimumSize
			}
			var conf, tr, tu, tunnels uint64
			if s.cipher != ipsec.CipherNone {
				conf = n
			}
			if topo.mode == ModeTunnel {
				tu, tunnels = n, 1
			} else {
				tr = n
			}
			for _, x := range []*node{a, b} {
				require.Equal(t, Stats{
					ActiveSecurityAssociations: 2,
					KeyAdditions:               2,
					ActiveTunnels:              tunnels,

					ProtectedPacketsSent:     1,
					ProtectedPacketsReceived: 1,

					ConfidentialBytesSent:      conf,
					ConfidentialBytesReceived:  conf,
					AuthenticatedBytesSent:     n,
					AuthenticatedBytesReceived: n,
					TransportBytesSent:         tr,
					TransportBytesReceived:     tr,
					BytesSentInTunnels:         tu,
					BytesReceivedInTunnels:     tu,
				}, x.d.Stats())
			}
		})
	}
}

// TestManyPackets moves a burst both ways at once, larger than a batch.
func TestManyPackets(t *testing.T) {
	s := suiteByName(t, "AES-CBC-SHA1 ESP tunnel")
	a, b, _ := newPair(t, nil)
	s.setup(t, a, b)
	const n = 40
	go func() {
		for i := range n {
			a.send(t, echo(t, false, inNetA, inNetB, uint16(i), 1000))
			b.send(t, echo(t, true, inNetB, inNetA, uint16(i), 1000))
		}
	}()
	for i := range n {
		require.Equal(t, echo(t, false, inNetA, inNetB, uint16(i), 1000), b.recv(t))
		require.Equal(t, echo(t, true, inNetB, inNetA, uint16(i), 1000), a.recv(t))
	}
}

// TestInboundAttacks: tampering, replay and unknown SPIs are dropped and
// counted under their reference 5.9 counters.
func TestInboundAttacks(t *testing.T) {
	for _, name := range []string{"AES-GCM-128 UDP transport", "3DES-SHA1 ESP transport", "AES-CBC-SHA1 ESP tunnel", "AH-SHA1 transport"} {
		s := suiteByName(t, name)
		t.Run(name, func(t *testing.T) {
			a, b, _ := newPair(t, nil)
			s.setup(t, a, b)
			topo := s.topo
			req := func(seq uint16) []byte { return echo(t, false, topo.aHost, topo.bHost, seq, 64) }

			// Tamper: the last byte is in the ICV.
			a.sent.Next = conntest.Tamper(conntest.All, -1)
			a.send(t, req(1))
			b.stat(t, "PacketsNotAuthenticated", func(s Stats) uint64 { return s.PacketsNotAuthenticated }, 1)
			b.nothing(t)

			// Replay: the same packet again after it was delivered.
			a.sent.Next = nil
			a.sent.Reset()
			a.send(t, req(2))
			require.Equal(t, req(2), b.recv(t))
			p := a.sent.Packets()[0]
			require.NoError(t, b.wire.Inject(p))
			b.stat(t, "PacketsWithReplayDetection", func(s Stats) uint64 { return s.PacketsWithReplayDetection }, 1)
			b.nothing(t)

			// A duplicate in flight is a replay too.
			a.sent.Next = conntest.Duplicate(conntest.All)
			a.send(t, req(3))
			require.Equal(t, req(3), b.recv(t))
			b.stat(t, "PacketsWithReplayDetection", func(s Stats) uint64 { return s.PacketsWithReplayDetection }, 2)
			b.nothing(t)

			// Unknown SPI: the recorded packet with another SPI.
			bad := p.Clone()
			spiAt := 0
			if !s.encap {
				spiAt = esp.IPv4MinimumSize
				if s.proto == ProtocolAH {
					spiAt += 4
				}
			}
			binary.BigEndian.PutUint32(bad.Data[spiAt:], 0xdead)
			require.NoError(t, b.wire.Inject(bad))
			b.stat(t, "BadSPIPackets", func(s Stats) uint64 { return s.BadSPIPackets }, 1)
			b.nothing(t)

			st := b.d.Stats()
			require.Equal(t, uint64(2), st.ProtectedPacketsReceived)
			require.Zero(t, st.PacketsNotDecrypted)
			require.Zero(t, st.SelectorMismatches)
		})
	}
}

// TestInboundOddities: the SA is found by SPI, destination and protocol
// (AH with the SPI of an ESP SA is a Bad SPI packet); fragments, short
// headers and unknown endpoint kinds are malformed.
func TestInboundOddities(t *testing.T) {
	s := suiteByName(t, "3DES-SHA1 ESP transport")
	a, b, _ := newPair(t, nil)
	s.setup(t, a, b)
	a.send(t, echo(t, false, hostA, hostB, 1, 64))
	b.recv(t)
	orig := a.sent.Packets()[0]

	p := orig.Clone()
	esp.IPv4(p.Data).SetProtocol(esp.ProtocolAH)
	esp.IPv4(p.Data).UpdateChecksum()
	require.NoError(t, b.wire.Inject(p))
	b.stat(t, "BadSPIPackets", func(s Stats) uint64 { return s.BadSPIPackets }, 1)

	p = orig.Clone()
	tuntest.IPv4(p.Data).SetFragment(0, true)
	require.NoError(t, b.wire.Inject(p))
	short := orig.Clone()
	short.Data = short.Data[:esp.IPv4MinimumSize+4]
	binary.BigEndian.PutUint16(short.Data[2:], uint16(len(short.Data)))
	require.NoError(t, b.wire.Inject(short))
	require.NoError(t, b.wire.Inject(conntest.Packet{Data: orig.Data, Endpoint: conn.Endpoint{Kind: 7}}))
	b.stat(t, "MalformedPackets", func(s Stats) uint64 { return s.MalformedPackets }, 3)
	b.nothing(t)
	require.Zero(t, b.d.Stats().PacketsWithReplayDetection, "none reached the SA")
}

// TestHeaderFieldsAcrossTheWire: UDP-encapsulated transport mode, where
// the system consumes the outer header, still delivers the original TOS
// and TTL (DF and the ID are lost); a tunnel's outer header copies DSCP/ECN and DF from the inner
// one (RFC 4301 section 5.1.2.1).
func TestHeaderFieldsAcrossTheWire(t *testing.T) {
	for _, name := range []string{"AES-GCM-128 UDP transport", "AES-CBC-SHA1 ESP tunnel"} {
		s := suiteByName(t, name)
		t.Run(name, func(t *testing.T) {
			a, b, _ := newPair(t, nil)
			s.setup(t, a, b)
			p := echo(t, false, s.topo.aHost, s.topo.bHost, 1, 64)
			p[1] = 0xb9  // DSCP EF, ECT(1)
			p[6] |= 0x40 // DF
			tuntest.IPv4(p).SetTTL(17)
			a.send(t, p)
			want := append([]byte(nil), p...)
			if s.encap {
				// Documented loss: no socket reports a datagram's DF.
				want[6] &^= 0x40
				tuntest.IPv4(want).SetTTL(17) // recomputes the checksum
			}
			require.Equal(t, want, b.recv(t))
			w := a.sent.Packets()[0]
			if s.encap {
				require.Equal(t, uint8(0xb9), w.Endpoint.TOS)
				require.Equal(t, uint8(17), w.Endpoint.TTL)
				return
			}
			outer := esp.IPv4(w.Data)
			require.Equal(t, uint8(0xb9), outer.TOS())
			require.Equal(t, uint16(esp.IPv4FlagDF), outer.FlagsFragment())
			require.Equal(t, uint8(esp.DefaultTTL), outer.TTL())
		})
	}
}

// TestSelectorMismatch: a packet that opens under its SA but is not the
// traffic of the SA's inbound entry is dropped (RFC 4301 section 5.2).
func TestSelectorMismatch(t *testing.T) {
	s := suiteByName(t, "AES-CBC-SHA1 ESP tunnel")
	a, b, _ := newPair(t, nil)
	s.setup(t, a, b)
	// A tunnels a whole /16 with the SA; B's inbound entry takes a /24.
	a.policy(t, sadb.Entry{ID: 10, Action: ipsec.ActionNegotiate, Tunnel: gwB,
		Selector: sadb.Selector{Dir: sadb.Outbound, Src: netip.MustParsePrefix("10.1.0.0/16"), Dst: netB}})
	a.send(t, echo(t, false, netip.MustParseAddr("10.1.9.9"), inNetB, 1, 64))
	b.stat(t, "SelectorMismatches", func(s Stats) uint64 { return s.SelectorMismatches }, 1)
	b.nothing(t)

	// A stale SA: B's policy no longer names entry 21.
	b.policy(t, sadb.Entry{ID: 22, Action: ipsec.ActionNegotiate, Tunnel: gwB,
		Selector: sadb.Selector{Dir: sadb.Inbound, Src: netA, Dst: netB}})
	a.send(t, echo(t, false, inNetA, inNetB, 2, 64))
	b.stat(t, "SelectorMismatches", func(s Stats) uint64 { return s.SelectorMismatches }, 2)
	b.nothing(t)
	require.Equal(t, uint64(0), b.d.Stats().ProtectedPacketsReceived)

	// A packet B's policy permits in clear is accepted protected too; a
	// blocked one is not.
	b.policy(t, sadb.Entry{ID: 22, Action: ipsec.ActionNegotiate, Tunnel: gwB,
		Selector: sadb.Selector{Dir: sadb.Inbound, Src: netA, Dst: netB}},
		sadb.Entry{ID: 23, Action: ipsec.ActionPermit,
			Selector: sadb.Selector{Dir: sadb.Inbound, Src: netA, Dst: netB, Protocol: ipsec.ProtoICMP}})
	pkt := echo(t, false, inNetA, inNetB, 3, 64)
	a.send(t, pkt)
	require.Equal(t, pkt, b.recv(t), "permitted in clear, accepted protected")
	b.policy(t, sadb.Entry{ID: 22, Action: ipsec.ActionNegotiate, Tunnel: gwB,
		Selector: sadb.Selector{Dir: sadb.Inbound, Src: netA, Dst: netB}},
		sadb.Entry{ID: 23, Action: ipsec.ActionBlock,
			Selector: sadb.Selector{Dir: sadb.Inbound, Src: netA, Dst: netB, Protocol: ipsec.ProtoICMP}})
	a.send(t, echo(t, false, inNetA, inNetB, 4, 64))
	b.stat(t, "SelectorMismatches", func(s Stats) uint64 { return s.SelectorMismatches }, 3)
	b.nothing(t)
}

// TestNATTPort: IKE behind the Non-ESP Marker goes to OnIKE, keepalives
// are counted, SendIKE reaches the peer's OnIKE.
func TestNATTPort(t *testing.T) {
	a, b, _ := newPair(t, nil)
	ep := conn.Endpoint{Kind: conn.KindUDP,
		Local:  netip.MustParseAddrPort("10.0.0.1:4500"),
		Remote: netip.MustParseAddrPort("198.51.100.9:61000")}
	require.NoError(t, a.wire.Inject(conntest.Packet{Data: []byte{0, 0, 0, 0, 'i', 'k', 'e'}, Endpoint: ep}))
	require.NoError(t, a.wire.Inject(conntest.Packet{Data: []byte{0xff}, Endpoint: ep}))
	require.NoError(t, a.wire.Inject(conntest.Packet{Data: []byte{1, 2}, Endpoint: ep}))
	require.Equal(t, ikeMsg{ep, []byte("ike")}, a.nextIKE(t))
	a.stat(t, "KeepalivesReceived", func(s Stats) uint64 { return s.KeepalivesReceived }, 1)
	a.stat(t, "MalformedPackets", func(s Stats) uint64 { return s.MalformedPackets }, 1)
	require.Equal(t, uint64(1), a.d.Stats().IKEReceived)
	a.nothing(t)

	require.NoError(t, a.d.SendIKE(netip.AddrPortFrom(hostA, 0), netip.AddrPortFrom(hostB, 4500), []byte("hdr")))
	m := b.nextIKE(t)
	require.Equal(t, []byte("hdr"), m.msg)
	require.Equal(t, netip.AddrPortFrom(hostA, 4500), m.ep.Remote)
}

// TestLifecycle: states, errors after Close, and no goroutine left.
func TestLifecycle(t *testing.T) {
	before := runtime.NumGoroutine()
	clk := clocktest.New()
	wa, wb := conntest.NewPair(4)
	a := newNode(t, "a", wa, clk, nil)
	b := newNode(t, "b", wb, clk, nil)
	require.Equal(t, StateDown, a.d.State())
	require.NoError(t, a.d.Start())
	require.NoError(t, b.d.Start())
	require.ErrorIs(t, a.d.Start(), ErrStarted)
	require.Equal(t, StateUp, a.d.State())

	s := suiteByName(t, "AES-GCM-128 UDP transport")
	s.setup(t, a, b)
	a.send(t, echo(t, false, hostA, hostB, 1, 64))
	b.recv(t)
	// A packet held for an acquire when Close comes.
	a.policy(t, append(hosts.aSPD, mirrored(2, ipsec.ActionNegotiate, host(hostA), netip.MustParsePrefix("10.9.0.0/16"), ipsec.ProtoAny)...)...)
	a.send(t, echo(t, false, hostA, netip.MustParseAddr("10.9.0.1"), 1, 64))
	a.acquire(t)

	require.NoError(t, a.d.Close())
	require.NoError(t, b.d.Close())
	require.NoError(t, a.d.Close(), "Close twice")
	require.Equal(t, StateClosed, a.d.State())
	require.Equal(t, "closed", a.d.State().String())
	require.ErrorIs(t, a.d.Start(), ErrClosed)
	require.ErrorIs(t, a.d.AddSA(s.abOut(), s.params(hostA, 1, spiAB)), ErrClosed)
	require.Zero(t, a.d.sad.Len(), "Close deletes the SAs")
	require.Empty(t, a.d.sas.byID)
	require.Zero(t, a.d.pool.Outstanding(), "Close releases held packets")
	require.Equal(t, uint64(1), a.d.Stats().AcquireTimeoutDrops)
	<-wa.Closed()
	goroutines(t, before)
}

// TestCloseBeforeStart closes the devices without routines to wait for.
func TestCloseBeforeStart(t *testing.T) {
	wa, _ := conntest.NewPair(1)
	n := newNode(t, "a", wa, clocktest.New(), nil)
	require.NoError(t, n.d.Close())
	<-wa.Closed()
	<-n.tun.Closed()
}

func TestNewRejects(t *testing.T) {
	wa, _ := conntest.NewPair(1)
	tn := tuntest.NewChannelTUN("x", 0, 1)
	for _, cfg := range []Config{
		{Wire: wa},
		{TUN: tn.TUN()},
		{TUN: tn.TUN(), Wire: wa, QueueLen: -1},
	} {
		_, err := New(cfg)
		require.ErrorIs(t, err, ErrConfig)
	}
}

func TestAddSARejects(t *testing.T) {
	wa, _ := conntest.NewPair(1)
	n := newNode(t, "a", wa, clocktest.New(), nil)
	defer n.d.Close()
	s := suiteByName(t, "AES-CBC-SHA1 ESP tunnel")
	good := s.params(gwA, 10, spiAB)
	id := s.abOut()
	tests := []struct {
		name string
		id   sadb.ID
		p    func(*SAParams)
	}{
		{"no direction", sadb.ID{SPI: spiAB, Dst: gwB}, nil},
		{"IPv6 destination", sadb.ID{Dir: sadb.Outbound, SPI: spiAB, Dst: netip.MustParseAddr("2001:db8::1")}, nil},
		{"no mode", id, func(p *SAParams) { p.Mode = 0 }},
		{"no protocol", id, func(p *SAParams) { p.Protocol = 0 }},
		{"tunnel without local", id, func(p *SAParams) { p.Local = netip.Addr{} }},
		{"IPv6 local", id, func(p *SAParams) { p.Local = netip.MustParseAddr("2001:db8::2") }},
		{"short key", id, func(p *SAParams) { p.EncKey = p.EncKey[:3] }},
		{"reserved SPI", sadb.ID{Dir: sadb.Outbound, SPI: 255, Dst: gwB}, nil},
		{"AH with a cipher", id, func(p *SAParams) { p.Protocol = ProtocolAH }},
		{"AH in UDP", id, func(p *SAParams) { p.Protocol, p.Cipher, p.EncKey, p.Encap = ProtocolAH, ipsec.CipherNone, nil, true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			if tt.p != nil {
				tt.p(&p)
			}
			require.ErrorIs(t, n.d.AddSA(tt.id, p), ErrSAParams)
		})
	}
	require.NoError(t, n.d.AddSA(id, good))
	require.ErrorIs(t, n.d.AddSA(id, good), sadb.ErrExists)
	require.NoError(t, n.d.DeleteSA(id))
	require.ErrorIs(t, n.d.DeleteSA(id), sadb.ErrNotFound)
	require.Empty(t, n.d.sas.byID)
}

func TestEnumStrings(t *testing.T) {
	require.Equal(t, "ESP", ProtocolESP.String())
	require.Equal(t, "AH", ProtocolAH.String())
	require.Equal(t, "Protocol(9)", Protocol(9).String())
	require.Equal(t, "transport", ModeTransport.String())
	require.Equal(t, "tunnel", ModeTunnel.String())
	require.Equal(t, "Mode(0)", Mode(0).String())
	require.Equal(t, "down", StateDown.String())
	require.Equal(t, "up", StateUp.String())
	require.Equal(t, "State(7)", State(7).String())
}
