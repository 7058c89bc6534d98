//go:build linux

package interop

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/internal/charontest"
	"github.com/gonetsh/gonetsh/internal/netnstest"
)

const interopPSK = "gonetsh and charon share this key"

// tunnelPolicy is the netsh script of a gonetsh gateway at local (inner
// address inner) with a tunnel to the gateway remote (inner address
// peerInner): two rules, one per direction, as Windows tunnels are made;
// auth is the rules' authentication methods (pskAuth, rootcaAuth).
func tunnelPolicy(local, remote, inner, peerInner netip.Addr, mmsec, qmsec string, pfs bool, auth string) string {
	return fmt.Sprintf(`pushd ipsec static
add filterlist "out"
add filter "out" %[3]s %[4]s mirrored=no
add filterlist "in"
add filter "in" %[4]s %[3]s mirrored=no
add filteraction "tunnel" action=negotiate qmsec=%[6]q qmpfs=%[7]s
add policy "to charon" mmsec=%[5]q activatedefaultrule=no
add rule "out" "to charon" "out" "tunnel" tunnel=%[2]s %[8]s kerberos=no
add rule "in" "to charon" "in" "tunnel" tunnel=%[1]s %[8]s kerberos=no
set policy "to charon" assign=y
popd
`, local, remote, inner, peerInner, mmsec, qmsec, yesNo(pfs), auth)
}

// pskAuth and rootcaAuth are the authentication methods of a rule: a
// pre-shared key, or certificates issued under the CA named by its
// distinguished name.
func pskAuth(psk string) string     { return fmt.Sprintf("psk=%q", psk) }
func rootcaAuth(caDN string) string { return fmt.Sprintf("rootca=%q", caDN) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// charonCase is one gonetsh-to-charon negotiation.
type charonCase struct {
	name         string
	mmsec, qmsec string // gonetsh's offers
	pfs          bool
	ike, esp     string // charon's proposals
	charonStarts bool
	nat          bool
	// what charon reports
	encr, dh string
}

var charonCases = []charonCase{
	{name: "gonetsh initiates 3DES-SHA1-2", mmsec: "3DES-SHA1-2", qmsec: "ESP[3DES,SHA1]",
		ike: "3des-sha1-modp1024", esp: "3des-sha1", encr: "3DES_CBC", dh: "MODP_1024"},
	{name: "charon initiates 3DES-SHA1-2", mmsec: "3DES-SHA1-2", qmsec: "ESP[3DES,SHA1]",
		ike: "3des-sha1-modp1024", esp: "3des-sha1", charonStarts: true, encr: "3DES_CBC", dh: "MODP_1024"},
	{name: "gonetsh initiates 3DES-SHA1-3 (MODP 2048)", mmsec: "3DES-SHA1-3", qmsec: "ESP[3DES,SHA1]",
		ike: "3des-sha1-modp2048", esp: "3des-sha1", encr: "3DES_CBC", dh: "MODP_2048"},
	{name: "AES suite with PFS", mmsec: "AES128-SHA1-3", qmsec: "ESP[AES128,SHA1]", pfs: true,
		ike: "aes128-sha1-modp2048", esp: "aes128-sha1-modp2048", encr: "AES_CBC", dh: "MODP_2048"},
	{name: "charon initiates with PFS", mmsec: "3DES-SHA1-2", qmsec: "ESP[3DES,SHA1]", pfs: true,
		ike: "3des-sha1-modp1024", esp: "3des-sha1-modp1024", charonStarts: true, encr: "3DES_CBC", dh: "MODP_1024"},
	{name: "through a NAT", mmsec: "3DES-SHA1-2", qmsec: "ESP[3DES,SHA1]",
		ike: "3des-sha1-modp1024", esp: "3des-sha1", nat: true, encr: "3DES_CBC", dh: "MODP_1024"},
}

// TestCharon: gonetsh's service in one namespace and strongSwan's charon
// (kernel-libipsec: tunnel mode, ESP in UDP 4500) in another negotiate
// main mode and quick mode with a pre-shared key, each side starting in
// turn, several suites, PFS, and through a real NAT; ping and a TCP
// stream cross in ESP-in-UDP and both sides list the same SPIs.
func TestCharon(t *testing.T) {
	for _, c := range charonCases {
		t.Run(c.name, func(t *testing.T) { runCharonCase(t, c) })
	}
}

func runCharonCase(t *testing.T, c charonCase) {
	charontest.RequireCharon(t)
	var (
		nsA, nsB       *netnstest.NS
		outerA, outerB netip.Addr
		seenA          netip.Addr // A's address as charon sees it
		innerA, innerB netip.Addr
		capture        *netnstest.Capture
	)
	if c.nat {
		n := charontest.NewNATTopology(t)
		nsA, nsB = n.A, n.B
		outerA, outerB, innerA, innerB, seenA = n.OuterA, n.OuterB, n.InnerA, n.InnerB, n.NATOutside
	} else {
		p := charontest.NewPair(t)
		nsA, nsB = p.A, p.B
		outerA, outerB, innerA, innerB, seenA = p.OuterA, p.OuterB, p.InnerA, p.InnerB, p.OuterA
	}
	capture = nsA.Capture(t, charontest.VethA)

	remote := charontest.Addrs(outerA)
	if c.nat {
		remote = []string{"%any"} // A is behind the NAT: charon learns its address
	}
	peer := charontest.Start(t, nsB, charontest.Config{Conns: []charontest.Conn{{
		LocalAddrs: charontest.Addrs(outerB), RemoteAddrs: remote,
		LocalID: outerB.String(), RemoteID: outerA.String(),
		PSK: []byte(interopPSK), Proposals: []string{c.ike}, KeyingTries: 1,
		Children: []charontest.Child{{
			LocalTS: charontest.Host(innerB), RemoteTS: charontest.Host(innerA),
			ESPProposals: []string{c.esp},
		}},
	}}})

	a := newHost(t, nsA)
	a.script(tunnelPolicy(outerA, outerB, innerA, innerB, c.mmsec, c.qmsec, c.pfs, pskAuth(interopPSK)))
	a.Start()

	if c.charonStarts {
		if err := peer.Initiate("peer", "net"); err != nil {
			t.Fatalf("charon initiate: %v", err)
		}
	}
	if err := charontest.Ping(nsA, innerA, innerB, 3); err != nil {
		t.Fatal(err)
	}
	ike, child, err := peer.WaitChildSA("peer", "net", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ike.Initiator != c.charonStarts || ike.EncrAlg != c.encr || ike.DHGroup != c.dh {
		t.Errorf("charon's IKE SA: %+v; want initiator=%v %s %s", ike, c.charonStarts, c.encr, c.dh)
	}
	if ike.RemoteHost != seenA.String() {
		t.Errorf("charon sees gonetsh at %s, want %s", ike.RemoteHost, seenA)
	}
	if !child.Encap || child.State != "INSTALLED" {
		t.Errorf("charon's CHILD_SA: %+v; want INSTALLED, ESP in UDP", child)
	}

	// A TCP stream from A to B through the tunnel.
	tcpStream(t, nsA, nsB, innerA, innerB)

	// gonetsh lists the same SPIs as charon, swapped.
	qm := a.must("ipsec", "dynamic", "show", "qmsas", "format=json")
	for _, spi := range []uint32{child.SPIIn, child.SPIOut} {
		if !strings.Contains(qm, fmt.Sprintf(`"spi": "0x%08x"`, spi)) {
			t.Errorf("show qmsas lacks SPI %d (%#x) of charon:\n%s", spi, spi, qm)
		}
	}
	mm := a.must("ipsec", "dynamic", "show", "mmsas")
	if !strings.Contains(mm, "1 Main Mode SA(s)") || !strings.Contains(mm, "port 4500") {
		t.Errorf("show mmsas:\n%s", mm)
	}

	s := charontest.Classify(capture.Packets())
	t.Logf("capture on A: %+v", s)
	if s.Other != 0 || s.ESP != 0 || s.ESPInUDP == 0 {
		t.Errorf("capture on A: %+v; want IKE and ESP in UDP only", s)
	}
}

// TestCharonWrongPSK: with different keys neither side gets an SA and the
// ping fails; gonetsh counts an authentication failure.
func TestCharonWrongPSK(t *testing.T) {
	charontest.RequireCharon(t)
	p := charontest.NewPair(t)
	peer := charontest.Start(t, p.B, charontest.Config{Conns: []charontest.Conn{{
		LocalAddrs: charontest.Addrs(p.OuterB), RemoteAddrs: charontest.Addrs(p.OuterA),
		PSK: []byte("charon's key"), Proposals: []string{"3des-sha1-modp1024"}, KeyingTries: 1,
		Children: []charontest.Child{{
			LocalTS: charontest.Host(p.InnerB), RemoteTS: charontest.Host(p.InnerA),
			ESPProposals: []string{"3des-sha1"},
		}},
	}}})
	a := newHost(t, p.A)
	a.script(tunnelPolicy(p.OuterA, p.OuterB, p.InnerA, p.InnerB, "3DES-SHA1-2", "ESP[3DES,SHA1]", false, pskAuth("gonetsh's key")))
	a.Start()
	if err := charontest.Ping(p.A, p.InnerA, p.InnerB, 2); err == nil {
		t.Fatal("ping passed with mismatched pre-shared keys")
	}
	sas, err := peer.ListSAs()
	if err != nil {
		t.Fatal(err)
	}
	for _, sa := range sas {
		if len(sa.Children) > 0 {
			t.Errorf("charon has a CHILD_SA with a wrong key: %+v", sa)
		}
	}
	if out, _, st := a.run("", "ipsec", "dynamic", "show", "qmsas"); st == 0 {
		t.Errorf("gonetsh lists quick mode SAs with a wrong key:\n%s", out)
	}
	stats := a.must("ipsec", "dynamic", "show", "stats", "type=ike")
	if !strings.Contains(stats, "Authentication Failures") {
		t.Fatalf("show stats:\n%s", stats)
	}
	for _, line := range strings.Split(stats, "\n") {
		if strings.HasPrefix(line, "Authentication Failures") && strings.HasSuffix(strings.TrimSpace(line), ": 0") {
			t.Errorf("no authentication failure counted:\n%s", stats)
		}
	}
}
