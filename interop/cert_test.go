//go:build linux

package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/internal/charontest"
	"github.com/gonetsh/gonetsh/internal/netnstest"
)

// writeCerts puts id where the service reads it (<store>/certs: host.crt,
// host.key, cacerts/ca.crt), before Start.
func (h *host) writeCerts(id *charontest.Identity) {
	h.t.Helper()
	dir := filepath.Join(h.store, "certs")
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"host.crt", id.CertPEM()},
		{"host.key", id.KeyPEM()},
		{filepath.Join("cacerts", "ca.crt"), id.CAPEM()},
	} {
		p := filepath.Join(dir, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			h.t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			h.t.Fatal(err)
		}
	}
}

// certAuthMode is the line of `show mmsas` for an SA authenticated with
// certificates.
var certAuthMode = regexp.MustCompile(`(?m)^Auth Mode\s*: Certificate\s*$`)

// TestGonetshPairCertificates: two gonetsh services that read their
// certificates from <store>/certs and whose rule names the CA
// (rootca="<CA DN>") negotiate main mode with RSA signatures and carry
// ping in ESP transport mode: 6 main mode and 3 quick mode messages, 6
// ESP, nothing in clear; both list the main mode SA as Certificate.
func TestGonetshPairCertificates(t *testing.T) {
	a, b, capA := pair(t)
	ca := charontest.NewCA(t, "gonetsh interop CA")
	a.writeCerts(ca.Issue(t, "a.gonetsh"))
	b.writeCerts(ca.Issue(t, "b.gonetsh"))
	auth := rootcaAuth(ca.Cert.Subject.String())
	a.script(secureAuth("192.0.2.2", "ESP[3DES,SHA1]", "3DES-SHA1-2", auth))
	b.script(secureAuth("192.0.2.1", "ESP[3DES,SHA1]", "3DES-SHA1-2", auth))
	a.Start()
	b.Start()

	out, err := a.exec(30*time.Second, "ping", "-c", "3", "-i", "0.3", "-W", "5", "192.0.2.2")
	if err != nil || !strings.Contains(out, "3 packets transmitted, 3 received") {
		t.Fatalf("ping A -> B through ESP: %v\n%s", err, out)
	}
	s := settle(capA, func(s shape) bool { return s.ESP >= 6 })
	t.Logf("capture on A: %+v", s)
	if s.Exchanges[2] != 6 || s.Exchanges[32] != 3 || s.ESP != 6 || s.Clear != 0 || s.AH != 0 {
		t.Errorf("capture on A: %+v; want 6 main mode and 3 quick mode messages, then 6 ESP and nothing in clear", s)
	}
	for _, h := range []*host{a, b} {
		mm := h.must("ipsec", "dynamic", "show", "mmsas")
		if !strings.Contains(mm, "1 Main Mode SA(s)") || !certAuthMode.MatchString(mm) {
			t.Errorf("%s show mmsas:\n%s", h.ns.Name(), mm)
		}
		if qm := h.must("ipsec", "dynamic", "show", "qmsas"); !strings.Contains(qm, "2 Quick Mode SA(s)") {
			t.Errorf("%s show qmsas:\n%s", h.ns.Name(), qm)
		}
	}
}

// TestCharonCertificates: gonetsh's service (certificates from
// <store>/certs, rootca rules) and charon (certificate identities by
// DN) set up a tunnel, each side initiating in turn; ping and a TCP
// stream cross in ESP in UDP, both list the same SPIs, `show mmsas` says
// Certificate, and the capture holds the 9 messages of main mode and
// quick mode (MM5 and MM6 with a certificate still fit one datagram) and
// ESP in UDP only.
func TestCharonCertificates(t *testing.T) {
	for _, charonStarts := range []bool{false, true} {
		t.Run(fmt.Sprintf("charon initiates=%v", charonStarts), func(t *testing.T) {
			charontest.RequireCharon(t)
			p := charontest.NewPair(t)
			capture := p.A.Capture(t, charontest.VethA)
			ca := charontest.NewCA(t, "gonetsh interop CA")
			idA := ca.Issue(t, "a.gonetsh", p.OuterA)
			idB := ca.Issue(t, "b.gonetsh", p.OuterB)
			peer := charontest.Start(t, p.B, charontest.Config{Conns: []charontest.Conn{{
				LocalAddrs: charontest.Addrs(p.OuterB), RemoteAddrs: charontest.Addrs(p.OuterA),
				Cert: idB, LocalID: idB.SubjectDN(), RemoteID: idA.SubjectDN(),
				Proposals: []string{"aes128-sha256-modp2048"}, KeyingTries: 1,
				Children: []charontest.Child{{
					LocalTS: charontest.Host(p.InnerB), RemoteTS: charontest.Host(p.InnerA),
					ESPProposals: []string{"aes128-sha1"},
				}},
			}}})
			a := newHost(t, p.A)
			a.writeCerts(idA)
			a.script(tunnelPolicy(p.OuterA, p.OuterB, p.InnerA, p.InnerB, "AES128-SHA256-3", "ESP[AES128,SHA1]", false,
				rootcaAuth(ca.Cert.Subject.String())))
			a.Start()
			if charonStarts {
				if err := peer.Initiate("peer", "net"); err != nil {
					t.Fatalf("charon initiate: %v", err)
				}
			}
			checkCharonCert(t, a, p, peer, capture, charonStarts)
		})
	}
}

func checkCharonCert(t *testing.T, a *host, p *charontest.Pair, peer *charontest.Charon,
	capture *netnstest.Capture, charonStarts bool) {
	if err := charontest.Ping(p.A, p.InnerA, p.InnerB, 3); err != nil {
		t.Fatal(err)
	}
	ike, child, err := peer.WaitChildSA("peer", "net", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ike.Initiator != charonStarts || ike.EncrAlg != "AES_CBC" || ike.DHGroup != "MODP_2048" {
		t.Errorf("charon's IKE SA: %+v; want initiator=%v AES_CBC MODP_2048", ike, charonStarts)
	}
	if !child.Encap || child.State != "INSTALLED" {
		t.Errorf("charon's CHILD_SA: %+v; want INSTALLED, ESP in UDP", child)
	}
	tcpStream(t, p.A, p.B, p.InnerA, p.InnerB)
	qm := a.must("ipsec", "dynamic", "show", "qmsas", "format=json")
	for _, spi := range []uint32{child.SPIIn, child.SPIOut} {
		if !strings.Contains(qm, fmt.Sprintf(`"spi": "0x%08x"`, spi)) {
			t.Errorf("show qmsas lacks SPI %#x of charon:\n%s", spi, qm)
		}
	}
	mm := a.must("ipsec", "dynamic", "show", "mmsas")
	if !strings.Contains(mm, "1 Main Mode SA(s)") || !certAuthMode.MatchString(mm) || !strings.Contains(mm, "port 4500") {
		t.Errorf("show mmsas:\n%s", mm)
	}
	s := charontest.Classify(capture.Packets())
	t.Logf("capture on A: %+v", s)
	if s.IKE != 9 || s.Other != 0 || s.ESP != 0 || s.ESPInUDP == 0 {
		t.Errorf("capture on A: %+v; want 9 IKE messages (main mode with certificates, quick mode) and ESP in UDP only", s)
	}
}
