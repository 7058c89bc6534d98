package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"hash"

	"github.com/gonetsh/gonetsh/ipsec"
)

// Algorithm parameters (lengths in bytes).
const (
	gcmSaltLen  = 4  // RFC 4106 section 8.1: key material = key || salt
	gcmIVLen    = 8  // RFC 4106 section 3: explicit IV
	gcmICVLen   = 16 // RFC 4106 section 6: only the 16-octet ICV is used here
	gcmNonceLen = gcmSaltLen + gcmIVLen

	// MaxICVLen is the longest ICV any supported suite produces.
	MaxICVLen = 16
	// MaxIVLen is the longest IV any supported suite carries (AES-CBC).
	MaxIVLen = aes.BlockSize
)

// AuthKeyLen returns the HMAC key length for h: 16 for HMAC-MD5-96
// (RFC 2403), 20 for HMAC-SHA1-96 (RFC 2404), 32 for HMAC-SHA-256-128
// (RFC 4868), 0 for HashNone or an unknown value.
func AuthKeyLen(h ipsec.Hash) int {
	switch h {
	case ipsec.HashMD5:
		return md5.Size
	case ipsec.HashSHA1:
		return sha1.Size
	case ipsec.HashSHA256:
		return sha256.Size
	}
	return 0
}

// ICVLen returns the truncated ICV length for h: 12 for the -96
// algorithms, 16 for HMAC-SHA-256-128, 0 otherwise.
func ICVLen(h ipsec.Hash) int {
	switch h {
	case ipsec.HashMD5, ipsec.HashSHA1:
		return 12
	case ipsec.HashSHA256:
		return 16
	}
	return 0
}

// EncKeyLen returns the length of the encryption key material Config.EncKey
// must have for c: the cipher key, plus the 4-byte salt for AES-GCM
// (RFC 4106 section 8.1), 0 for NULL encryption.
func EncKeyLen(c ipsec.Cipher) int {
	if c.AEAD() {
		return c.KeyLen() + gcmSaltLen
	}
	return c.KeyLen()
}

// NewMAC returns a keyed HMAC for h whose state is precomputed: it is Reset
// once, so that later Resets restore the saved inner and outer pad states
// instead of hashing the key again. key is not retained.
func NewMAC(h ipsec.Hash, key []byte) (hash.Hash, error) {
	fn := h.New()
	if fn == nil {
		return nil, fmt.Errorf("%w: integrity %v", ErrAlgorithm, h)
	}
	if len(key) != AuthKeyLen(h) {
		return nil, fmt.Errorf("%w: %v needs a %d-byte key, got %d", ErrKeyLen, h, AuthKeyLen(h), len(key))
	}
	m := hmac.New(fn, key)
	m.Reset()
	return m, nil
}

// suite is the shape of an algorithm pair: how ESP lays out and pads a
// packet for it. It is immutable once built.
type suite struct {
	cipher    ipsec.Cipher
	hash      ipsec.Hash
	blockSize int // cipher block size; 1 for AES-GCM and NULL
	align     int // RFC 4303 section 2.4: max(blockSize, 4)
	ivLen     int
	icvLen    int
	aead      bool
}

// newSuite validates the algorithm pair. Accepted: CBC ciphers with any
// HMAC (or none, confidentiality only, RFC 4303 section 3.2), NULL with an
// HMAC (RFC 2410), AES-GCM with no separate integrity algorithm (RFC 4106
// section 2).
func newSuite(c ipsec.Cipher, h ipsec.Hash) (suite, error) {
	s := suite{cipher: c, hash: h, blockSize: 1, align: 4, icvLen: ICVLen(h)}
	if h != ipsec.HashNone && s.icvLen == 0 {
		return s, fmt.Errorf("%w: integrity %v", ErrAlgorithm, h)
	}
	switch c {
	case ipsec.CipherNone:
		if h == ipsec.HashNone {
			return s, fmt.Errorf("%w: NULL encryption needs an integrity algorithm (RFC 4303 section 3.2)", ErrAlgorithm)
		}
	case ipsec.CipherDES, ipsec.Cipher3DES:
		s.blockSize, s.align, s.ivLen = des.BlockSize, des.BlockSize, des.BlockSize
	case ipsec.CipherAES128, ipsec.CipherAES192, ipsec.CipherAES256:
		s.blockSize, s.align, s.ivLen = aes.BlockSize, aes.BlockSize, aes.BlockSize
	case ipsec.CipherAESGCM128, ipsec.CipherAESGCM256:
		if h != ipsec.HashNone {
			return s, fmt.Errorf("%w: AES-GCM takes no separate integrity algorithm (RFC 4106 section 2)", ErrAlgorithm)
		}
		s.ivLen, s.icvLen, s.aead = gcmIVLen, gcmICVLen, true
	default:
		return s, fmt.Errorf("%w: cipher %v", ErrAlgorithm, c)
	}
	return s, nil
}

// ivBlockMode is a CBC mode whose IV can be reset per packet, which the
// standard library's CBC encrypters and decrypters implement (crypto/tls
// relies on the same method); resetting avoids allocating a BlockMode per
// packet.
type ivBlockMode interface {
	cipher.BlockMode
	SetIV(iv []byte)
}

// newBlock returns the block cipher for a CBC suite.
func newBlock(c ipsec.Cipher, key []byte) (cipher.Block, error) {
	switch c {
	case ipsec.CipherDES:
		return des.NewCipher(key)
	case ipsec.Cipher3DES:
		return des.NewTripleDESCipher(key)
	default:
		return aes.NewCipher(key)
	}
}

// newCBC returns reusable CBC encrypter and decrypter for b.
func newCBC(b cipher.Block) (enc, dec ivBlockMode, err error) {
	iv := make([]byte, b.BlockSize())
	enc, ok1 := cipher.NewCBCEncrypter(b, iv).(ivBlockMode)
	dec, ok2 := cipher.NewCBCDecrypter(b, iv).(ivBlockMode)
	if !ok1 || !ok2 {
		return nil, nil, fmt.Errorf("%w: CBC mode cannot reset its IV", ErrAlgorithm)
	}
	return enc, dec, nil
}

// newGCM returns the AES-GCM AEAD with a 16-byte tag and the standard
// 12-byte nonce (salt || explicit IV).
func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
