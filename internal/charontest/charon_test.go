//go:build linux

package charontest

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/internal/netnstest"
)

var testPSK = []byte("charontest psk, with spaces & \"quotes\"")

// mirror returns conn as seen from the other end.
func mirror(c Conn, localAddrs, remoteAddrs []string) Conn {
	m := c
	m.LocalAddrs, m.RemoteAddrs = localAddrs, remoteAddrs
	m.LocalID, m.RemoteID = c.RemoteID, c.LocalID
	m.Children = nil
	for _, ch := range c.Children {
		ch.LocalTS, ch.RemoteTS = ch.RemoteTS, ch.LocalTS
		m.Children = append(m.Children, ch)
	}
	return m
}

// tunnel is one charon-to-charon case: A initiates, B responds.
type tunnel struct {
	a, b         *netnstest.NS
	connA, connB Conn
	innerA       netip.Addr
	innerB       netip.Addr
	capNS        *netnstest.NS // where to capture, on capIf
	capIf        string
	// aggressivePSK lets B answer aggressive mode with a PSK.
	aggressivePSK bool
}

// result is what tunnel.run saw.
type result struct {
	a, b           *Charon
	ikeA, ikeB     IKESA
	childA, childB ChildSA
	wire           Wire
}

// run starts both charons, initiates from A, checks the CHILD_SA on both
// ends, pings through it and checks the wire.
func (tu tunnel) run(t *testing.T) result {
	t.Helper()
	ca := Start(t, tu.a, Config{Conns: []Conn{tu.connA}})
	cb := Start(t, tu.b, Config{Conns: []Conn{tu.connB}, AggressivePSK: tu.aggressivePSK})
	capture := tu.capNS.Capture(t, tu.capIf)

	require.NoError(t, ca.Initiate("peer", "net"))
	ikeA, childA, err := ca.WaitChildSA("peer", "net", 10*time.Second)
	require.NoError(t, err)
	ikeB, childB, err := cb.WaitChildSA("peer", "net", 10*time.Second)
	require.NoError(t, err)
	require.True(t, ikeA.Initiator)
	require.False(t, ikeB.Initiator)
	require.Equal(t, 1, ikeA.Version)
	// One CHILD_SA: A's inbound SPI is B's outbound and the reverse.
	require.Equal(t, childA.SPIIn, childB.SPIOut)
	require.Equal(t, childA.SPIOut, childB.SPIIn)
	require.NotZero(t, childA.SPIIn)
	require.Equal(t, "TUNNEL", childA.Mode)
	require.True(t, childA.Encap, "kernel-libipsec SAs are always UDP-encapsulated")
	require.True(t, childB.Encap)

	const pings = 5
	require.NoError(t, Ping(tu.a, tu.innerA, tu.innerB, pings))

	_, childB2, err := cb.WaitChildSA("peer", "net", time.Second)
	require.NoError(t, err)
	require.GreaterOrEqual(t, childB2.PacketsIn, uint64(pings))
	require.GreaterOrEqual(t, childB2.PacketsOut, uint64(pings))

	drops, err := capture.Drops()
	require.NoError(t, err)
	require.Zero(t, drops)
	w := Classify(capture.Packets())
	t.Logf("wire: %+v", w)
	require.Zero(t, w.Other, "cleartext on the wire: %s", w.FirstOther)
	require.Zero(t, w.ESP, "kernel-libipsec sends no raw ESP")
	require.GreaterOrEqual(t, w.IKE, 6, "main mode (6) or aggressive mode (3), and quick mode (3)")
	require.GreaterOrEqual(t, w.ESPInUDP, 2*pings)
	return result{a: ca, b: cb, ikeA: ikeA, ikeB: ikeB, childA: childA, childB: childB, wire: w}
}

func pskTunnel(p *Pair, ike, esp []string) tunnel {
	connA := Conn{
		LocalAddrs: Addrs(p.OuterA), RemoteAddrs: Addrs(p.OuterB),
		PSK: testPSK, Proposals: ike,
		Children: []Child{{LocalTS: Host(p.InnerA), RemoteTS: Host(p.InnerB), ESPProposals: esp}},
	}
	return tunnel{
		a: p.A, b: p.B, connA: connA,
		connB:  mirror(connA, Addrs(p.OuterB), Addrs(p.OuterA)),
		innerA: p.InnerA, innerB: p.InnerB, capNS: p.A, capIf: VethA,
	}
}

// TestPSK3DES: the Windows Server 2003 default suite, 3DES-SHA1 with
// MODP1024 in main mode and 3DES-SHA1 ESP, between two charons.
func TestPSK3DES(t *testing.T) {
	RequireCharon(t)
	t.Parallel()
	p := NewPair(t)
	r := pskTunnel(p, []string{"3des-sha1-modp1024"}, []string{"3des-sha1"}).run(t)
	ikeA, ikeB, childA := r.ikeA, r.ikeB, r.childA
	require.Equal(t, "3DES_CBC", ikeA.EncrAlg)
	require.Equal(t, "HMAC_SHA1_96", ikeA.IntegAlg)
	require.Equal(t, "PRF_HMAC_SHA1", ikeA.PRFAlg)
	require.Equal(t, "MODP_1024", ikeA.DHGroup)
	require.Equal(t, "3DES_CBC", childA.EncrAlg)
	require.Equal(t, "HMAC_SHA1_96", childA.IntegAlg)
	require.Equal(t, p.OuterB.String(), ikeA.RemoteHost)
	require.Equal(t, p.OuterA.String(), ikeB.RemoteHost)
	require.Equal(t, 4500, ikeA.RemotePort, "IKE floats to 4500 (faked NAT)")
	// kernel-libipsec makes charon fake NAT-D: each end believes its
	// peer is behind a NAT (nat-remote), neither itself.
	require.True(t, ikeA.NATRemote && ikeB.NATRemote)
	require.False(t, ikeA.NATLocal || ikeB.NATLocal)
}

// TestPSKAESGCM: AES128-SHA256-MODP2048 main mode, AES128-GCM16 ESP.
func TestPSKAESGCM(t *testing.T) {
	RequireCharon(t)
	t.Parallel()
	p := NewPair(t)
	r := pskTunnel(p, []string{"aes128-sha256-modp2048"}, []string{"aes128gcm16"}).run(t)
	ikeA, childA, childB := r.ikeA, r.childA, r.childB
	require.Equal(t, "AES_CBC", ikeA.EncrAlg)
	require.Equal(t, 128, ikeA.EncrKeySize)
	require.Equal(t, "HMAC_SHA2_256_128", ikeA.IntegAlg)
	require.Equal(t, "MODP_2048", ikeA.DHGroup)
	require.Equal(t, "AES_GCM_16", childA.EncrAlg)
	require.Equal(t, 128, childA.EncrKeySize)
	require.Equal(t, "", childA.IntegAlg)
	require.Equal(t, childA.EncrAlg, childB.EncrAlg)
}

// TestAggressivePFS: aggressive mode with a PSK (which the responder must
// allow: Config.AggressivePSK) and a DH group in quick mode (PFS).
func TestAggressivePFS(t *testing.T) {
	RequireCharon(t)
	t.Parallel()
	p := NewPair(t)
	tu := pskTunnel(p, []string{"aes128-sha1-modp2048"}, []string{"aes128-sha1-modp2048"})
	tu.connA.Aggressive, tu.connB.Aggressive = true, true
	tu.aggressivePSK = true
	r := tu.run(t)
	require.Equal(t, 6, r.wire.IKE, "aggressive mode (3) + quick mode (3)")
	require.NoError(t, r.a.WaitLog("initiating Aggressive Mode", 0))
	ikeA, childA, childB := r.ikeA, r.childA, r.childB
	require.Equal(t, "MODP_2048", ikeA.DHGroup)
	require.Equal(t, "MODP_2048", childA.DHGroup, "PFS")
	require.Equal(t, "MODP_2048", childB.DHGroup)
}

// TestCertificates: main mode with RSA signatures, certificates from one
// test CA, identities as subject DNs (as Windows sends them).
func TestCertificates(t *testing.T) {
	RequireCharon(t)
	t.Parallel()
	p := NewPair(t)
	ca := NewCA(t, "charontest CA")
	idA := ca.Issue(t, "a.charontest", p.OuterA)
	idB := ca.Issue(t, "b.charontest", p.OuterB)
	tu := pskTunnel(p, []string{"aes128-sha256-modp2048"}, []string{"aes128-sha1"})
	tu.connA.PSK, tu.connB.PSK = nil, nil
	tu.connA.Cert, tu.connA.LocalID, tu.connA.RemoteID = idA, idA.SubjectDN(), idB.SubjectDN()
	tu.connB.Cert, tu.connB.LocalID, tu.connB.RemoteID = idB, idB.SubjectDN(), idA.SubjectDN()
	r := tu.run(t)
	ikeA, ikeB := r.ikeA, r.ikeB
	// MM5 with certificate, signature and CERTREQ is ~1300 bytes: charon
	// splits it into IKEv1 fragments (the peer sent the FRAGMENTATION
	// VID), so main mode takes 7 packets here.
	require.NoError(t, r.a.WaitLog("into 2 fragments", 0))
	require.Equal(t, 10, r.wire.IKE, "main mode (6, MM5 in 2 fragments) + quick mode (3)")
	require.Equal(t, "C=ZZ, O=gonetsh test, CN=b.charontest", ikeA.RemoteID)
	require.Equal(t, idA.SubjectDN(), ikeB.RemoteID)
}

// TestNAT: A behind a masquerading router. B sees A at the NAT's address
// and detects a real NAT; A knows it is behind one.
func TestNAT(t *testing.T) {
	RequireCharon(t)
	t.Parallel()
	n := NewNATTopology(t)
	connA := Conn{
		LocalAddrs: Addrs(n.OuterA), RemoteAddrs: Addrs(n.OuterB),
		PSK: testPSK, Proposals: []string{"3des-sha1-modp2048"},
		Children: []Child{{LocalTS: Host(n.InnerA), RemoteTS: Host(n.InnerB), ESPProposals: []string{"3des-sha1"}}},
	}
	// B accepts A from anywhere: its packets arrive from the NAT.
	connB := mirror(connA, Addrs(n.OuterB), []string{"%any"})
	tu := tunnel{
		a: n.A, b: n.B, connA: connA, connB: connB,
		innerA: n.InnerA, innerB: n.InnerB, capNS: n.B, capIf: VethB,
	}
	r := tu.run(t)
	ikeA, ikeB := r.ikeA, r.ikeB
	require.Equal(t, n.NATOutside.String(), ikeB.RemoteHost)
	require.Equal(t, n.OuterA.String(), ikeB.RemoteID, "A's identity is its own address, not the NAT's")
	require.True(t, ikeA.NATLocal, "A detects that it is behind a NAT")
	require.True(t, ikeB.NATRemote)
	require.Equal(t, 4500, ikeA.RemotePort)
}

// rateOutEnv names the file TestNegotiationRate writes its figures to
// (`make bench` sets it); without it the test is skipped.
const rateOutEnv = "CHARONTEST_RATE_OUT"

// TestNegotiationRate measures charon-to-charon main mode + quick mode
// negotiations per second for each of RateSuites (N from
// CHARONTEST_RATE_N, concurrency from CHARONTEST_RATE_CONCURRENCY,
// MeasureRate's defaults when unset) and appends one line per suite to
// the file named by CHARONTEST_RATE_OUT. It is a figure, not a test:
// `make test` skips it.
func TestNegotiationRate(t *testing.T) {
	out := os.Getenv(rateOutEnv)
	if out == "" {
		t.Skip("skipping: a benchmark; set " + rateOutEnv + "=FILE (make bench does)")
	}
	RequireCharon(t)
	env := func(name string) int {
		s := os.Getenv(name)
		if s == "" {
			return 0 // MeasureRate's default
		}
		v, err := strconv.Atoi(s)
		require.NoError(t, err, name)
		return v
	}
	n, conc := env("CHARONTEST_RATE_N"), env("CHARONTEST_RATE_CONCURRENCY")
	var lines []string
	for _, s := range RateSuites {
		t.Run(s.Name, func(t *testing.T) {
			r, err := MeasureRate(t, RateConfig{Suite: s, N: n, Concurrency: conc})
			require.NoError(t, err)
			t.Log(r)
			lines = append(lines, r.String())
		})
	}
	require.False(t, t.Failed())
	f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	require.NoError(t, errors.Join(err, f.Close()))
}

// TestTerminate: Terminate deletes the SAs on both ends. With a TMPDIR
// long enough to push the vici socket out of sun_path (so the test cannot
// be parallel: it sets TMPDIR).
func TestTerminate(t *testing.T) {
	RequireCharon(t)
	// Before the test's first TempDir, which fixes its parent.
	base, err := os.MkdirTemp("", "charontest")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(base) })
	long := filepath.Join(base, strings.Repeat("d", 80))
	require.NoError(t, os.Mkdir(long, 0o700))
	t.Setenv("TMPDIR", long)
	p := NewPair(t)
	tu := pskTunnel(p, []string{"aes128-sha1-modp2048"}, []string{"aes128-sha1"})
	a := Start(t, p.A, Config{Conns: []Conn{tu.connA}})
	b := Start(t, p.B, Config{Conns: []Conn{tu.connB}})
	require.Greater(t, len(filepath.Join(a.Dir(), "charon.vici")), maxSocketPath)
	require.NoError(t, a.Initiate("peer", "net"))
	_, _, err = b.WaitChildSA("peer", "net", 10*time.Second)
	require.NoError(t, err)
	require.NoError(t, a.Terminate("peer"))
	require.Eventually(t, func() bool {
		sa, err := b.ListSAs()
		return err == nil && len(sa) == 0
	}, 10*time.Second, 20*time.Millisecond, "B still lists SAs after A's DELETE")
	require.NoError(t, b.WaitLog("received DELETE for IKE_SA", time.Second))
	require.Error(t, b.WaitLog("no such line", 10*time.Millisecond))
	require.Error(t, Ping(p.A, p.InnerA, p.InnerB, 1), "no tunnel, no route")
}
