package ike

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
)

// quickModeFrom reports whether msg is a quick mode message from the
// initiator A.
func quickModeFrom(from netip.AddrPort, msg []byte) bool {
	h, err := DecodeHeader(msg)
	return err == nil && from.Addr() == addrA && h.Exchange == exchQuick
}

// TestResponderInboundWithQM2: the responder installs its inbound SA when
// it sends QM2, so that ESP the initiator sends right after HASH(3) finds
// it even when HASH(3) is late; the outbound SA waits for HASH(3). If
// HASH(3) never comes, the inbound SA goes when the exchange is given up.
func TestResponderInboundWithQM2(t *testing.T) {
	a, b, mn, clk := newPair(t, pairOpts{})
	qm := 0
	mn.drop = func(from, to netip.AddrPort, msg []byte) bool {
		if quickModeFrom(from, msg) {
			qm++
			return qm >= 2 // QM3 and its retransmissions are lost
		}
		return false
	}
	acquire(a, b, 1, false)
	if got := len(a.kernel.list()); got != 2 {
		t.Fatalf("initiator has %d SAs after sending QM3, want 2", got)
	}
	in, out := b.kernel.byDir(ipsec.Inbound), b.kernel.byDir(ipsec.Outbound)
	if len(in) != 1 || len(out) != 0 {
		t.Fatalf("responder before QM3: %d inbound, %d outbound SAs; want 1, 0", len(in), len(out))
	}
	if ao := a.kernel.byDir(ipsec.Outbound); in[0].SPI != ao[0].SPI {
		t.Fatalf("responder's inbound SPI %#x, initiator's outbound %#x", in[0].SPI, ao[0].SPI)
	}
	// The initiator does not retransmit QM3; the responder gives up.
	for i := 0; i < 20 && len(b.kernel.list()) != 0; i++ {
		clk.Advance(10 * time.Second)
		b.n.Housekeep()
	}
	if got := b.kernel.list(); len(got) != 0 {
		t.Fatalf("responder kept %d SAs of an exchange that never completed", len(got))
	}
	if s := b.n.Stats(); s.IKEQuickMode != 0 || s.NegotiationFailures != 1 {
		t.Errorf("responder stats: quick modes %d, negotiation failures %d; want 0, 1", s.IKEQuickMode, s.NegotiationFailures)
	}
}

// With HASH(3) on time the responder ends with the pair, inbound first.
func TestResponderOutboundAfterQM3(t *testing.T) {
	a, b, _, _ := newPair(t, pairOpts{})
	acquire(a, b, 1, false)
	checkPaired(t, a, b)
	checkPaired(t, b, a)
	if len(b.n.QMSAs()) != 1 {
		t.Fatalf("responder lists %d quick mode SAs", len(b.n.QMSAs()))
	}
}

// An acquire for traffic the peer is negotiating with us (our answer to
// its first packet while its quick mode is between QM2 and QM3) joins
// that exchange: no second quick mode, and the responder's outbound SA
// carries the acquire's Ref. If the exchange fails, so does the acquire.
func TestAcquireJoinsResponderExchange(t *testing.T) {
	for _, complete := range []bool{true, false} {
		a, b, mn, clk := newPair(t, pairOpts{})
		var held [][]byte
		mn.drop = func(from, to netip.AddrPort, msg []byte) bool {
			if quickModeFrom(from, msg) {
				h, _ := DecodeHeader(msg)
				if len(held) == 0 && h.Exchange == exchQuick && from.Addr() == addrA && len(a.n.QMSAs()) == 1 {
					held = append(held, append([]byte(nil), msg...)) // QM3: hold it
					return true
				}
			}
			return false
		}
		acquire(a, b, 1, false)
		if len(held) != 1 {
			t.Fatalf("QM3 not held (%d)", len(held))
		}
		// B answers A's first packet: its own acquire for the mirror image.
		acquire(b, a, 77, false)
		if s := b.n.Stats(); s.ActiveAcquire != 1 || s.TotalAcquire != 1 {
			t.Fatalf("B stats after the acquire: %+v", s)
		}
		if complete {
			b.n.Receive(netip.AddrPortFrom(addrB, 500), netip.AddrPortFrom(addrA, 500), held[0])
			out := b.kernel.byDir(ipsec.Outbound)
			if len(out) != 1 || out[0].Ref != 77 {
				t.Fatalf("B's outbound SAs %+v; want one with Ref 77", out)
			}
			if s := b.n.Stats(); s.IKEQuickMode != 1 || s.ActiveAcquire != 0 || s.AcquireFailures != 0 {
				t.Errorf("B stats: %+v", s)
			}
			if len(b.kernel.failedRefs()) != 0 {
				t.Errorf("failed refs %v", b.kernel.failedRefs())
			}
			continue
		}
		for i := 0; i < 20 && len(b.kernel.list()) != 0; i++ {
			clk.Advance(10 * time.Second)
			b.n.Housekeep()
		}
		if refs := b.kernel.failedRefs(); len(refs) != 1 || refs[0] != 77 {
			t.Errorf("failed refs %v; want [77]", refs)
		}
	}
}

// TestSoftFallback: an acquire for a soft filter fails after
// SoftFallbackAfter when the peer never answers MM1 (counted as a soft
// association); a hard one keeps waiting for main mode's give-up.
func TestSoftFallback(t *testing.T) {
	a, b, mn, clk := newPair(t, pairOpts{})
	mn.drop = func(from, to netip.AddrPort, msg []byte) bool { return true } // B is not there
	soft := ipsec.QMFilter{Name: "soft", Direction: ipsec.Outbound, Soft: true,
		Selector: ipsec.Selector{Src: netip.PrefixFrom(addrA, 32), Dst: netip.PrefixFrom(addrB, 32)}}
	hard := soft
	hard.Name, hard.Soft, hard.Selector.Protocol = "hard", false, ipsec.ProtoTCP
	a.n.Acquire(Acquire{Ref: 1, Local: addrA, Remote: b.addr, Filter: soft, Policy: a.policy.qm})
	a.n.Acquire(Acquire{Ref: 2, Local: addrA, Remote: b.addr, Filter: hard, Policy: a.policy.qm})
	clk.Advance(SoftFallbackAfter - time.Millisecond)
	a.n.Housekeep()
	if refs := a.kernel.failedRefs(); len(refs) != 0 {
		t.Fatalf("failed before %v: %v", SoftFallbackAfter, refs)
	}
	clk.Advance(time.Millisecond)
	a.n.Housekeep()
	if refs := a.kernel.failedRefs(); len(refs) != 1 || refs[0] != 1 {
		t.Fatalf("failed refs %v; want [1] (the soft one)", refs)
	}
	if s := a.n.Stats(); s.SoftAssociations != 1 || s.ActiveAcquire != 1 {
		t.Errorf("stats: soft associations %d, active acquires %d; want 1, 1", s.SoftAssociations, s.ActiveAcquire)
	}
	for i := 0; i < 100 && len(a.kernel.failedRefs()) < 2; i++ {
		clk.Advance(time.Second)
		a.n.Housekeep()
	}
	if refs := a.kernel.failedRefs(); len(refs) != 2 || refs[1] != 2 {
		t.Fatalf("failed refs %v; want [1 2] after main mode gives up", refs)
	}
}

// TestBundleSPIs: the two SAs of an AH+ESP bundle name each other in each
// direction, and the peer's twins name the same SPIs.
func TestBundleSPIs(t *testing.T) {
	a, b, _, _ := newPair(t, pairOpts{qmOffers: []ipsec.QMOffer{{AH: ipsec.HashSHA1, ESP: true, ESPCipher: ipsec.Cipher3DES, ESPAuth: ipsec.HashSHA1}}})
	acquire(a, b, 1, false)
	for _, n := range []*node{a, b} {
		for _, dir := range []ipsec.Direction{ipsec.Inbound, ipsec.Outbound} {
			sas := n.kernel.byDir(dir)
			if len(sas) != 2 {
				t.Fatalf("%v: %d SAs", dir, len(sas))
			}
			if sas[0].BundleSPI != sas[1].SPI || sas[1].BundleSPI != sas[0].SPI || sas[0].Protocol == sas[1].Protocol {
				t.Errorf("%v SAs do not name each other: %+v", dir, sas)
			}
		}
	}
}

// An acquire that arrives after the SA pair for its traffic is in (the
// data path raised it just before) starts nothing.
func TestAcquireAlreadyServed(t *testing.T) {
	a, b, mn, _ := newPair(t, pairOpts{})
	acquire(a, b, 1, false)
	sent := mn.sent
	acquire(b, a, 5, false) // B's answer to A's first packet, late
	if mn.sent != sent || len(b.n.QMSAs()) != 1 {
		t.Fatalf("a second negotiation: %d datagrams, %d SA pairs", mn.sent-sent, len(b.n.QMSAs()))
	}
	if s := b.n.Stats(); s.ActiveAcquire != 0 || s.TotalAcquire != 1 || s.AcquireFailures != 0 {
		t.Errorf("B stats %+v", s)
	}
}
