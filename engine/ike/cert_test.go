package ike

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
)

type testCA struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

var (
	keyMu   sync.Mutex
	keyPool []*rsa.PrivateKey
)

// testKey hands out RSA keys, generated once per process.
func testKey(t testing.TB, i int) *rsa.PrivateKey {
	keyMu.Lock()
	defer keyMu.Unlock()
	for len(keyPool) <= i {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		keyPool = append(keyPool, k)
	}
	return keyPool[i]
}

var certSerial int64 = 100

func newTestCA(t testing.TB, cn string, key int) *testCA {
	k := testKey(t, key)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"gonetsh"}, CommonName: cn},
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: k}
}

func (ca *testCA) issue(t testing.TB, cn string, ip netip.Addr, key int) (*x509.Certificate, *rsa.PrivateKey) {
	k := testKey(t, key)
	certSerial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(certSerial), Subject: pkix.Name{Organization: []string{"gonetsh"}, CommonName: cn},
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{ip.AsSlice()}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, k
}

func (ca *testCA) crl(t testing.TB, revoked ...*x509.Certificate) *x509.RevocationList {
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NextUpdate: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: tmpl.ThisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := x509.ParseRevocationList(der)
	return l
}

// certPair makes two Negotiators authenticating with certificates from
// ca (A trusts caA, B trusts caB; the rules name those CAs).
func certPair(t *testing.T, caA, caB, issuerA, issuerB *testCA, edit func(a, b *CertConfig)) (*node, *node) {
	certA, keyA := issuerA.issue(t, "a.test", addrA, 2)
	certB, keyB := issuerB.issue(t, "b.test", addrB, 3)
	ccA := CertConfig{Certificate: []*x509.Certificate{certA}, Key: keyA, Roots: []*x509.Certificate{caA.cert}}
	ccB := CertConfig{Certificate: []*x509.Certificate{certB}, Key: keyB, Roots: []*x509.Certificate{caB.cert}}
	if edit != nil {
		edit(&ccA, &ccB)
	}
	i := 0
	a, b, _, _ := newPair(t, pairOpts{
		mmOffers: []ipsec.MMOffer{{Cipher: ipsec.CipherAES128, Hash: ipsec.HashSHA256, Group: ipsec.DHGroup14}},
		cfg: func(c *Config) {
			if i == 0 {
				c.Certificates = ccA
			} else {
				c.Certificates = ccB
			}
			i++
		}})
	// The rules name the CA as netsh prints it (C=, O=, CN= order).
	a.policy.auth = []ipsec.AuthMethod{{Kind: ipsec.AuthRootCA, CA: "O=gonetsh, CN=" + caA.cert.Subject.CommonName}}
	b.policy.auth = []ipsec.AuthMethod{{Kind: ipsec.AuthRootCA, CA: "O=gonetsh, CN=" + caB.cert.Subject.CommonName}}
	return a, b
}

func TestCertificates(t *testing.T) {
	ca := newTestCA(t, "Test Root", 0)
	other := newTestCA(t, "Other Root", 1)
	t.Run("ok", func(t *testing.T) {
		a, b := certPair(t, ca, ca, ca, ca, nil)
		acquire(a, b, 1, true)
		checkPaired(t, a, b)
		if m := a.n.MMSAs(); len(m) != 1 || m[0].Auth != ipsec.AuthRootCA {
			t.Fatalf("MMSAs %+v", m)
		}
		acquire(b, a, 2, true)
		if len(b.n.QMSAs()) != 2 {
			t.Error("B-initiated quick mode missing")
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		// B's certificate comes from a CA that A's rule does not name.
		a, b := certPair(t, ca, ca, ca, other, nil)
		acquire(a, b, 1, true)
		if len(a.kernel.list()) != 0 || a.n.Stats().AuthenticationFailures != 1 {
			t.Errorf("SAs %d, stats %+v", len(a.kernel.list()), a.n.Stats())
		}
	})
	t.Run("revoked", func(t *testing.T) {
		a, b := certPair(t, ca, ca, ca, ca, nil)
		certA := a.n.cfg.Certificates.Certificate[0]
		b.n.cfg.Certificates.CRLs = []*x509.RevocationList{ca.crl(t, certA)}
		b.n.SetStrongCRLCheck(1)
		acquire(a, b, 1, true)
		if len(b.kernel.list()) != 0 || b.n.Stats().AuthenticationFailures != 1 || a.n.Stats().AuthenticationFailures != 1 {
			t.Errorf("revoked certificate accepted: B %+v", b.n.Stats())
		}
	})
	t.Run("crl-required", func(t *testing.T) {
		a, b := certPair(t, ca, ca, ca, ca, nil)
		b.n.SetStrongCRLCheck(2)
		acquire(a, b, 1, true)
		if len(b.kernel.list()) != 0 {
			t.Error("accepted without a CRL")
		}
		b.n.cfg.Certificates.CRLs = []*x509.RevocationList{ca.crl(t)}
		acquire(a, b, 2, true)
		if len(b.kernel.list()) != 2 {
			t.Error("refused with a clean CRL")
		}
	})
}

func TestCertDir(t *testing.T) {
	ca := newTestCA(t, "Dir Root", 0)
	cert, key := ca.issue(t, "a.test", addrA, 2)
	dir := t.TempDir()
	write := func(name, typ string, der []byte) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700)
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("host.crt", "CERTIFICATE", cert.Raw)
	write("host.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	write("cacerts/root.crt", "CERTIFICATE", ca.cert.Raw)
	write("crls/root.crl", "X509 CRL", ca.crl(t).Raw)
	n, err := New(Config{Kernel: newFakeKernel(), Policy: &fakePolicy{}, Transport: memTransport{&memNet{}},
		Certificates: CertConfig{Dir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	c := n.cfg.Certificates
	if !n.certReady() || len(c.Roots) != 1 || len(c.CRLs) != 1 {
		t.Errorf("loaded %d certs, %d roots, %d CRLs", len(c.Certificate), len(c.Roots), len(c.CRLs))
	}
	write("host.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(testKey(t, 3)))
	if _, err := New(Config{Kernel: newFakeKernel(), Policy: &fakePolicy{}, Transport: memTransport{&memNet{}},
		Certificates: CertConfig{Dir: dir}}); err == nil {
		t.Error("mismatched key accepted")
	}
}

// TestAuthPreference: the initiator offers every usable method of its
// rule in the rule's order; a responder that only does certificates picks
// the certificate transform, one that also has the pre-shared key picks
// the key, the initiator's first choice.
func TestAuthPreference(t *testing.T) {
	ca := newTestCA(t, "Pref Root", 0)
	for _, respPSK := range []bool{false, true} {
		a, b := certPair(t, ca, ca, ca, ca, nil)
		a.policy.auth = append([]ipsec.AuthMethod{{Kind: ipsec.AuthPSK, PSK: "k"}}, a.policy.auth...)
		if respPSK {
			b.policy.auth = append([]ipsec.AuthMethod{{Kind: ipsec.AuthPSK, PSK: "k"}}, b.policy.auth...)
		}
		acquire(a, b, 1, true)
		checkPaired(t, a, b)
		want := ipsec.AuthRootCA
		if respPSK {
			want = ipsec.AuthPSK
		}
		for _, n := range []*node{a, b} {
			if m := n.n.MMSAs(); len(m) != 1 || m[0].Auth != want {
				t.Errorf("responder with PSK %v: MMSAs %+v, want auth %v", respPSK, m, want)
			}
		}
	}
}
