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

func p1EncValue(c ipsec.Cipher) (uint32, uint32) {
	switch c {
	case ipsec.CipherDES:
		return 1, 0
	case ipsec.Cipher3DES:
		return 5, 0
	case ipsec.CipherAES128:
		return 7, 128
	case ipsec.CipherAES192:
		return 7, 192
	case ipsec.CipherAES256:
		return 7, 256
	}
	return 0, 0
}

func p1Cipher(enc, keyLen uint32) ipsec.Cipher {
	switch {
	case enc == 1 && keyLen == 0:
		return ipsec.CipherDES
	case enc == 5 && keyLen == 0:
		return ipsec.Cipher3DES
	case enc == 7 && keyLen == 128:
		return ipsec.CipherAES128
	case enc == 7 && keyLen == 192:
		return ipsec.CipherAES192
	case enc == 7 && keyLen == 256:
		return ipsec.CipherAES256
	}
	return ipsec.CipherNone
}

func p1HashValue(h ipsec.Hash) uint32 {
	switch h {
	case ipsec.HashMD5:
		return 1
	case ipsec.HashSHA1:
		return 2
	case ipsec.HashSHA256:
		return 4
	}
	return 0
}

func p1HashOf(v uint32) ipsec.Hash {
	switch v {
	case 1:
		return ipsec.HashMD5
	case 2:
		return ipsec.HashSHA1
	case 4:
		return ipsec.HashSHA256
	}
	return ipsec.HashNone
}

// mmTransform is the transform of offer o with auth method am.
func mmTransform(num int, o ipsec.MMOffer, am uint32, life uint32) Transform {
	enc, kl := p1EncValue(o.Cipher)
	as := []Attribute{attrU(p1Enc, enc)}
	if kl != 0 {
		as = append(as, attrU(p1KeyLen, kl))
	}
	as = append(as, attrU(p1Hash, p1HashValue(o.Hash)), attrU(p1Auth, am),
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
	p.offer = ipsec.MMOffer{Cipher: p1Cipher(enc, kl), Hash: p1HashOf(h), Group: ipsec.DHGroup(g)}
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
	ok := p.offer.Cipher != ipsec.CipherNone && p.offer.Hash != ipsec.HashNone && supportedGroup(p.offer.Group)
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

// ESP transform IDs (RFC 2407 section 4.4.4, RFC 4106 section 8.1) and
// AH transform IDs (section 4.4.3).
const (
	espDES    uint8 = 2
	esp3DES   uint8 = 3
	espAES    uint8 = 12
	espGCM16  uint8 = 20
	ahMD5     uint8 = 2
	ahSHA     uint8 = 3
	ahSHA2256 uint8 = 5
)

func espID(c ipsec.Cipher) (uint8, uint32) {
	switch c {
	case ipsec.CipherDES:
		return espDES, 0
	case ipsec.Cipher3DES:
		return esp3DES, 0
	case ipsec.CipherAES128:
		return espAES, 128
	case ipsec.CipherAES192:
		return espAES, 192
	case ipsec.CipherAES256:
		return espAES, 256
	case ipsec.CipherAESGCM128:
		return espGCM16, 128
	case ipsec.CipherAESGCM256:
		return espGCM16, 256
	}
	return 0, 0
}

func espCipher(id uint8, kl uint32) ipsec.Cipher {
	switch {
	case id == espDES:
		return ipsec.CipherDES
	case id == esp3DES:
		return ipsec.Cipher3DES
	case id == espAES && (kl == 128 || kl == 0):
		return ipsec.CipherAES128
	case id == espAES && kl == 192:
		return ipsec.CipherAES192
	case id == espAES && kl == 256:
		return ipsec.CipherAES256
	case id == espGCM16 && (kl == 128 || kl == 0):
		return ipsec.CipherAESGCM128
	case id == espGCM16 && kl == 256:
		return ipsec.CipherAESGCM256
	}
	return ipsec.CipherNone
}

// Authentication algorithm attribute values (RFC 2407 section 4.5, RFC
// 4868 section 2.4 for SHA2-256).
func p2AuthValue(h ipsec.Hash) uint32 {
	switch h {
	case ipsec.HashMD5:
		return 1
	case ipsec.HashSHA1:
		return 2
	case ipsec.HashSHA256:
		return 5
	}
	return 0
}

func p2Hash(v uint32) ipsec.Hash {
	switch v {
	case 1:
		return ipsec.HashMD5
	case 2:
		return ipsec.HashSHA1
	case 5:
		return ipsec.HashSHA256
	}
	return ipsec.HashNone
}

func ahID(h ipsec.Hash) uint8 {
	switch h {
	case ipsec.HashMD5:
		return ahMD5
	case ipsec.HashSHA1:
		return ahSHA
	case ipsec.HashSHA256:
		return ahSHA2256
	}
	return 0
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
	if auth != ipsec.HashNone {
		as = append(as, attrU(p2Auth, p2AuthValue(auth)))
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
			p.auth, authSeen = p2Hash(v), true
			if p.auth == ipsec.HashNone {
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
		p.cipher = espCipher(t.ID, kl)
		if p.cipher == ipsec.CipherNone || p.cipher.AEAD() == authSeen {
			return p, false
		}
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
