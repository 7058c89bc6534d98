package ike

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
)

func TestMainQuickPSK(t *testing.T) {
	a, b, _, _ := newPair(t, pairOpts{})
	acquire(a, b, 7, true)
	checkPaired(t, a, b)
	checkPaired(t, b, a)
	if len(a.kernel.list()) != 2 || len(b.kernel.list()) != 2 {
		t.Fatalf("SAs: %d at A, %d at B", len(a.kernel.list()), len(b.kernel.list()))
	}
	out := a.kernel.byDir(ipsec.Outbound)[0]
	if out.Ref != 7 || out.Mode != ipsec.ModeTunnel || out.Encap {
		t.Errorf("A outbound: %+v", out)
	}
	if out.Selector != (ipsec.Selector{Src: subnetA, Dst: subnetB}) {
		t.Errorf("A outbound selector %v", out.Selector)
	}
	bo := b.kernel.byDir(ipsec.Outbound)[0]
	if bo.Ref != 0 || bo.Selector != (ipsec.Selector{Src: subnetB, Dst: subnetA}) {
		t.Errorf("B outbound: %v ref %d", bo.Selector, bo.Ref)
	}
	if out.HardLife != ipsec.DefaultQMLifeSec*time.Second || out.SoftLife >= out.HardLife || out.SoftLife < out.HardLife*8/10 {
		t.Errorf("lifetimes %v/%v", out.SoftLife, out.HardLife)
	}
	sa, sb := a.n.Stats(), b.n.Stats()
	if sa.IKEMainMode != 1 || sb.IKEMainMode != 1 || sa.IKEQuickMode != 1 || sb.IKEQuickMode != 1 {
		t.Errorf("stats A %+v B %+v", sa, sb)
	}
	if sa.ActiveAcquire != 0 || sa.TotalAcquire != 1 || sa.KeyAdditions != 2 {
		t.Errorf("acquire stats %+v", sa)
	}
	if len(a.n.MMSAs()) != 1 || len(b.n.MMSAs()) != 1 || len(a.n.QMSAs()) != 1 || len(b.n.QMSAs()) != 1 {
		t.Fatalf("SA lists")
	}
	qa, qb := a.n.QMSAs()[0], b.n.QMSAs()[0]
	if qa.SPIIn != qb.SPIOut || qa.SPIOut != qb.SPIIn {
		t.Errorf("QMSA SPIs %+v %+v", qa, qb)
	}
	// A second acquire reuses the main mode SA.
	acquire(a, b, 8, true)
	if got := a.n.Stats().IKEMainMode; got != 1 {
		t.Errorf("main modes %d", got)
	}
	if len(a.n.QMSAs()) != 2 {
		t.Errorf("quick modes %d", len(a.n.QMSAs()))
	}
}

func TestBothDirections(t *testing.T) {
	a, b, _, _ := newPair(t, pairOpts{})
	acquire(b, a, 1, false)
	checkPaired(t, a, b)
	checkPaired(t, b, a)
	if o := b.kernel.byDir(ipsec.Outbound)[0]; o.Mode != ipsec.ModeTransport {
		t.Errorf("mode %v", o.Mode)
	}
}

func TestSuites(t *testing.T) {
	var cases []pairOpts
	for _, g := range []ipsec.DHGroup{ipsec.DHGroup1, ipsec.DHGroup2, ipsec.DHGroup14, ipsec.DHGroup19, ipsec.DHGroup20} {
		cases = append(cases, pairOpts{mmOffers: []ipsec.MMOffer{{Cipher: ipsec.Cipher3DES, Hash: ipsec.HashSHA1, Group: g}}})
	}
	for _, c := range []ipsec.Cipher{ipsec.CipherDES, ipsec.Cipher3DES, ipsec.CipherAES128, ipsec.CipherAES192, ipsec.CipherAES256} {
		for _, h := range []ipsec.Hash{ipsec.HashMD5, ipsec.HashSHA1, ipsec.HashSHA256} {
			cases = append(cases, pairOpts{
				mmOffers: []ipsec.MMOffer{{Cipher: c, Hash: h, Group: ipsec.DHGroup2}},
				qmOffers: []ipsec.QMOffer{{ESP: true, ESPCipher: c, ESPAuth: h}},
			})
		}
	}
	for _, c := range []ipsec.Cipher{ipsec.CipherAESGCM128, ipsec.CipherAESGCM256} {
		cases = append(cases, pairOpts{qmOffers: []ipsec.QMOffer{{ESP: true, ESPCipher: c}}})
	}
	cases = append(cases,
		pairOpts{qmOffers: []ipsec.QMOffer{{AH: ipsec.HashSHA1}}},
		pairOpts{qmOffers: []ipsec.QMOffer{{AH: ipsec.HashMD5, ESP: true, ESPCipher: ipsec.CipherAES256, ESPAuth: ipsec.HashSHA256}}},
		pairOpts{pfs: true},
		pairOpts{pfs: true, pfsGroup: ipsec.DHGroup14},
		pairOpts{pfs: true, pfsGroup: ipsec.DHGroup19, mmOffers: []ipsec.MMOffer{{Cipher: ipsec.CipherAES128, Hash: ipsec.HashSHA256, Group: ipsec.DHGroup14}}},
	)
	for _, o := range cases {
		name := fmt.Sprintf("%v_%v_pfs%v%d", o.mmOffers, o.qmOffers, o.pfs, o.pfsGroup)
		t.Run(strings.ReplaceAll(name, " ", ""), func(t *testing.T) {
			a, b, _, _ := newPair(t, o)
			acquire(a, b, 1, true)
			checkPaired(t, a, b)
			checkPaired(t, b, a)
			want := 2
			if len(o.qmOffers) == 1 && o.qmOffers[0].AH != ipsec.HashNone && o.qmOffers[0].ESP {
				want = 4
			}
			if n := len(a.kernel.list()); n != want {
				t.Fatalf("%d SAs at A, want %d", n, want)
			}
			if q := a.n.QMSAs()[0]; q.PFS != o.pfs {
				t.Errorf("PFS %v", q.PFS)
			}
		})
	}
}

// The responder takes the first of the initiator's offers it accepts.
func TestResponderChoice(t *testing.T) {
	a, b, _, _ := newPair(t, pairOpts{
		mmOffers: []ipsec.MMOffer{{Cipher: ipsec.CipherAES256, Hash: ipsec.HashSHA256, Group: ipsec.DHGroup14}, {Cipher: ipsec.Cipher3DES, Hash: ipsec.HashSHA1, Group: ipsec.DHGroup2}},
		qmOffers: []ipsec.QMOffer{{ESP: true, ESPCipher: ipsec.CipherAES256, ESPAuth: ipsec.HashSHA1}, {ESP: true, ESPCipher: ipsec.Cipher3DES, ESPAuth: ipsec.HashMD5}},
	})
	b.policy.mm.Offers = b.policy.mm.Offers[1:]
	b.policy.qm.Offers = b.policy.qm.Offers[1:]
	acquire(a, b, 1, true)
	checkPaired(t, a, b)
	if m := a.n.MMSAs()[0]; m.Offer != b.policy.mm.Offers[0] {
		t.Errorf("main mode offer %v", m.Offer)
	}
	if o := a.kernel.byDir(ipsec.Outbound)[0]; o.Cipher != ipsec.Cipher3DES || o.Hash != ipsec.HashMD5 {
		t.Errorf("ESP %v %v", o.Cipher, o.Hash)
	}
}

func TestNoProposalChosen(t *testing.T) {
	a, b, _, _ := newPair(t, pairOpts{})
	b.policy.mm.Offers = []ipsec.MMOffer{{Cipher: ipsec.CipherAES128, Hash: ipsec.HashSHA1, Group: ipsec.DHGroup14}}
	acquire(a, b, 9, true)
	if len(a.n.MMSAs()) != 0 || len(b.n.MMSAs()) != 0 {
		t.Fatal("main mode established")
	}
	if got := a.kernel.failed; len(got) != 1 || got[0] != 9 {
		t.Errorf("FailAcquire %v", got)
	}
	if a.n.Stats().NegotiationFailures == 0 || b.n.Stats().NegotiationFailures == 0 {
		t.Errorf("failures not counted")
	}
}

func TestWrongPSK(t *testing.T) {
	a, b, _, _ := newPair(t, pairOpts{pskA: "one", pskB: "two"})
	acquire(a, b, 3, true)
	if len(a.kernel.list()) != 0 || len(b.kernel.list()) != 0 {
		t.Fatal("SAs installed")
	}
	if len(a.n.MMSAs()) != 0 || len(b.n.MMSAs()) != 0 {
		t.Fatal("main mode established")
	}
	if a.n.Stats().AuthenticationFailures != 1 || b.n.Stats().AuthenticationFailures != 1 {
		t.Errorf("auth failures A %d B %d", a.n.Stats().AuthenticationFailures, b.n.Stats().AuthenticationFailures)
	}
	if got := a.kernel.failed; len(got) != 1 || got[0] != 3 {
		t.Errorf("FailAcquire %v", got)
	}
}

func TestKerberosOnly(t *testing.T) {
	a, b, _, _ := newPair(t, pairOpts{})
	a.policy.auth = []ipsec.AuthMethod{{Kind: ipsec.AuthKerberos}}
	acquire(a, b, 4, true)
	if s := a.n.Stats(); s.AuthenticationFailures != 1 || s.AcquireFailures != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestNATT(t *testing.T) {
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprint("force=", force), func(t *testing.T) {
			a, b, _, _ := newPair(t, pairOpts{forceEncap: force})
			acquire(a, b, 1, true)
			checkPaired(t, a, b)
			o := a.kernel.byDir(ipsec.Outbound)[0]
			if o.Encap != force {
				t.Fatalf("encap %v", o.Encap)
			}
			if force && (o.SrcPort != PortNATT || o.DstPort != PortNATT) {
				t.Errorf("ports %d %d", o.SrcPort, o.DstPort)
			}
			m := a.n.MMSAs()[0]
			if !m.NATT || m.NATBehindLocal || m.NATBehindPeer {
				t.Errorf("MMSA %+v", m)
			}
			if force && m.Local.Port() != PortNATT {
				t.Errorf("no float: %v", m.Local)
			}
		})
	}
}

// natNet rewrites A's source address as a NAT would.
func TestNATDetected(t *testing.T) {
	a, b, mn, _ := newPair(t, pairOpts{})
	public := netip.MustParseAddr("203.0.113.9")
	mn.nodes[public] = a.n
	mn.drop = func(from, to netip.AddrPort, msg []byte) bool {
		if from.Addr() == addrA {
			// Deliver as if from the NAT's public address.
			b.n.Receive(to, netip.AddrPortFrom(public, from.Port()+1000), msg)
			return true
		}
		return false
	}
	acquire(a, b, 1, true)
	if len(b.n.MMSAs()) != 1 || len(a.n.MMSAs()) != 1 {
		t.Fatalf("MM SAs %d %d", len(a.n.MMSAs()), len(b.n.MMSAs()))
	}
	ma, mb := a.n.MMSAs()[0], b.n.MMSAs()[0]
	if !ma.NATBehindLocal || !mb.NATBehindPeer {
		t.Errorf("NAT not detected: A %+v B %+v", ma, mb)
	}
	o := a.kernel.byDir(ipsec.Outbound)
	if len(o) != 1 || !o[0].Encap {
		t.Fatalf("A outbound %+v", o)
	}
	bi := b.kernel.byDir(ipsec.Inbound)
	if len(bi) != 1 || bi[0].SrcPort != PortNATT+1000 || bi[0].Src != public {
		t.Errorf("B inbound %+v", bi)
	}
}

func TestRetransmitAndGiveUp(t *testing.T) {
	a, b, mn, clk := newPair(t, pairOpts{})
	drops := 0
	mn.drop = func(from, to netip.AddrPort, msg []byte) bool {
		h, _ := DecodeHeader(msg)
		// Lose the first two MM3s.
		if from.Addr() == addrA && h.Exchange == exchIdentity && h.CookieR != ([8]byte{}) && h.Flags&flagEncryption == 0 && drops < 2 {
			drops++
			return true
		}
		return false
	}
	acquire(a, b, 1, true)
	for i := 0; i < 10 && len(a.n.QMSAs()) == 0; i++ {
		clk.Advance(5 * time.Second)
		a.n.Housekeep()
	}
	if len(a.n.QMSAs()) != 1 {
		t.Fatal("no SAs after retransmission")
	}
	// Now the peer is gone: the acquire fails after the tries.
	mn.mu.Lock()
	delete(mn.nodes, addrB)
	mn.mu.Unlock()
	a.n.Flush()
	acquire(a, b, 2, true)
	sent := mn.sent
	for i := 0; i < 20; i++ {
		clk.Advance(10 * time.Second)
		a.n.Housekeep()
	}
	if got := a.kernel.failed; len(got) != 1 || got[0] != 2 {
		t.Errorf("FailAcquire %v", got)
	}
	if n := mn.sent - sent; n != 5 {
		t.Errorf("%d retransmissions", n)
	}
}

// Lost answers: the initiator retransmits and the responder replays
// its cached reply, for MM2, MM4, MM6 and QM2.
func TestDuplicateReplayed(t *testing.T) {
	for _, lose := range []string{"MM2", "MM4", "MM6", "QM2"} {
		t.Run(lose, func(t *testing.T) {
			a, b, mn, clk := newPair(t, pairOpts{})
			seen := map[string]int{}
			dropped := false
			mn.drop = func(from, to netip.AddrPort, msg []byte) bool {
				if from.Addr() != addrB {
					return false
				}
				h, _ := DecodeHeader(msg)
				name := "QM2"
				if h.Exchange == exchIdentity {
					seen["MM"]++
					name = fmt.Sprintf("MM%d", 2*seen["MM"])
				}
				if name == lose && !dropped {
					dropped = true
					return true
				}
				return false
			}
			acquire(a, b, 1, true)
			if len(a.n.QMSAs()) != 0 {
				t.Fatal("done despite the loss")
			}
			clk.Advance(2 * time.Second)
			a.n.Housekeep()
			if len(a.n.QMSAs()) != 1 || len(b.n.QMSAs()) != 1 {
				t.Fatalf("after retransmission: A %d, B %d", len(a.n.QMSAs()), len(b.n.QMSAs()))
			}
			checkPaired(t, a, b)
			if s := b.n.Stats(); s.IKEMainMode != 1 || s.IKEQuickMode != 1 || s.InvalidCookiesReceived != 0 || s.InvalidPacketsReceived != 0 {
				t.Errorf("B stats %+v", s)
			}
		})
	}
}

func TestDeleteBothWays(t *testing.T) {
	a, b, _, _ := newPair(t, pairOpts{})
	acquire(a, b, 1, true)
	spi := a.n.QMSAs()[0].SPIIn
	a.n.Expire(ipsec.Inbound, spi, addrA, true)
	if len(a.kernel.list()) != 0 || len(b.kernel.list()) != 0 {
		t.Fatalf("SAs left: A %d B %d", len(a.kernel.list()), len(b.kernel.list()))
	}
	acquire(b, a, 2, true)
	if len(a.kernel.list()) != 2 {
		t.Fatal("no SAs")
	}
	b.n.Flush()
	if len(a.kernel.list()) != 0 || len(a.n.MMSAs()) != 0 {
		t.Fatalf("A kept SAs after B's flush: %d %d", len(a.kernel.list()), len(a.n.MMSAs()))
	}
}

func TestRekey(t *testing.T) {
	a, b, _, clk := newPair(t, pairOpts{qmOffers: []ipsec.QMOffer{{ESP: true, ESPCipher: ipsec.CipherAES128, ESPAuth: ipsec.HashSHA1, LifeSec: 600}}})
	acquire(a, b, 1, true)
	old := a.n.QMSAs()[0]
	clk.Advance(560 * time.Second)
	a.n.Housekeep()
	// Both pairs for RetireAfter (the peer may still send on the old
	// one), then the old pair goes with a DELETE.
	if qs := a.n.QMSAs(); len(qs) != 2 || len(a.kernel.list()) != 4 || len(b.kernel.list()) != 4 {
		t.Fatalf("just after the rekey: %d pairs, SAs A %d B %d", len(qs), len(a.kernel.list()), len(b.kernel.list()))
	}
	clk.Advance(RetireAfter)
	a.n.Housekeep()
	qs := a.n.QMSAs()
	if len(qs) != 1 || qs[0].SPIIn == old.SPIIn {
		t.Fatalf("after rekey: %+v", qs)
	}
	if len(a.kernel.list()) != 2 || len(b.kernel.list()) != 2 {
		t.Fatalf("SAs: A %d B %d", len(a.kernel.list()), len(b.kernel.list()))
	}
	checkPaired(t, a, b)
	checkPaired(t, b, a)
	if a.n.Stats().KeyUpdates != 1 {
		t.Errorf("key updates %d", a.n.Stats().KeyUpdates)
	}
	// The new SAs went in before the old ones went out.
	if a.kernel.deleted[0] != saKey(ipsec.Inbound, old.SPIIn, addrA) {
		t.Errorf("deleted %v", a.kernel.deleted)
	}
}

func TestDPD(t *testing.T) {
	a, b, mn, clk := newPair(t, pairOpts{cfg: func(c *Config) { c.DPDDelay = 10 * time.Second }})
	acquire(a, b, 1, true)
	clk.Advance(11 * time.Second)
	a.n.Housekeep()
	if len(a.n.MMSAs()) != 1 || a.n.mms[a.n.MMSAs()[0].CookieI].dpd.outstanding {
		t.Fatal("R-U-THERE not acknowledged")
	}
	mn.mu.Lock()
	delete(mn.nodes, addrB)
	mn.mu.Unlock()
	for i := 0; i < 20; i++ {
		clk.Advance(10 * time.Second)
		a.n.Housekeep()
	}
	if len(a.n.MMSAs()) != 0 || len(a.kernel.list()) != 0 {
		t.Errorf("dead peer kept: %d MM, %d SAs", len(a.n.MMSAs()), len(a.kernel.list()))
	}
}

func TestHalfOpenBound(t *testing.T) {
	a, b, mn, _ := newPair(t, pairOpts{cfg: func(c *Config) { c.HalfOpenPerPeer = 3 }})
	mn.drop = func(from, to netip.AddrPort, msg []byte) bool { return from.Addr() == addrB }
	for i := 0; i < 5; i++ {
		acquire(a, b, uint64(i), true)
		a.n.Flush()
	}
	_ = a
	if n := len(b.n.mms); n != 3 {
		t.Errorf("%d half-open at B", n)
	}
}

func TestInitialContact(t *testing.T) {
	a, b, mn, _ := newPair(t, pairOpts{})
	acquire(a, b, 1, true)
	// A restarts: a fresh Negotiator at A's address.
	a2k := newFakeKernel()
	n2, err := New(Config{Kernel: a2k, Policy: a.policy, Transport: memTransport{mn}})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	mn.mu.Lock()
	mn.nodes[addrA] = n2
	mn.mu.Unlock()
	acquire(&node{n: n2, kernel: a2k, policy: a.policy, addr: addrA}, b, 2, true)
	if len(b.n.MMSAs()) != 1 || len(b.kernel.list()) != 2 || len(b.n.QMSAs()) != 1 {
		t.Errorf("B after initial contact: %d MM, %d SAs", len(b.n.MMSAs()), len(b.kernel.list()))
	}
}

func TestMalformedCounted(t *testing.T) {
	a, _, _, _ := newPair(t, pairOpts{})
	l, r := netip.MustParseAddrPort("192.0.2.1:500"), netip.MustParseAddrPort("192.0.2.9:500")
	a.n.Receive(l, r, []byte{1, 2, 3})
	msg := make([]byte, 28)
	msg[0], msg[17], msg[18] = 1, 0x10, exchIdentity
	msg[8] = 1
	msg[27] = 28
	a.n.Receive(l, r, msg)
	s := a.n.Stats()
	if s.InvalidPacketsReceived != 1 || s.InvalidCookiesReceived != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestQMPerMM(t *testing.T) {
	a, b, _, _ := newPair(t, pairOpts{})
	a.policy.mm.QMPerMM = 1
	acquire(a, b, 1, true)
	acquire(a, b, 2, true)
	if got := a.n.Stats().IKEMainMode; got != 2 {
		t.Errorf("%d main modes, want a fresh one for the second quick mode", got)
	}
	if len(a.n.QMSAs()) != 2 {
		t.Errorf("%d quick modes", len(a.n.QMSAs()))
	}
}

// The responder rekeys only when the initiator has not.
func TestResponderRekeyFallback(t *testing.T) {
	a, b, mn, clk := newPair(t, pairOpts{qmOffers: []ipsec.QMOffer{{ESP: true, ESPCipher: ipsec.Cipher3DES, ESPAuth: ipsec.HashSHA1, LifeSec: 1000}}})
	acquire(a, b, 1, true)
	old := b.n.QMSAs()[0]
	// A is silent (its housekeeping does not run): B rekeys at ~97%.
	clk.Advance(990 * time.Second)
	b.n.Housekeep()
	clk.Advance(RetireAfter)
	b.n.Housekeep()
	if qs := b.n.QMSAs(); len(qs) != 1 || qs[0].SPIIn == old.SPIIn {
		t.Fatalf("responder did not rekey: %+v", qs)
	}
	checkPaired(t, a, b)
	checkPaired(t, b, a)
	_ = mn
}

// The ikelogging log has a line per message each way, with payloads,
// and no key material.
func TestExchangeLog(t *testing.T) {
	var logA strings.Builder
	first := true
	a, b, mn, _ := newPair(t, pairOpts{pskA: "secret--", forceEncap: true, cfg: func(c *Config) {
		if first {
			c.ExchangeLog = &logA
			first = false
		}
	}})
	acquire(a, b, 1, true)
	lines := strings.Split(strings.TrimSpace(logA.String()), "\n")
	if len(lines) != mn.sent {
		t.Errorf("%d log lines for %d datagrams:\n%s", len(lines), mn.sent, logA.String())
	}
	for _, want := range []string{"send main-mode", "recv main-mode", "[ SA V V V ]", "[ KE No NAT-D NAT-D ]",
		"[ ID HASH N ] [E]", "recv main-mode 192.0.2.1:4500<->192.0.2.2:4500", "[ ID HASH ] [E]",
		"send quick-mode", "[ HASH SA No ID ID ] [E]", "recv quick-mode", "[ HASH ] [E]"} {
		if !strings.Contains(logA.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logA.String())
		}
	}
	a.n.mu.Lock()
	var secrets [][]byte
	for _, mm := range a.n.mms {
		secrets = append(secrets, mm.keys.skeyid, mm.keys.skeyidD, mm.keys.ka, []byte("secret--"))
	}
	a.n.mu.Unlock()
	for _, sa := range a.kernel.list() {
		secrets = append(secrets, sa.EncKey, sa.AuthKey)
	}
	for _, s := range secrets {
		if strings.Contains(logA.String(), fmt.Sprintf("%x", s[:8])) || strings.Contains(logA.String(), string(s)) {
			t.Errorf("log holds key material %x", s)
		}
	}
}

// UDP-encapsulated transport mode carries NAT-OA payloads (RFC 3947
// section 5.2) and installs encapsulated transport SAs.
func TestEncapTransport(t *testing.T) {
	var log strings.Builder
	first := true
	a, b, _, _ := newPair(t, pairOpts{forceEncap: true, cfg: func(c *Config) {
		if first {
			c.ExchangeLog = &log
			first = false
		}
	}})
	acquire(a, b, 1, false)
	checkPaired(t, a, b)
	o := a.kernel.byDir(ipsec.Outbound)[0]
	if o.Mode != ipsec.ModeTransport || !o.Encap {
		t.Errorf("SA %+v", o)
	}
	if !strings.Contains(log.String(), "[ HASH SA No ID ID NAT-OA NAT-OA ]") {
		t.Errorf("no NAT-OA:\n%s", log.String())
	}
}

// An expired main mode SA goes (with a DELETE); its quick mode SAs stay
// until their own expiry, and the next acquire makes a new main mode.
func TestMainModeExpiry(t *testing.T) {
	a, b, _, clk := newPair(t, pairOpts{})
	a.policy.mm.Lifetime, b.policy.mm.Lifetime = 300, 300
	acquire(a, b, 1, true)
	clk.Advance(301 * time.Second)
	a.n.Housekeep()
	if len(a.n.MMSAs()) != 0 || len(b.n.MMSAs()) != 0 {
		t.Fatalf("main mode SAs left: A %d B %d", len(a.n.MMSAs()), len(b.n.MMSAs()))
	}
	if len(a.kernel.list()) != 2 {
		t.Errorf("quick mode SAs went with the main mode: %d", len(a.kernel.list()))
	}
	acquire(a, b, 2, true)
	if s := a.n.Stats(); s.IKEMainMode != 2 || s.IKEQuickMode != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestNonIPv4Refused(t *testing.T) {
	a, b, _, _ := newPair(t, pairOpts{})
	a.n.Acquire(Acquire{Ref: 5, Local: addrA, Remote: addrB, Policy: a.policy.qm,
		Filter: ipsec.QMFilter{Selector: ipsec.Selector{Dst: subnetB}}})
	a.n.Acquire(Acquire{Ref: 6, Local: netip.MustParseAddr("2001:db8::1"), Remote: addrB, Policy: a.policy.qm})
	if got := a.kernel.failedRefs(); len(got) != 2 {
		t.Errorf("FailAcquire %v", got)
	}
	a.n.Receive(netip.MustParseAddrPort("[2001:db8::1]:500"), netip.MustParseAddrPort("[2001:db8::2]:500"), make([]byte, 28))
	if a.n.Stats().InvalidPacketsReceived != 1 {
		t.Error("IPv6 datagram not counted")
	}
	_ = b
}

// selectQM takes the initiator's first acceptable transform, also from a
// single proposal with N transforms (charon's style), and keeps AH+ESP
// proposals of one number together.
func TestSelectQM(t *testing.T) {
	n, err := New(Config{Kernel: newFakeKernel(), Policy: &fakePolicy{}, Transport: memTransport{&memNet{}}})
	if err != nil {
		t.Fatal(err)
	}
	p := qmParams{encap: encapTunnel, lifeSec: 3600, lifeKB: 5000}
	esp := func(num uint8, c ipsec.Cipher, h ipsec.Hash) Transform {
		id, kl := espID(c)
		return Transform{Num: num, ID: id, Attrs: p2Attrs(p, h, kl)}
	}
	sa := &SA{DOI: doiIPsec, Situation: sitIdentityOnly, Proposals: []Proposal{
		{Num: 1, Protocol: protoESP, SPI: []byte{0, 0, 1, 0}, Transforms: []Transform{
			esp(1, ipsec.CipherAES256, ipsec.HashSHA256), esp(2, ipsec.Cipher3DES, ipsec.HashMD5), esp(3, ipsec.CipherAES128, ipsec.HashSHA1)}},
		{Num: 2, Protocol: protoAH, SPI: []byte{0, 0, 2, 0}, Transforms: []Transform{{Num: 1, ID: ahSHA, Attrs: p2Attrs(p, ipsec.HashSHA1, 0)}}},
		{Num: 2, Protocol: protoESP, SPI: []byte{0, 0, 3, 0}, Transforms: []Transform{esp(1, ipsec.CipherDES, ipsec.HashMD5)}},
	}}
	for _, c := range []struct {
		offers []ipsec.QMOffer
		want   ipsec.QMOffer
		num    uint8
	}{
		{[]ipsec.QMOffer{{ESP: true, ESPCipher: ipsec.CipherAES128, ESPAuth: ipsec.HashSHA1}, {ESP: true, ESPCipher: ipsec.Cipher3DES, ESPAuth: ipsec.HashMD5}},
			ipsec.QMOffer{ESP: true, ESPCipher: ipsec.Cipher3DES, ESPAuth: ipsec.HashMD5, LifeSec: 3600, LifeKB: 5000}, 1},
		{[]ipsec.QMOffer{{AH: ipsec.HashSHA1, ESP: true, ESPCipher: ipsec.CipherDES, ESPAuth: ipsec.HashMD5, LifeSec: 600}},
			ipsec.QMOffer{AH: ipsec.HashSHA1, ESP: true, ESPCipher: ipsec.CipherDES, ESPAuth: ipsec.HashMD5, LifeSec: 600, LifeKB: 5000}, 2},
	} {
		q := &qmExchange{}
		out, err := n.selectQM(q, sa, ipsec.QMPolicy{Offers: c.offers})
		if err != nil {
			t.Fatal(err)
		}
		if q.chosen != c.want || out.Proposals[0].Num != c.num {
			t.Errorf("chose %v (proposal %d), want %v (%d)", q.chosen, out.Proposals[0].Num, c.want, c.num)
		}
		for _, pr := range out.Proposals {
			if len(pr.Transforms) != 1 {
				t.Errorf("answer proposal with %d transforms", len(pr.Transforms))
			}
		}
	}
	if _, err := n.selectQM(&qmExchange{}, sa, ipsec.QMPolicy{Offers: []ipsec.QMOffer{{AH: ipsec.HashMD5}}}); err == nil {
		t.Error("no matching offer accepted")
	}
}

// A quick mode the responder refuses ends at once on both sides.
func TestQuickModeRefused(t *testing.T) {
	a, b, _, _ := newPair(t, pairOpts{})
	acquire(a, b, 1, true)
	b.policy.qm.Offers = []ipsec.QMOffer{{ESP: true, ESPCipher: ipsec.CipherAES256, ESPAuth: ipsec.HashSHA256}}
	acquire(a, b, 2, true)
	if got := a.kernel.failedRefs(); len(got) != 1 || got[0] != 2 {
		t.Errorf("FailAcquire %v", got)
	}
	if sa, sb := a.n.Stats(), b.n.Stats(); sa.NegotiationFailures != 1 || sb.NegotiationFailures != 1 || sa.ActiveAcquire != 0 {
		t.Errorf("stats A %+v B %+v", sa, sb)
	}
	if len(a.n.MMSAs()) != 1 || len(a.n.QMSAs()) != 1 {
		t.Error("the main mode SA or the first quick mode went")
	}
}
