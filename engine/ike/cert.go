package ike

// Certificate authentication (RFC 2409 section 5.1): MM5 and MM6 carry
// IDx, CERT and SIG_x, the RSA signature of HASH_I or HASH_R; MM3 and
// MM4 carry a CERTREQ per trusted CA (RFC 2408 sections 3.9, 3.10,
// 3.12). SKEYID is then prf(Ni_b | Nr_b, g^xy). As IKEv1 peers do
// (RFC 2409 leaves the padding to the algorithm), the signature is
// PKCS#1 v1.5 over the raw hash, without a DigestInfo.

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gonetsh/gonetsh/ipsec"
)

// CertConfig is this host's certificate identity, the CAs it trusts and
// its revocation policy. The Go values may be given directly or loaded
// from Dir.
type CertConfig struct {
	// Dir, when set, holds host.crt (PEM: this host's certificate, then
	// its chain), host.key (PEM: its RSA key, PKCS#1 or PKCS#8),
	// cacerts/*.crt|*.pem (trusted CA certificates) and crls/*.crl|*.pem
	// (CRLs, PEM or DER); what it holds is added to the fields below.
	Dir string

	// Certificate is this host's certificate chain, leaf first; Key its
	// private key (RSA).
	Certificate []*x509.Certificate
	Key         crypto.Signer

	// Roots are the trusted CA certificates. A rule's rootca method
	// names its CA by distinguished name; the root with that subject
	// anchors the peer's chain.
	Roots []*x509.Certificate

	// CRLs are the certificate revocation lists known.
	CRLs []*x509.RevocationList

	// StrongCRLCheck is `strongcrlcheck`: 0 no revocation check, 1 fail
	// only on a revoked certificate, 2 fail also when no CRL of the
	// issuer is available.
	StrongCRLCheck int
}

// ErrCertConfig wraps certificate configuration errors.
var ErrCertConfig = errors.New("ike: certificate configuration")

func (n *Negotiator) loadCertificates() error {
	c := &n.cfg.Certificates
	if c.Dir != "" {
		if err := c.load(); err != nil {
			return fmt.Errorf("%w: %v", ErrCertConfig, err)
		}
	}
	if len(c.Certificate) > 0 && c.Key != nil {
		if _, ok := c.Key.(*rsa.PrivateKey); !ok {
			return fmt.Errorf("%w: key is not RSA", ErrCertConfig)
		}
		pub, ok := c.Certificate[0].PublicKey.(*rsa.PublicKey)
		if !ok || !pub.Equal(c.Key.Public()) {
			return fmt.Errorf("%w: key does not match the certificate", ErrCertConfig)
		}
	}
	return nil
}

func pemBlocks(path string) ([]*pem.Block, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var bs []*pem.Block
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		bs = append(bs, blk)
	}
	return bs, b, nil
}

func (c *CertConfig) load() error {
	blocks, _, err := pemBlocks(filepath.Join(c.Dir, "host.crt"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, b := range blocks {
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return fmt.Errorf("host.crt: %w", err)
		}
		c.Certificate = append(c.Certificate, cert)
	}
	blocks, _, err = pemBlocks(filepath.Join(c.Dir, "host.key"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, b := range blocks {
		if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
			c.Key = k
		} else if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
			s, ok := k.(crypto.Signer)
			if !ok {
				return fmt.Errorf("host.key: unusable key")
			}
			c.Key = s
		} else {
			return fmt.Errorf("host.key: %w", err)
		}
	}
	cas, _ := filepath.Glob(filepath.Join(c.Dir, "cacerts", "*"))
	for _, f := range cas {
		blocks, _, err := pemBlocks(f)
		if err != nil {
			return err
		}
		for _, b := range blocks {
			cert, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			c.Roots = append(c.Roots, cert)
		}
	}
	crls, _ := filepath.Glob(filepath.Join(c.Dir, "crls", "*"))
	for _, f := range crls {
		blocks, raw, err := pemBlocks(f)
		if err != nil {
			return err
		}
		ders := [][]byte{raw}
		if len(blocks) > 0 {
			ders = nil
			for _, b := range blocks {
				ders = append(ders, b.Bytes)
			}
		}
		for _, d := range ders {
			l, err := x509.ParseRevocationList(d)
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			c.CRLs = append(c.CRLs, l)
		}
	}
	return nil
}

func (n *Negotiator) certReady() bool {
	c := &n.cfg.Certificates
	return len(c.Certificate) > 0 && c.Key != nil
}

// normDN makes a distinguished name comparable whatever its spelling:
// "C=US, O=x, CN=y" and Go's "CN=y,O=x,C=US" give the same result.
func normDN(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		parts[i] = strings.ToLower(strings.TrimSpace(k)) + "=" + strings.ToLower(strings.TrimSpace(v))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// rootsFor returns the trusted CAs named by mm's rule (every root when
// a rootca method names none).
func (n *Negotiator) rootsFor(mm *mmState) []*x509.Certificate {
	var names []string
	for _, a := range mm.filter.Auth {
		if a.Kind == ipsec.AuthRootCA {
			names = append(names, normDN(a.CA))
		}
	}
	var r []*x509.Certificate
	for _, root := range n.cfg.Certificates.Roots {
		if slices.Contains(names, normDN("")) || slices.Contains(names, normDN(root.Subject.String())) {
			r = append(r, root)
		}
	}
	return r
}

func (n *Negotiator) certReqPayloads(mm *mmState) []payload {
	if mm.authKind != ipsec.AuthRootCA {
		return nil
	}
	var ps []payload
	for _, r := range n.rootsFor(mm) {
		ps = append(ps, payload{plCertReq, Cert{Encoding: certX509Sig, Data: r.RawSubject}.Encode()})
	}
	return ps
}

// processCertReq: this host always sends its certificate chain, so a
// request changes nothing.
func (n *Negotiator) processCertReq(mm *mmState, m *Message) {}

// localID is the IDii/IDir payload: the certificate's subject with
// certificates (ID_DER_ASN1_DN), else the address (ID_IPV4_ADDR).
func (n *Negotiator) localID(mm *mmState) ID {
	if mm.authKind == ipsec.AuthRootCA && n.certReady() {
		return ID{Type: idDERASN1DN, Data: n.cfg.Certificates.Certificate[0].RawSubject}
	}
	return ID{Type: idIPv4Addr, Data: mm.local.Addr().AsSlice()}
}

func (n *Negotiator) signaturePayloads(mm *mmState, hash []byte) ([]payload, error) {
	c := &n.cfg.Certificates
	if !n.certReady() {
		return nil, errors.New("no certificate configured")
	}
	sig, err := c.Key.Sign(n.cfg.Rand, hash, crypto.Hash(0))
	if err != nil {
		return nil, err
	}
	var ps []payload
	for _, cert := range c.Certificate {
		ps = append(ps, payload{plCert, Cert{Encoding: certX509Sig, Data: cert.Raw}.Encode()})
	}
	return append(ps, payload{plSig, sig}), nil
}

// verifySignature checks the peer's chain against the rule's CA, its
// identity against the certificate, revocation, and SIG over hash.
func (n *Negotiator) verifySignature(mm *mmState, m *Message, idb, hash []byte) error {
	var certs []*x509.Certificate
	for _, b := range m.all(plCert) {
		c, _ := DecodeCert(b)
		if c.Encoding != certX509Sig {
			continue
		}
		cert, err := x509.ParseCertificate(c.Data)
		if err != nil {
			return authErr("peer certificate: %v", err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return authErr("no certificate from peer")
	}
	leaf := certs[0]
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range n.rootsFor(mm) {
		roots.AddCert(r)
	}
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		CurrentTime: n.now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return authErr("peer certificate %q not trusted: %v", leaf.Subject.String(), err)
	}
	id, _ := DecodeID(idb)
	switch id.Type {
	case idDERASN1DN:
		if !bytes.Equal(id.Data, leaf.RawSubject) {
			return authErr("ID %q is not the certificate's subject", "DN")
		}
	case idIPv4Addr:
		ok := false
		for _, ip := range leaf.IPAddresses {
			ok = ok || ip.To4() != nil && bytes.Equal(ip.To4(), id.Data)
		}
		if !ok {
			return authErr("ID address not in the certificate")
		}
	case idFQDN:
		if leaf.VerifyHostname(string(id.Data)) != nil {
			return authErr("ID name not in the certificate")
		}
	default:
		return authErr("ID type %d not supported with certificates", id.Type)
	}
	if err := n.checkRevocation(chains[0]); err != nil {
		return authErr("%v", err)
	}
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	sig := m.first(plSig)
	if !ok || sig == nil {
		return authErr("no RSA signature")
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.Hash(0), hash, sig); err != nil {
		return authErr("signature invalid: %v", err)
	}
	return nil
}

// SetStrongCRLCheck changes the revocation check of `set config
// strongcrlcheck` (see CertConfig.StrongCRLCheck) for the certificates
// checked from now on.
func (n *Negotiator) SetStrongCRLCheck(level uint8) { n.crlCheck.Store(int32(level)) }

// checkRevocation applies StrongCRLCheck to each certificate of chain
// but the root.
func (n *Negotiator) checkRevocation(chain []*x509.Certificate) error {
	level := int(n.crlCheck.Load())
	if level == 0 {
		return nil
	}
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		found := false
		for _, l := range n.cfg.Certificates.CRLs {
			if l.CheckSignatureFrom(issuer) != nil {
				continue
			}
			found = true
			for _, e := range l.RevokedCertificateEntries {
				if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
					return fmt.Errorf("certificate %q is revoked", cert.Subject.String())
				}
			}
		}
		if !found && level >= 2 {
			return fmt.Errorf("no CRL of %q available (strongcrlcheck 2)", issuer.Subject.String())
		}
	}
	return nil
}
