package ike

// Certificate authentication (RFC 2409 section 5.1: SIG_I/SIG_R over
// HASH_I/HASH_R, CERT and CERTREQ payloads of RFC 2408 sections 3.9,
// 3.10).

import (
	"errors"

	"github.com/gonetsh/gonetsh/ipsec"
)

// CertConfig is this host's certificate identity and revocation policy.
type CertConfig struct {
	// Dir holds this host's certificate and key (host.pem, host.key,
	// PEM) and optional CRL files (*.crl); empty: no certificate
	// authentication.
	Dir string
	// StrongCRLCheck is the `strongcrlcheck` level: 0 no CRL check, 1
	// fail only on a revoked certificate, 2 fail also when no CRL is
	// available.
	StrongCRLCheck int
}

var errNoCert = errors.New("ike: certificate authentication is not configured")

func (n *Negotiator) loadCertificates() error { return nil }

func (n *Negotiator) certReady() bool { return false }

func (n *Negotiator) certReqPayloads(mm *mmState) []payload { return nil }

func (n *Negotiator) processCertReq(mm *mmState, m *Message) {}

func (n *Negotiator) signaturePayloads(mm *mmState, hash []byte) ([]payload, error) {
	return nil, errNoCert
}

func (n *Negotiator) verifySignature(mm *mmState, m *Message, idb, hash []byte) error {
	return authErr("%v", errNoCert)
}

var _ = ipsec.AuthRootCA
