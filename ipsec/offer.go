package ipsec

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"hash"
	"strings"
)

// Cipher is a confidentiality algorithm of a main mode or ESP offer.
type Cipher uint8

// Ciphers. DES and 3DES are what Windows Server 2003 offers; the AES ones are
// this project's extension (RFC 3602 for CBC, RFC 4106 for GCM).
const (
	CipherNone Cipher = iota
	CipherDES
	Cipher3DES
	CipherAES128
	CipherAES192
	CipherAES256
	CipherAESGCM128
	CipherAESGCM256
)

// String returns the netsh spelling.
func (c Cipher) String() string {
	switch c {
	case CipherNone:
		return "None"
	case CipherDES:
		return "DES"
	case Cipher3DES:
		return "3DES"
	case CipherAES128:
		return "AES128"
	case CipherAES192:
		return "AES192"
	case CipherAES256:
		return "AES256"
	case CipherAESGCM128:
		return "AESGCM128"
	case CipherAESGCM256:
		return "AESGCM256"
	}
	return fmt.Sprintf("Cipher(%d)", uint8(c))
}

// KeyLen is the key length in bytes (3DES: 24).
func (c Cipher) KeyLen() int {
	switch c {
	case CipherDES:
		return 8
	case Cipher3DES:
		return 24
	case CipherAES128, CipherAESGCM128:
		return 16
	case CipherAES192:
		return 24
	case CipherAES256, CipherAESGCM256:
		return 32
	}
	return 0
}

// AEAD reports whether the cipher also provides integrity (GCM).
func (c Cipher) AEAD() bool { return c == CipherAESGCM128 || c == CipherAESGCM256 }

// Hash is an integrity (HMAC) algorithm.
type Hash uint8

// Integrity algorithms. SHA256 is an extension beyond Windows Server 2003.
const (
	HashNone Hash = iota
	HashMD5
	HashSHA1
	HashSHA256
)

// String returns the netsh spelling.
func (h Hash) String() string {
	switch h {
	case HashNone:
		return "None"
	case HashMD5:
		return "MD5"
	case HashSHA1:
		return "SHA1"
	case HashSHA256:
		return "SHA256"
	}
	return fmt.Sprintf("Hash(%d)", uint8(h))
}

// New returns the constructor of h's hash function (crypto/md5,
// crypto/sha1, crypto/sha256), or nil for HashNone and unknown values.
func (h Hash) New() func() hash.Hash {
	switch h {
	case HashMD5:
		return md5.New
	case HashSHA1:
		return sha1.New
	case HashSHA256:
		return sha256.New
	}
	return nil
}

// DHGroup is a Diffie-Hellman group by its IANA (Oakley) number. netsh's
// group "3" is IANA group 14 (2048-bit MODP, RFC 3526); the conversion lives in
// package grammar.
type DHGroup uint16

// Diffie-Hellman groups.
const (
	DHNone    DHGroup = 0
	DHGroup1  DHGroup = 1  // 768-bit MODP, netsh 1 "Low"
	DHGroup2  DHGroup = 2  // 1024-bit MODP, netsh 2 "Medium"
	DHGroup14 DHGroup = 14 // 2048-bit MODP, netsh 3 "DH2048"
	DHGroup19 DHGroup = 19 // ECP 256 (extension)
	DHGroup20 DHGroup = 20 // ECP 384 (extension)
)

// Netsh returns the number netsh uses for the group in mmsecmethods (1, 2,
// 3) or, for extensions, the IANA number.
func (g DHGroup) Netsh() int {
	if g == DHGroup14 {
		return 3
	}
	return int(g)
}

// DisplayName is the name `show policy` prints: Low(1), Medium(2), DH2048(3).
func (g DHGroup) DisplayName() string {
	switch g {
	case DHGroup1:
		return "Low(1)"
	case DHGroup2:
		return "Medium(2)"
	case DHGroup14:
		return "DH2048(3)"
	case DHGroup19:
		return "ECP256(19)"
	case DHGroup20:
		return "ECP384(20)"
	}
	return fmt.Sprintf("Group(%d)", uint16(g))
}

func (g DHGroup) String() string { return fmt.Sprintf("%d", g.Netsh()) }

// MMOffer is one main mode security method: Conf-Hash-Group.
type MMOffer struct {
	Cipher Cipher
	Hash   Hash
	Group  DHGroup
}

// String returns the netsh form, e.g. "3DES-SHA1-2".
func (o MMOffer) String() string {
	return fmt.Sprintf("%s-%s-%d", o.Cipher, o.Hash, o.Group.Netsh())
}

// DefaultMMOffers is the Windows default IKE list (reference 4.3).
var DefaultMMOffers = []MMOffer{
	{Cipher3DES, HashSHA1, DHGroup2},
	{Cipher3DES, HashMD5, DHGroup2},
	{CipherDES, HashSHA1, DHGroup1},
	{CipherDES, HashMD5, DHGroup1},
}

// QMOffer is one quick mode security offer: AH[hash], ESP[conf,auth] or both,
// with optional lifetimes (0 = not given, the default applies).
type QMOffer struct {
	AH        Hash // HashNone: no AH transform
	ESP       bool // whether an ESP transform is present
	ESPCipher Cipher
	ESPAuth   Hash
	LifeKB    uint32
	LifeSec   uint32
}

// String returns the netsh form, e.g. "AH[MD5]+ESP[DES,SHA1]:30000k/480s".
func (o QMOffer) String() string {
	var b strings.Builder
	if o.AH != HashNone {
		fmt.Fprintf(&b, "AH[%s]", o.AH)
	}
	if o.ESP {
		if b.Len() > 0 {
			b.WriteByte('+')
		}
		fmt.Fprintf(&b, "ESP[%s,%s]", o.ESPCipher, o.ESPAuth)
	}
	switch {
	case o.LifeKB != 0 && o.LifeSec != 0:
		fmt.Fprintf(&b, ":%dk/%ds", o.LifeKB, o.LifeSec)
	case o.LifeKB != 0:
		fmt.Fprintf(&b, ":%dk", o.LifeKB)
	case o.LifeSec != 0:
		fmt.Fprintf(&b, ":%ds", o.LifeSec)
	}
	return b.String()
}

// Quick mode lifetimes used when an offer gives none (reference 4.3).
const (
	DefaultQMLifeKB  = 100000
	DefaultQMLifeSec = 3600
)

// DefaultQMOffers is the offer list of `add filteraction` and `add qmpolicy`
// when qmsecmethods is not given, and of the built-in Require Security action.
var DefaultQMOffers = []QMOffer{
	{ESP: true, ESPCipher: Cipher3DES, ESPAuth: HashSHA1},
	{ESP: true, ESPCipher: Cipher3DES, ESPAuth: HashMD5},
	{ESP: true, ESPCipher: CipherDES, ESPAuth: HashSHA1},
	{ESP: true, ESPCipher: CipherDES, ESPAuth: HashMD5},
}
