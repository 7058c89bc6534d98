package dataplane

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver"
	"github.com/gonetsh/gonetsh/driver/conn/conntest"
	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/driver/tun/tuntest"
	"github.com/gonetsh/gonetsh/engine/agent"
	"github.com/gonetsh/gonetsh/ipsec"
)

var (
	hostA = netip.MustParseAddr("192.0.2.1")
	hostB = netip.MustParseAddr("192.0.2.2")
)

// acquired records what the fake engine was asked.
type acquired struct {
	ref   uint64
	f     ipsec.QMFilter
	local netip.Addr
}

type fakeEngine chan acquired

func (e fakeEngine) Acquire(ref uint64, f ipsec.QMFilter, local netip.Addr) error {
	e <- acquired{ref, f, local}
	return nil
}

type side struct {
	p   *Plane
	tun *tuntest.ChannelTUN
	eng fakeEngine
}

func newSide(t *testing.T, w *conntest.Wire) *side {
	s := &side{p: New(nil), tun: tuntest.NewChannelTUN("t", 0, 4), eng: make(fakeEngine, 8)}
	cfg := driver.Config{TUN: s.tun.TUN(), Wire: w, TickInterval: 5 * time.Millisecond}
	s.p.Hooks(&cfg)
	d, err := driver.New(cfg)
	require.NoError(t, err)
	s.p.AttachDriver(d)
	s.p.AttachAcquirer(s.eng)
	require.NoError(t, d.Start())
	t.Cleanup(func() { d.Close() })
	return s
}

// mirroredSPD is the compiled form of one mirrored negotiate filter from
// local to remote (both directions), as engine/agent makes it.
func mirroredSPD(local, remote netip.Addr) *agent.SPD {
	sel := ipsec.Selector{Src: netip.PrefixFrom(local, 32), Dst: netip.PrefixFrom(remote, 32)}
	out := ipsec.QMFilter{Name: "f", Selector: sel, Direction: ipsec.Outbound, Mirrored: true,
		InboundAction: ipsec.ActionNegotiate, OutboundAction: ipsec.ActionNegotiate, QMPolicy: "q"}
	in := out
	in.Selector, in.Direction, in.Mirror = sel.Reverse(), ipsec.Inbound, true
	return &agent.SPD{QMSpecific: []ipsec.QMFilter{out, in}}
}

// TestAcquireToSAs drives the plane as the service does: a packet on A's
// TUN raises an acquire with the engine's filter; SAs installed through
// the ike.Kernel side (Ref from the acquire outbound, resolved by selector
// inbound) carry the held packet to B's TUN and B's answer back.
func TestAcquireToSAs(t *testing.T) {
	wa, wb := conntest.NewPair(4)
	a, b := newSide(t, wa), newSide(t, wb)
	require.NoError(t, a.p.SetPolicy(mirroredSPD(hostA, hostB)))
	require.NoError(t, b.p.SetPolicy(mirroredSPD(hostB, hostA)))

	ping, got := pingAcquires(t, a)
	require.Equal(t, hostA, got.local)
	require.Equal(t, ipsec.Outbound, got.f.Direction)
	require.Equal(t, "q", got.f.QMPolicy)
	require.NotZero(t, got.ref)

	// B: inbound from A, outbound to A (responder: Ref resolved).
	require.NoError(t, b.p.AddSA(transportSA(ipsec.Inbound, 0x100, hostA, hostB, 0)))
	require.NoError(t, b.p.AddSA(transportSA(ipsec.Outbound, 0x200, hostB, hostA, 0)))
	// A: inbound from B, outbound with the acquire's Ref.
	require.NoError(t, a.p.AddSA(transportSA(ipsec.Inbound, 0x200, hostB, hostA, 0)))
	require.NoError(t, a.p.AddSA(transportSA(ipsec.Outbound, 0x100, hostA, hostB, got.ref)))

	echoThrough(t, a, b, ping)

	require.NoError(t, a.p.DeleteSA(ipsec.Outbound, 0x100, hostB))
	require.NoError(t, a.p.DeleteSA(ipsec.Outbound, 0x100, hostB), "deleting an unknown SA is not an error")
}

func TestRefResolution(t *testing.T) {
	tab, err := compile(mirroredSPD(hostA, hostB).QMSpecific, nil, nil)
	require.NoError(t, err)
	sel := ipsec.Selector{Src: netip.PrefixFrom(hostB, 32), Dst: netip.PrefixFrom(hostA, 32)}
	require.Equal(t, uint64(2), tab.ref(ipsec.Inbound, sel))
	require.Equal(t, uint64(1), tab.ref(ipsec.Outbound, sel.Reverse()))
	// A narrower selector (one port) resolves to the entry its packets match.
	narrow := sel.Reverse()
	narrow.Protocol, narrow.DstPort = ipsec.ProtoTCP, 80
	require.Equal(t, uint64(1), tab.ref(ipsec.Outbound, narrow))
	other := ipsec.Selector{Src: netip.PrefixFrom(hostA, 32), Dst: netip.MustParsePrefix("198.51.100.9/32")}
	require.Zero(t, tab.ref(ipsec.Outbound, other))
	var none *table
	require.Zero(t, none.ref(ipsec.Outbound, sel))
}

// TestSoftFallback: a soft filter action (Request Security) whose
// negotiation fails gives the peer a soft association: A's next packet
// goes in clear and B, with no policy, gets it; a hard one keeps dropping.
func TestSoftFallback(t *testing.T) {
	for _, soft := range []bool{true, false} {
		wa, wb := conntest.NewPair(4)
		a, b := newSide(t, wa), newSide(t, wb)
		spd := mirroredSPD(hostA, hostB)
		for i := range spd.QMSpecific {
			spd.QMSpecific[i].Soft = soft
		}
		require.NoError(t, a.p.SetPolicy(spd))
		require.NoError(t, b.p.SetPolicy(nil))

		ping := func(seq uint16) []byte {
			p, err := tuntest.ICMPEcho(hostA, hostB, 9, seq, []byte("soft"))
			require.NoError(t, err)
			require.NoError(t, a.tun.Inject(p))
			return p
		}
		ping(1)
		got := <-a.eng
		a.p.FailAcquire(got.ref) // as the negotiator does when IKE gets no answer
		p2 := ping(2)
		if soft {
			pkt, err := b.tun.Next(5 * time.Second)
			require.NoError(t, err, "soft: the packet after the failure goes in clear")
			require.Equal(t, p2, pkt)
			continue
		}
		select {
		case got := <-a.eng:
			require.Equal(t, ipsec.Outbound, got.f.Direction, "hard: a new acquire, no clear text")
		case <-time.After(5 * time.Second):
			t.Fatal("hard: no new acquire")
		}
		_, err := b.tun.Next(200 * time.Millisecond)
		require.Error(t, err, "hard: nothing reaches B in clear")
	}
}

// TestDefaultResponseFilters: SAs a responder installs for traffic no
// filter covers (the default response rule) bring their own negotiate
// filters, inbound with InPass: B, with no policy, answers A inside the SA
// and still accepts clear text; when the last SA goes, so do the filters.
func TestDefaultResponseFilters(t *testing.T) {
	wa, wb := conntest.NewPair(4)
	a, b := newSide(t, wa), newSide(t, wb)
	require.NoError(t, a.p.SetPolicy(mirroredSPD(hostA, hostB)))
	require.NoError(t, b.p.SetPolicy(nil))
	key := []byte("0123456789abcdef0123")
	sa := func(dir ipsec.Direction, spi uint32, src, dst netip.Addr, ref uint64) ipsec.SAParams {
		sel := ipsec.Selector{Src: netip.PrefixFrom(src, 32), Dst: netip.PrefixFrom(dst, 32)}
		return ipsec.SAParams{Direction: dir, SPI: spi, Protocol: ipsec.SAESP, Mode: ipsec.ModeTransport,
			Src: src, Dst: dst, Cipher: ipsec.CipherAESGCM128, EncKey: key, Selector: sel, Ref: ref}
	}
	require.NoError(t, b.p.AddSA(sa(ipsec.Inbound, 0x100, hostA, hostB, 0)))
	require.NoError(t, b.p.AddSA(sa(ipsec.Outbound, 0x200, hostB, hostA, 0)))
	require.Len(t, b.p.table().entries, 2, "the default response's filter pair")
	require.NoError(t, a.p.AddSA(sa(ipsec.Inbound, 0x200, hostB, hostA, 0)))
	require.NoError(t, a.p.AddSA(sa(ipsec.Outbound, 0x100, hostA, hostB, 0)))

	reply, err := tuntest.ICMPEchoReply(hostB, hostA, 7, 1, []byte("r"))
	require.NoError(t, err)
	require.NoError(t, b.tun.Inject(reply))
	pkt, err := a.tun.Next(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, reply, pkt, "B's answer crossed inside the SA (A drops clear text)")
	require.Equal(t, uint64(1), b.p.Driver().Stats().ProtectedPacketsSent)

	require.NoError(t, b.p.DeleteSA(ipsec.Outbound, 0x200, hostA))
	require.Len(t, b.p.table().entries, 2, "the inbound SA still uses them")
	require.NoError(t, b.p.DeleteSA(ipsec.Inbound, 0x100, hostB))
	require.Empty(t, b.p.table().entries, "the last SA took the filters")
}

// TestNarrow: a transport filter from me to any (the built-in All IP
// Traffic) is cut to the hosts of the packet that raised the acquire, so
// that the engine finds a peer; a host-to-host filter is left alone.
func TestNarrow(t *testing.T) {
	all := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	p := sadb.Fields{Src: hostA, Dst: hostB, Protocol: ipsec.ProtoTCP, SrcPort: 1000, DstPort: 80}
	generic := ipsec.QMFilter{Name: "all", Selector: ipsec.Selector{Src: netip.PrefixFrom(hostA, 32), Dst: all}}
	got := narrow(generic, p)
	require.Equal(t, netip.PrefixFrom(hostA, 32), got.Selector.Src)
	require.Equal(t, netip.PrefixFrom(hostB, 32), got.Selector.Dst)
	require.Equal(t, ipsec.ProtoAny, got.Selector.Protocol, "protocol and ports stay the filter's")
	require.Equal(t, hostB, got.DstAddr.IP)

	host := ipsec.QMFilter{Name: "host", Selector: ipsec.Selector{Src: netip.PrefixFrom(hostA, 32), Dst: netip.PrefixFrom(hostB, 32)}}
	require.Equal(t, host, narrow(host, sadb.Fields{Src: hostA, Dst: netip.MustParseAddr("192.0.2.9")}))
}

// transportSA is an ESP transport SA between two hosts with a fixed key.
func transportSA(dir ipsec.Direction, spi uint32, src, dst netip.Addr, ref uint64) ipsec.SAParams {
	sel := ipsec.Selector{Src: netip.PrefixFrom(src, 32), Dst: netip.PrefixFrom(dst, 32)}
	return ipsec.SAParams{Direction: dir, SPI: spi, Protocol: ipsec.SAESP, Mode: ipsec.ModeTransport,
		Src: src, Dst: dst, Encap: true, Cipher: ipsec.CipherAESGCM128, EncKey: []byte("0123456789abcdef0123"),
		Selector: sel, Ref: ref}
}

// echoThrough checks that ping, held on A, reaches B's TUN and that B's
// reply reaches A's.
func echoThrough(t *testing.T, a, b *side, ping []byte) {
	t.Helper()
	pkt, err := b.tun.Next(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, ping, pkt)
	reply, err := tuntest.ICMPEchoReply(hostB, hostA, 7, 1, []byte("hello"))
	require.NoError(t, err)
	require.NoError(t, b.tun.Inject(reply))
	pkt, err = a.tun.Next(5 * time.Second)
	require.NoError(t, err)
	require.Equal(t, reply, pkt)
}

// pingAcquires injects an echo from A to B on A's TUN and returns it with
// the acquire it raised.
func pingAcquires(t *testing.T, a *side) ([]byte, acquired) {
	t.Helper()
	ping, err := tuntest.ICMPEcho(hostA, hostB, 7, 1, []byte("hello"))
	require.NoError(t, err)
	require.NoError(t, a.tun.Inject(ping))
	select {
	case got := <-a.eng:
		return ping, got
	case <-time.After(5 * time.Second):
		t.Fatal("no acquire")
	}
	return nil, acquired{}
}

// TestNarrowPerPeer: under a generic filter (this host to any, as the
// built-in All IP Traffic), each peer gets its own entry, acquire and SA:
// B's SA never carries C's traffic, and the first packet to B is held and
// sent once B's SA is in.
func TestNarrowPerPeer(t *testing.T) {
	wa, wb := conntest.NewPair(4)
	a, b := newSide(t, wa), newSide(t, wb)
	all := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	out := ipsec.QMFilter{Name: "all", Selector: ipsec.Selector{Src: netip.PrefixFrom(hostA, 32), Dst: all},
		Direction: ipsec.Outbound, Mirrored: true, InboundAction: ipsec.ActionNegotiate, OutboundAction: ipsec.ActionNegotiate, QMPolicy: "q"}
	in := out
	in.Selector, in.Direction, in.Mirror = out.Selector.Reverse(), ipsec.Inbound, true
	require.NoError(t, a.p.SetPolicy(&agent.SPD{QMSpecific: []ipsec.QMFilter{out, in}}))
	require.NoError(t, b.p.SetPolicy(mirroredSPD(hostB, hostA)))

	hostC := netip.MustParseAddr("192.0.2.3")
	var refs []uint64
	for i, peer := range []netip.Addr{hostB, hostC} {
		p, err := tuntest.ICMPEcho(hostA, peer, 5, uint16(i), []byte("x"))
		require.NoError(t, err)
		require.NoError(t, a.tun.Inject(p))
		got := <-a.eng
		require.Equal(t, netip.PrefixFrom(peer, 32), got.f.Selector.Dst)
		require.NotEqual(t, uint64(1), got.ref, "not the generic entry")
		refs = append(refs, got.ref)
	}
	require.NotEqual(t, refs[0], refs[1])

	require.NoError(t, b.p.AddSA(transportSA(ipsec.Inbound, 0x100, hostA, hostB, 0)))
	require.NoError(t, a.p.AddSA(transportSA(ipsec.Outbound, 0x100, hostA, hostB, refs[0])))
	pkt, err := b.tun.Next(5 * time.Second)
	require.NoError(t, err, "the held packet to B leaves with B's SA")
	require.Equal(t, hostB, tuntest.IPv4(pkt).Dst())
	require.Equal(t, uint64(1), a.p.Driver().Stats().ProtectedPacketsSent, "C's packet is not sent on B's SA")
}
