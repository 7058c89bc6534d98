//go:build linux

package ike

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/internal/charontest"
	"github.com/gonetsh/gonetsh/internal/netnstest"
	"github.com/gonetsh/gonetsh/ipsec"
)

// lockedBuffer collects the negotiator's logs, shown when a test fails.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// interopSuite is one algorithm suite on both sides.
type interopSuite struct {
	name                             string
	ike                              string // charon's IKE proposal
	esp                              string // charon's ESP proposal (a DH group: PFS)
	mm                               ipsec.MMOffer
	qm                               ipsec.QMOffer
	pfs                              bool
	pfsGroup                         ipsec.DHGroup
	charonPSK                        string        // when not empty, differs from ours
	childRekey, childLife, childRand time.Duration // charon's CHILD_SA rekey, life and rand time
	cert                             bool          // RSA signatures with certificates instead of the PSK
	dpdCharon, dpdOurs               time.Duration // DPD delays
	nat                              bool          // a masquerading NAT between us and charon
}

// topology is where the two ends run: we in A, charon in B; charon
// accepts us from charonRemote (the NAT's address, or ours).
type topology struct {
	A, B                           *netnstest.NS
	OuterA, OuterB, InnerA, InnerB netip.Addr
	charonRemote                   []string
}

func newTopology(t *testing.T, nat bool) topology {
	if nat {
		n := charontest.NewNATTopology(t)
		return topology{A: n.A, B: n.B, OuterA: n.OuterA, OuterB: n.OuterB, InnerA: n.InnerA, InnerB: n.InnerB,
			charonRemote: []string{"%any"}}
	}
	p := charontest.NewPair(t)
	return topology{A: p.A, B: p.B, OuterA: p.OuterA, OuterB: p.OuterB, InnerA: p.InnerA, InnerB: p.InnerB,
		charonRemote: charontest.Addrs(p.OuterA)}
}

const interopPSK = "gonetsh interop psk"

type interop struct {
	pair   topology
	peer   *charontest.Charon
	n      *Negotiator
	kernel *fakeKernel
	policy *fakePolicy
}

// startInterop starts charon in B and our Negotiator with real UDP
// sockets in A.
func startInterop(t *testing.T, s interopSuite) *interop {
	t.Helper()
	charontest.RequireCharon(t)
	p := newTopology(t, s.nat)
	psk := interopPSK
	if s.charonPSK != "" {
		psk = s.charonPSK
	}
	conn := charontest.Conn{
		LocalAddrs: charontest.Addrs(p.OuterB), RemoteAddrs: p.charonRemote,
		LocalID: p.OuterB.String(), RemoteID: p.OuterA.String(),
		PSK: []byte(psk), Proposals: []string{s.ike}, KeyingTries: 1, DPDDelay: s.dpdCharon,
		Children: []charontest.Child{{
			LocalTS: charontest.Host(p.InnerB), RemoteTS: charontest.Host(p.InnerA),
			ESPProposals: []string{s.esp}, RekeyTime: s.childRekey, LifeTime: s.childLife, RandTime: s.childRand,
		}},
	}
	var certs CertConfig
	auth := []ipsec.AuthMethod{{Kind: ipsec.AuthPSK, PSK: interopPSK}}
	if s.cert {
		ca := charontest.NewCA(t, "gonetsh interop CA")
		idA := ca.Issue(t, "a.gonetsh", p.OuterA)
		idB := ca.Issue(t, "b.gonetsh", p.OuterB)
		conn.PSK, conn.Cert, conn.LocalID, conn.RemoteID = nil, idB, idB.SubjectDN(), idA.SubjectDN()
		certs = CertConfig{Certificate: []*x509.Certificate{idA.Cert}, Key: idA.Key, Roots: []*x509.Certificate{ca.Cert}}
		auth = []ipsec.AuthMethod{{Kind: ipsec.AuthRootCA, CA: ca.Cert.Subject.String()}}
	}
	peer := charontest.Start(t, p.B, charontest.Config{Conns: []charontest.Conn{conn},
		LogLevels: map[string]int{"ike": 4, "chd": 4}})
	var u *udpTransport
	if err := p.A.Do(func() (err error) { u, err = listenUDP(p.OuterA); return err }); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	it := &interop{pair: p, peer: peer, kernel: newFakeKernel(), policy: &fakePolicy{
		auth: auth,
		mm:   ipsec.MMPolicy{Name: "mm", Offers: []ipsec.MMOffer{s.mm}, Lifetime: 28800},
		qm:   ipsec.QMPolicy{Name: "qm", Offers: []ipsec.QMOffer{s.qm}, PFS: s.pfs, PFSGroup: s.pfsGroup},
	}}
	n, err := New(Config{Kernel: it.kernel, Policy: it.policy, Transport: u, ExchangeLog: logs, Certificates: certs, DPDDelay: s.dpdOurs,
		Logger:             slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RetransmitInterval: 500 * time.Millisecond, RetransmitTries: 3})
	if err != nil {
		t.Fatal(err)
	}
	it.n = n
	n.Start()
	u.serve(n)
	t.Cleanup(func() {
		n.Close()
		u.Close()
		if t.Failed() {
			t.Logf("gonetsh log:\n%s", logs.String())
		}
	})
	return it
}

func (it *interop) acquire(ref uint64) {
	p := it.pair
	it.n.Acquire(Acquire{Ref: ref, Local: p.OuterA, Remote: p.OuterB, Policy: it.policy.qm,
		Filter: ipsec.QMFilter{Name: "qm", Direction: ipsec.Outbound, Tunnel: p.OuterB,
			Selector: ipsec.Selector{Src: hostPrefix(p.InnerA), Dst: hostPrefix(p.InnerB)}}})
}

// waitSAs waits until our kernel holds n SAs.
func (it *interop) waitSAs(t *testing.T, n int, d time.Duration) []ipsec.SAParams {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if l := it.kernel.list(); len(l) >= n {
			return l
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%d SAs after %v, want %d", len(it.kernel.list()), d, n)
	return nil
}

// check compares charon's CHILD_SA with the SAs our kernel got.
func (it *interop) check(t *testing.T, s interopSuite, weInitiated bool) {
	t.Helper()
	sas := it.waitSAs(t, 2, 15*time.Second)
	ike, child, err := it.peer.WaitChildSA("peer", "net", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var in, out ipsec.SAParams
	for _, sa := range sas {
		if sa.Direction == ipsec.Inbound {
			in = sa
		} else {
			out = sa
		}
	}
	if child.State != "INSTALLED" || child.SPIIn != out.SPI || child.SPIOut != in.SPI {
		t.Fatalf("charon CHILD_SA %s in %#x out %#x; ours in %#x out %#x", child.State, child.SPIIn, child.SPIOut, in.SPI, out.SPI)
	}
	if !child.Encap || !out.Encap || out.Mode != ipsec.ModeTunnel || out.DstPort != PortNATT {
		t.Errorf("encapsulation: charon %v, ours %+v", child.Encap, out)
	}
	if s.pfs && child.DHGroup == "" || !s.pfs && child.DHGroup != "" {
		t.Errorf("PFS group %q", child.DHGroup)
	}
	if ike.State != "ESTABLISHED" {
		t.Errorf("IKE SA %s", ike.State)
	}
	it.checkKeys(t, in, out, weInitiated)
	if st := it.n.Stats(); st.IKEMainMode != 1 || st.IKEQuickMode != 1 || st.InvalidPacketsReceived != 0 {
		t.Errorf("stats %+v", st)
	}
}

// checkKeys compares our ESP keys with the ones charon's level 4 log
// dumps ("encryption initiator key => N bytes @ ..." and hex lines).
func (it *interop) checkKeys(t *testing.T, in, out ipsec.SAParams, weInitiated bool) {
	t.Helper()
	log := it.peer.Log()
	keys := map[string]string{}
	for _, what := range []string{"encryption initiator key", "encryption responder key", "integrity initiator key", "integrity responder key"} {
		if d := charonDump(log, what+" =>"); d != "" {
			keys[what] = d
		}
	}
	if len(keys) < 2 {
		t.Fatalf("charon logged %d ESP keys", len(keys))
	}
	// charon names the keys after the quick mode's roles: the
	// initiator's key protects traffic from the initiator.
	mine, theirs := "initiator", "responder"
	if !weInitiated {
		mine, theirs = theirs, mine
	}
	want := map[string][]byte{
		"encryption " + mine + " key": out.EncKey, "integrity " + mine + " key": out.AuthKey,
		"encryption " + theirs + " key": in.EncKey, "integrity " + theirs + " key": in.AuthKey,
	}
	for k, v := range want {
		if (len(v) > 0 || keys[k] != "") && keys[k] != fmt.Sprintf("%x", v) {
			t.Errorf("%s: charon %s, ours %x", k, keys[k], v)
		}
	}
}

func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, 32) }

var interopSuites = []interopSuite{
	{name: "3des-sha1-modp1024", ike: "3des-sha1-modp1024", esp: "3des-sha1",
		mm: ipsec.MMOffer{Cipher: ipsec.Cipher3DES, Hash: ipsec.HashSHA1, Group: ipsec.DHGroup2},
		qm: ipsec.QMOffer{ESP: true, ESPCipher: ipsec.Cipher3DES, ESPAuth: ipsec.HashSHA1}},
	{name: "3des-sha1-modp2048-pfs", ike: "3des-sha1-modp2048", esp: "3des-sha1-modp2048",
		mm: ipsec.MMOffer{Cipher: ipsec.Cipher3DES, Hash: ipsec.HashSHA1, Group: ipsec.DHGroup14},
		qm: ipsec.QMOffer{ESP: true, ESPCipher: ipsec.Cipher3DES, ESPAuth: ipsec.HashSHA1}, pfs: true},
	{name: "aes128-sha256-modp2048-gcm-pfs", ike: "aes128-sha256-modp2048", esp: "aes128gcm16-modp2048",
		mm: ipsec.MMOffer{Cipher: ipsec.CipherAES128, Hash: ipsec.HashSHA256, Group: ipsec.DHGroup14},
		qm: ipsec.QMOffer{ESP: true, ESPCipher: ipsec.CipherAESGCM128}, pfs: true},
	{name: "aes128-sha1-modp2048", ike: "aes128-sha1-modp2048", esp: "aes128-sha1",
		mm: ipsec.MMOffer{Cipher: ipsec.CipherAES128, Hash: ipsec.HashSHA1, Group: ipsec.DHGroup14},
		qm: ipsec.QMOffer{ESP: true, ESPCipher: ipsec.CipherAES128, ESPAuth: ipsec.HashSHA1}},
}

func TestCharonWeInitiate(t *testing.T) {
	for _, s := range interopSuites {
		t.Run(s.name, func(t *testing.T) {
			it := startInterop(t, s)
			it.acquire(42)
			it.check(t, s, true)
			if o := it.kernel.byDir(ipsec.Outbound); o[0].Ref != 42 {
				t.Errorf("outbound Ref %d", o[0].Ref)
			}
		})
	}
}

func TestCharonInitiates(t *testing.T) {
	for _, s := range interopSuites {
		t.Run(s.name, func(t *testing.T) {
			it := startInterop(t, s)
			if err := it.peer.Initiate("peer", "net"); err != nil {
				t.Fatal(err)
			}
			it.check(t, s, false)
		})
	}
}

func TestCharonWrongPSK(t *testing.T) {
	s := interopSuites[0]
	s.charonPSK = "not the same psk"
	t.Run("we-initiate", func(t *testing.T) {
		it := startInterop(t, s)
		it.acquire(5)
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) && len(it.kernel.failedRefs()) == 0 {
			time.Sleep(100 * time.Millisecond)
		}
		if f := it.kernel.failedRefs(); len(f) != 1 || f[0] != 5 {
			t.Fatalf("FailAcquire %v", f)
		}
		if st := it.n.Stats(); st.AuthenticationFailures != 1 || len(it.n.MMSAs()) != 0 {
			t.Errorf("stats %+v", st)
		}
		if err := it.peer.WaitLog("failed", 5*time.Second); err != nil {
			t.Error(err)
		}
		if sas, _ := it.peer.ListSAs(); len(sas) != 0 && sas[0].State == "ESTABLISHED" {
			t.Errorf("charon established %+v", sas[0])
		}
	})
	t.Run("charon-initiates", func(t *testing.T) {
		it := startInterop(t, s)
		done := make(chan error, 1)
		go func() { done <- it.peer.Initiate("peer", "net") }()
		t.Cleanup(func() { it.peer.Stop(); <-done })
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && it.n.Stats().AuthenticationFailures == 0 {
			time.Sleep(100 * time.Millisecond)
		}
		if st := it.n.Stats(); st.AuthenticationFailures == 0 || len(it.kernel.list()) != 0 || len(it.n.MMSAs()) != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestCharonCertificates(t *testing.T) {
	s := interopSuite{name: "rsa-aes128-sha256-modp2048", ike: "aes128-sha256-modp2048", esp: "aes128-sha1", cert: true,
		mm: ipsec.MMOffer{Cipher: ipsec.CipherAES128, Hash: ipsec.HashSHA256, Group: ipsec.DHGroup14},
		qm: ipsec.QMOffer{ESP: true, ESPCipher: ipsec.CipherAES128, ESPAuth: ipsec.HashSHA1}}
	t.Run("we-initiate", func(t *testing.T) {
		it := startInterop(t, s)
		it.acquire(1)
		it.check(t, s, true)
		if m := it.n.MMSAs(); len(m) != 1 || m[0].Auth != ipsec.AuthRootCA {
			t.Errorf("MMSAs %+v", m)
		}
	})
	t.Run("charon-initiates", func(t *testing.T) {
		it := startInterop(t, s)
		if err := it.peer.Initiate("peer", "net"); err != nil {
			t.Fatal(err)
		}
		it.check(t, s, false)
	})
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// childSPIs returns charon's INSTALLED CHILD_SAs as in/out SPI pairs.
func (it *interop) childSPIs(t *testing.T) [][2]uint32 {
	sas, err := it.peer.ListSAs()
	if err != nil {
		t.Fatal(err)
	}
	var r [][2]uint32
	for _, ike := range sas {
		for _, c := range ike.Children {
			if c.State == "INSTALLED" {
				r = append(r, [2]uint32{c.SPIIn, c.SPIOut})
			}
		}
	}
	return r
}

func TestCharonDelete(t *testing.T) {
	s := interopSuites[0]
	t.Run("we-delete", func(t *testing.T) {
		it := startInterop(t, s)
		it.acquire(1)
		it.check(t, s, true)
		it.n.Flush()
		if !waitFor(5*time.Second, func() bool { sas, _ := it.peer.ListSAs(); return len(sas) == 0 }) {
			t.Errorf("charon kept %+v", it.childSPIs(t))
		}
		if len(it.kernel.list()) != 0 {
			t.Error("our SAs left")
		}
	})
	t.Run("charon-deletes", func(t *testing.T) {
		it := startInterop(t, s)
		it.acquire(1)
		it.check(t, s, true)
		if err := it.peer.Terminate("peer"); err != nil {
			t.Fatal(err)
		}
		if !waitFor(5*time.Second, func() bool { return len(it.kernel.list()) == 0 && len(it.n.MMSAs()) == 0 }) {
			t.Errorf("after charon's DELETE: %d SAs, %d MM SAs", len(it.kernel.list()), len(it.n.MMSAs()))
		}
	})
}

func TestCharonRekey(t *testing.T) {
	t.Run("we-rekey", func(t *testing.T) {
		s := interopSuites[1]
		s.qm.LifeSec = 6
		it := startInterop(t, s)
		it.acquire(1)
		it.check(t, s, true)
		first := it.n.QMSAs()[0]
		ok := waitFor(10*time.Second, func() bool {
			q := it.n.QMSAs()
			return len(q) == 1 && q[0].SPIIn != first.SPIIn && len(it.kernel.list()) == 2
		})
		if !ok {
			t.Fatalf("no rekey: %+v", it.n.QMSAs())
		}
		q := it.n.QMSAs()[0]
		if !waitFor(3*time.Second, func() bool {
			c := it.childSPIs(t)
			return len(c) == 1 && c[0] == [2]uint32{q.SPIOut, q.SPIIn}
		}) {
			t.Errorf("charon children %x, ours in %x out %x", it.childSPIs(t), q.SPIIn, q.SPIOut)
		}
	})
	t.Run("charon-rekeys", func(t *testing.T) {
		s := interopSuites[0]
		s.childRekey, s.childLife, s.childRand = 3*time.Second, 30*time.Second, time.Second
		it := startInterop(t, s)
		it.acquire(1)
		it.check(t, s, true)
		// charon's IKEv1 rekey keeps the old CHILD_SA (REKEYED) until it
		// expires: both pairs stay in.
		ok := waitFor(12*time.Second, func() bool {
			q := it.n.QMSAs()
			if len(q) < 2 || len(it.kernel.list()) != 2*len(q) {
				return false
			}
			last := q[len(q)-1]
			for _, c := range it.childSPIs(t) {
				if c == [2]uint32{last.SPIOut, last.SPIIn} {
					return true
				}
			}
			return false
		})
		if !ok {
			t.Fatalf("no rekey seen: %d QM SAs, %d SAs, charon %x", len(it.n.QMSAs()), len(it.kernel.list()), it.childSPIs(t))
		}
		if st := it.n.Stats(); st.IKEQuickMode < 2 || st.IKEMainMode != 1 {
			t.Errorf("stats %+v", st)
		}
	})
}

// DPD both ways (RFC 3706): each end's R-U-THERE gets its ACK and the
// SAs stay up. (A peer probes only when idle, so one prober at a time.)
func TestCharonDPD(t *testing.T) {
	alive := func(t *testing.T, it *interop) {
		if len(it.n.MMSAs()) != 1 || len(it.kernel.list()) != 2 {
			t.Errorf("SAs gone: %d MM, %d SAs", len(it.n.MMSAs()), len(it.kernel.list()))
		}
		if sas, _ := it.peer.ListSAs(); len(sas) != 1 || sas[0].State != "ESTABLISHED" {
			t.Errorf("charon: %+v", sas)
		}
	}
	t.Run("we-probe", func(t *testing.T) {
		s := interopSuites[0]
		s.dpdOurs = 500 * time.Millisecond
		it := startInterop(t, s)
		it.acquire(1)
		it.check(t, s, true)
		var seq uint32
		ok := waitFor(6*time.Second, func() bool {
			it.n.mu.Lock()
			defer it.n.mu.Unlock()
			for _, mm := range it.n.mms {
				seq = mm.dpd.seq
				return mm.dpd.seq >= 3 && !mm.dpd.outstanding
			}
			return false
		})
		if !ok {
			t.Errorf("our R-U-THEREs unanswered (seq %d)", seq)
		}
		alive(t, it)
	})
	t.Run("charon-probes", func(t *testing.T) {
		s := interopSuites[0]
		s.dpdCharon = time.Second
		it := startInterop(t, s)
		it.acquire(1)
		it.check(t, s, true)
		acked := regexp.MustCompile(`parsed INFORMATIONAL_V1 request \d+ \[ HASH N\(DPD_ACK\) \]`)
		if !waitFor(6*time.Second, func() bool { return len(acked.FindAllString(it.peer.Log(), -1)) >= 2 }) {
			t.Error("charon got no DPD_ACK from us")
		}
		alive(t, it)
	})
}

// A real NAT between us and charon: both detect it (we behind it), IKE
// floats to 4500 and the SAs are UDP-encapsulated.
func TestCharonNAT(t *testing.T) {
	s := interopSuites[0]
	s.nat = true
	it := startInterop(t, s)
	it.acquire(1)
	it.check(t, s, true)
	m := it.n.MMSAs()[0]
	if !m.NATT || !m.NATBehindLocal || m.Local.Port() != PortNATT {
		t.Errorf("MMSA %+v", m)
	}
	ike, _, err := it.peer.WaitChildSA("peer", "net", time.Second)
	if err != nil || !ike.NATRemote {
		t.Errorf("charon: %+v %v", ike, err)
	}
}
