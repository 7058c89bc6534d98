package ike

// Proposal encoding and selection: main mode transforms (RFC 2409
// Appendix A) and quick mode transforms (RFC 2407 sections 4.4.4, 4.5;
// RFC 3947 section 5.1 for the UDP-encapsulated modes).

import (
	"github.com/gonetsh/gonetsh/ipsec"
)

// Phase 1 attribute types and values (RFC 2409 Appendix A).
const (
	p1Enc      uint16 = 1
	p1Hash     uint16 = 2
	p1Auth     uint16 = 3
	p1Group    uint16 = 4
	p1LifeType uint16 = 11
	p1LifeDur  uint16 = 12
	p1KeyLen   uint16 = 14

	lifeSeconds   = 1
	lifeKilobytes = 2

	authPSK    = 1
	authRSASig = 3

	keyIKE uint8 = 1 // transform ID KEY_IKE (RFC 2407 section 4.4.2)
)

// code is an algorithm's value on the wire: a transform ID or attribute
// value, with the key length attribute (bits) where one applies.
type code[A comparable] struct {
	alg  A
	id   uint32
	bits uint32
}

// wire returns alg's code in tab.
func wire[A comparable](tab []code[A], alg A) (id, bits uint32) {
	for _, c := range tab {
		if c.alg == alg {
			return c.id, c.bits
		}
	}
	return 0, 0
}

// algOf returns the algorithm of a code in tab; a missing key length
// (bits 0) takes the first entry with that id (AES: 128, RFC 3602
// section 5).
func algOf[A comparable](tab []code[A], id, bits uint32) (A, bool) {
	for _, c := range tab {
		if c.id == id && (c.bits == bits || bits == 0) {
			return c.alg, true
		}
	}
	var zero A
	return zero, false
}

// Phase 1 encryption and hash values (RFC 2409 Appendix A; AES: RFC
// 3602 section 5, SHA2-256: RFC 4868 section 3).
var (
	p1Ciphers = []code[ipsec.Cipher]{
		{ipsec.CipherDES, 1, 0}, {ipsec.Cipher3DES, 5, 0},
		{ipsec.CipherAES128, 7, 128}, {ipsec.CipherAES192, 7, 192}, {ipsec.CipherAES256, 7, 256},
	}
	p1Hashes = []code[ipsec.Hash]{{ipsec.HashMD5, 1, 0}, {ipsec.HashSHA1, 2, 0}, {ipsec.HashSHA256, 4, 0}}
)

// mmTransform is the transform of offer o with auth method am.
func mmTransform(num int, o ipsec.MMOffer, am uint32, life uint32) Transform {
	enc, kl := wire(p1Ciphers, o.Cipher)
	hv, _ := wire(p1Hashes, o.Hash)
	as := []Attribute{attrU(p1Enc, enc)}
	if kl != 0 {
		as = append(as, attrU(p1KeyLen, kl))
	}
	as = append(as, attrU(p1Hash, hv), attrU(p1Auth, am),
		attrU(p1Group, uint32(o.Group)), attrU(p1LifeType, lifeSeconds), attrU(p1LifeDur, life))
	return Transform{Num: uint8(num), ID: keyIKE, Attrs: as}
}

// mmParsed is a phase 1 transform as understood.
type mmParsed struct {
	offer    ipsec.MMOffer
	auth     uint32
	lifetime uint32 // seconds; 0: not given
}

func parseMMTransform(t Transform) (mmParsed, bool) {
	var p mmParsed
	if t.ID != keyIKE {
		return p, false
	}
	enc, _ := t.attr(p1Enc)
	kl, _ := t.attr(p1KeyLen)
	h, _ := t.attr(p1Hash)
	g, _ := t.attr(p1Group)
	p.auth, _ = t.attr(p1Auth)
	c, okc := algOf(p1Ciphers, enc, kl)
	hh, okh := algOf(p1Hashes, h, 0)
	if enc == 7 && kl == 0 {
		okc = false // AES needs its key length in IKE (RFC 3602 section 5)
	}
	p.offer = ipsec.MMOffer{Cipher: c, Hash: hh, Group: ipsec.DHGroup(g)}
	// Life type/duration pairs (RFC 2409 Appendix A): only seconds.
	var lt uint32
	for _, a := range t.Attrs {
		switch a.Type {
		case p1LifeType:
			lt, _ = a.Uint()
		case p1LifeDur:
			if v, ok := a.Uint(); ok && lt == lifeSeconds {
				p.lifetime = v
			}
		}
	}
	ok := okc && okh && supportedGroup(p.offer.Group)
	return p, ok
}

// Phase 2 attribute types (RFC 2407 section 4.5).
const (
	p2LifeType uint16 = 1
	p2LifeDur  uint16 = 2
	p2Group    uint16 = 3
	p2Encap    uint16 = 4
	p2Auth     uint16 = 5
	p2KeyLen   uint16 = 6
)

// Encapsulation modes (RFC 2407 section 4.5, RFC 3947 section 5.1, and
// draft-ietf-ipsec-nat-t-ike-02's private values).
const (
	encapTunnel        = 1
	encapTransport     = 2
	encapUDPTunnel     = 3
	encapUDPTransport  = 4
	encapUDPTunnelD    = 61443
	encapUDPTransportD = 61444
)

// ESP transform IDs (RFC 2407 section 4.4.4, RFC 4106 section 8.1), AH
// transform IDs (section 4.4.3) and the authentication algorithm
// attribute (section 4.5; SHA2-256: RFC 4868 section 2.4).
const (
	espDES    uint8 = 2
	esp3DES   uint8 = 3
	espAES    uint8 = 12
	espGCM16  uint8 = 20
	ahMD5     uint8 = 2
	ahSHA     uint8 = 3
	ahSHA2256 uint8 = 5
)

var (
	espCiphers = []code[ipsec.Cipher]{
		{ipsec.CipherDES, uint32(espDES), 0}, {ipsec.Cipher3DES, uint32(esp3DES), 0},
		{ipsec.CipherAES128, uint32(espAES), 128}, {ipsec.CipherAES192, uint32(espAES), 192}, {ipsec.CipherAES256, uint32(espAES), 256},
		{ipsec.CipherAESGCM128, uint32(espGCM16), 128}, {ipsec.CipherAESGCM256, uint32(espGCM16), 256},
	}
	p2Auths = []code[ipsec.Hash]{{ipsec.HashMD5, 1, 0}, {ipsec.HashSHA1, 2, 0}, {ipsec.HashSHA256, 5, 0}}
	ahIDs   = []code[ipsec.Hash]{{ipsec.HashMD5, uint32(ahMD5), 0}, {ipsec.HashSHA1, uint32(ahSHA), 0}, {ipsec.HashSHA256, uint32(ahSHA2256), 0}}
)

func espID(c ipsec.Cipher) (uint8, uint32) {
	id, bits := wire(espCiphers, c)
	return uint8(id), bits
}

func ahID(h ipsec.Hash) uint8 {
	id, _ := wire(ahIDs, h)
	return uint8(id)
}

// qmParams are the attributes common to the transforms of a proposal.
type qmParams struct {
	encap   uint32
	group   ipsec.DHGroup // PFS group; DHNone: no PFS
	lifeSec uint32
	lifeKB  uint32
}

func p2Attrs(p qmParams, auth ipsec.Hash, keyLen uint32) []Attribute {
	as := []Attribute{
		attrU(p2LifeType, lifeSeconds), attrU(p2LifeDur, p.lifeSec),
		attrU(p2LifeType, lifeKilobytes), attrU(p2LifeDur, p.lifeKB),
	}
	if p.group != ipsec.DHNone {
		as = append(as, attrU(p2Group, uint32(p.group)))
	}
	as = append(as, attrU(p2Encap, p.encap))
	if v, _ := wire(p2Auths, auth); v != 0 {
		as = append(as, attrU(p2Auth, v))
	}
	if keyLen != 0 {
		as = append(as, attrU(p2KeyLen, keyLen))
	}
	return as
}

// parsedP2 is one phase 2 transform as understood.
type parsedP2 struct {
	params qmParams
	cipher ipsec.Cipher // ESP
	auth   ipsec.Hash
}

func parseP2(protocol uint8, t Transform) (parsedP2, bool) {
	var p parsedP2
	var lt, kl uint32
	authSeen := false
	for _, a := range t.Attrs {
		v, ok := a.Uint()
		if !ok {
			return p, false
		}
		switch a.Type {
		case p2LifeType:
			lt = v
		case p2LifeDur:
			switch lt {
			case lifeSeconds:
				p.params.lifeSec = v
			case lifeKilobytes:
				p.params.lifeKB = v
			}
		case p2Group:
			p.params.group = ipsec.DHGroup(v)
		case p2Encap:
			p.params.encap = v
		case p2Auth:
			if p.auth, authSeen = algOf(p2Auths, v, 0); !authSeen {
				return p, false
			}
		case p2KeyLen:
			kl = v
		}
	}
	if p.params.group != ipsec.DHNone && !supportedGroup(p.params.group) {
		return p, false
	}
	switch protocol {
	case protoESP:
		c, ok := algOf(espCiphers, uint32(t.ID), kl)
		if !ok || c.AEAD() == authSeen {
			return p, false
		}
		p.cipher = c
	case protoAH:
		if !authSeen || ahID(p.auth) != t.ID {
			return p, false
		}
	default:
		return p, false
	}
	return p, true
}

// encapMode returns the mode attribute for tunnel/transport with or
// without UDP encapsulation, in the RFC or draft numbering.
func encapMode(tunnel, udp, draft bool) uint32 {
	switch {
	case !udp && tunnel:
		return encapTunnel
	case !udp:
		return encapTransport
	case tunnel && draft:
		return encapUDPTunnelD
	case tunnel:
		return encapUDPTunnel
	case draft:
		return encapUDPTransportD
	}
	return encapUDPTransport
}

func encapIsTunnel(m uint32) bool {
	return m == encapTunnel || m == encapUDPTunnel || m == encapUDPTunnelD
}

func encapIsUDP(m uint32) bool {
	return m == encapUDPTunnel || m == encapUDPTransport || m == encapUDPTunnelD || m == encapUDPTransportD
}

func validEncap(m uint32) bool {
	return m >= 1 && m <= 4 || m == encapUDPTunnelD || m == encapUDPTransportD
}

// authKeyLen is the HMAC key length of h (RFC 2403, 2404, 4868).
func authKeyLen(h ipsec.Hash) int {
	switch h {
	case ipsec.HashMD5:
		return 16
	case ipsec.HashSHA1:
		return 20
	case ipsec.HashSHA256:
		return 32
	}
	return 0
}

// espEncKeyLen is the ESP key length, with the 4-byte salt of AES-GCM
// (RFC 4106 section 8.1).
func espEncKeyLen(c ipsec.Cipher) int {
	if c.AEAD() {
		return c.KeyLen() + 4
	}
	return c.KeyLen()
}
