//go:build linux

package charontest

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
	"testing"
	"time"
)

// CA is a throw-away certification authority (RSA 2048, self-signed).
type CA struct {
	Cert *x509.Certificate
	Key  *rsa.PrivateKey
}

// Identity is a host certificate with its key and issuing CA: the Go
// values for our side, and what Conn.Cert writes for charon.
type Identity struct {
	Cert *x509.Certificate
	Key  *rsa.PrivateKey
	CA   *x509.Certificate
}

// certValidity: long enough for any test, and backdated against clock
// skew between namespaces (there is none, but charon checks).
const certValidity = 24 * time.Hour

// NewCA creates a CA with the common name cn. It fails t on error.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"ZZ"}, Organization: []string{"gonetsh test"}, CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, Key: key}
}

// Issue makes a host certificate with the common name cn and, as
// subjectAltNames, the addresses ips (so that charon accepts an IP
// identity) and cn as a DNS name. It fails t on error.
func (ca *CA) Issue(t testing.TB, cn string, ips ...netip.Addr) *Identity {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn.Add(sn, big.NewInt(2)),
		Subject:      pkix.Name{Country: []string{"ZZ"}, Organization: []string{"gonetsh test"}, CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     []string{cn},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(ip.AsSlice()))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Identity{Cert: cert, Key: key, CA: ca.Cert}
}

// SubjectDN returns the certificate's subject in strongSwan's notation
// ("C=ZZ, O=gonetsh test, CN=a"), usable as Conn.LocalID or RemoteID.
func (id *Identity) SubjectDN() string {
	s := id.Cert.Subject
	return "C=" + s.Country[0] + ", O=" + s.Organization[0] + ", CN=" + s.CommonName
}

// CertPEM, KeyPEM (PKCS#8) and CAPEM encode the identity for files.
func (id *Identity) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Cert.Raw})
}

func (id *Identity) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.CA.Raw})
}

func (id *Identity) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(id.Key)
	if err != nil {
		panic(err) // an *rsa.PrivateKey always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// writeIdentity puts the certificate, key and CA of connection name where
// `swanctl --load-all --file dir/swanctl.conf` finds them: x509/,
// private/, x509ca/.
func (c *Charon) writeIdentity(name string, id *Identity) error {
	files := []struct {
		dir, file string
		data      []byte
	}{
		{"x509", name + ".pem", id.CertPEM()},
		{"private", name + ".pem", id.KeyPEM()},
		{"x509ca", name + "-ca.pem", id.CAPEM()},
	}
	for _, f := range files {
		d := filepath.Join(c.dir, f.dir)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, f.file), f.data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
