package ike

// Key derivation of IKEv1 (RFC 2409 sections 5 and 5.5, Appendix B), kept
// apart from the exchanges. The prf is HMAC with the negotiated hash
// (RFC 2409 section 4: "HMAC version of the negotiated hash"). Every
// intermediate secret is wiped by its owner.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"encoding/binary"
	"fmt"

	"github.com/gonetsh/gonetsh/ipsec"
)

// prf is HMAC-hash(key, data...).
func prf(h ipsec.Hash, key []byte, data ...[]byte) []byte {
	m := hmac.New(h.New(), key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// digest is the plain hash of data (the IV and NAT-D computations).
func digest(h ipsec.Hash, data ...[]byte) []byte {
	m := h.New()()
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// phase1Keys are the keys of an ISAKMP SA (RFC 2409 section 5).
type phase1Keys struct {
	hash                              ipsec.Hash
	cipher                            ipsec.Cipher
	skeyid, skeyidD, skeyidA, skeyidE []byte
	ka                                []byte // the IKE encryption key
}

func (k *phase1Keys) wipe() {
	if k != nil {
		wipe(k.skeyid, k.skeyidD, k.skeyidA, k.skeyidE, k.ka)
	}
}

// skeyidPSK is SKEYID for pre-shared keys (RFC 2409 section 5):
//
//	SKEYID = prf(pre-shared-key, Ni_b | Nr_b)
func skeyidPSK(h ipsec.Hash, psk, ni, nr []byte) []byte { return prf(h, psk, ni, nr) }

// skeyidSig is SKEYID for signatures (RFC 2409 section 5):
//
//	SKEYID = prf(Ni_b | Nr_b, g^xy)
func skeyidSig(h ipsec.Hash, ni, nr, gxy []byte) []byte {
	k := append(append([]byte{}, ni...), nr...)
	defer wipe(k)
	return prf(h, k, gxy)
}

// derivePhase1 computes SKEYID_d, _a, _e and Ka from SKEYID (taken over).
func derivePhase1(h ipsec.Hash, c ipsec.Cipher, skeyid, gxy []byte, ckyI, ckyR [8]byte) *phase1Keys {
	k := &phase1Keys{hash: h, cipher: c, skeyid: skeyid}
	// SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
	k.skeyidD = prf(h, skeyid, gxy, ckyI[:], ckyR[:], []byte{0})
	// SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
	k.skeyidA = prf(h, skeyid, k.skeyidD, gxy, ckyI[:], ckyR[:], []byte{1})
	// SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
	k.skeyidE = prf(h, skeyid, k.skeyidA, gxy, ckyI[:], ckyR[:], []byte{2})
	k.ka = expandKa(h, k.skeyidE, c.KeyLen())
	return k
}

// expandKa is the encryption key (RFC 2409 section 5.3 and Appendix B):
// the first bits of SKEYID_e, or when it is too short
//
//	Ka = K1 | K2 | K3 ...,  K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, Kn-1)
func expandKa(h ipsec.Hash, skeyidE []byte, n int) []byte {
	if len(skeyidE) >= n {
		return append([]byte{}, skeyidE[:n]...)
	}
	var ka []byte
	k := prf(h, skeyidE, []byte{0})
	for {
		ka = append(ka, k...)
		if len(ka) >= n {
			break
		}
		k = prf(h, skeyidE, k)
	}
	wipe(k)
	out := append([]byte{}, ka[:n]...)
	wipe(ka)
	return out
}

// hashI and hashR authenticate main mode (RFC 2409 section 5):
//
//	HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)
//	HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)
func hashI(k *phase1Keys, gxi, gxr []byte, ckyI, ckyR [8]byte, saib, idb []byte) []byte {
	return prf(k.hash, k.skeyid, gxi, gxr, ckyI[:], ckyR[:], saib, idb)
}

func hashR(k *phase1Keys, gxi, gxr []byte, ckyI, ckyR [8]byte, saib, idb []byte) []byte {
	return prf(k.hash, k.skeyid, gxr, gxi, ckyR[:], ckyI[:], saib, idb)
}

func msgIDBytes(id uint32) []byte { return binary.BigEndian.AppendUint32(nil, id) }

// qmHash1 = prf(SKEYID_a, M-ID | SA | Ni [ | KE ] [ | IDci | IDcr ]):
// rest is the message after the HASH payload (RFC 2409 section 5.5).
func qmHash1(k *phase1Keys, mid uint32, rest []byte) []byte {
	return prf(k.hash, k.skeyidA, msgIDBytes(mid), rest)
}

// qmHash2 = prf(SKEYID_a, M-ID | Ni_b | SA | Nr [ | KE ] [ | IDci | IDcr ]).
func qmHash2(k *phase1Keys, mid uint32, ni, rest []byte) []byte {
	return prf(k.hash, k.skeyidA, msgIDBytes(mid), ni, rest)
}

// qmHash3 = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b).
func qmHash3(k *phase1Keys, mid uint32, ni, nr []byte) []byte {
	return prf(k.hash, k.skeyidA, []byte{0}, msgIDBytes(mid), ni, nr)
}

// infoHash = prf(SKEYID_a, M-ID | N/D) (RFC 2409 section 5.7).
func infoHash(k *phase1Keys, mid uint32, rest []byte) []byte {
	return prf(k.hash, k.skeyidA, msgIDBytes(mid), rest)
}

// keymat is the keying material of one SA (RFC 2409 section 5.5):
//
//	KEYMAT = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
//
// expanded to n bytes as
//
//	K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
//	K2 = prf(SKEYID_d, K1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b) ...
//
// gqm is nil without PFS; spi is the SPI of the SA being keyed (the one
// its receiver chose).
func keymat(k *phase1Keys, gqm []byte, proto uint8, spi uint32, ni, nr []byte, n int) []byte {
	seed := append(append([]byte{}, gqm...), proto)
	seed = binary.BigEndian.AppendUint32(seed, spi)
	seed = append(append(seed, ni...), nr...)
	defer wipe(seed)
	var out, prev []byte
	for len(out) < n {
		prev = prf(k.hash, k.skeyidD, prev, seed)
		out = append(out, prev...)
	}
	wipe(prev)
	r := append([]byte{}, out[:n]...)
	wipe(out)
	return r
}

// blockCipher makes the IKE cipher (RFC 2409 Appendix A: DES-CBC,
// 3DES-CBC; RFC 3602: AES-CBC).
func blockCipher(c ipsec.Cipher, key []byte) (cipher.Block, error) {
	switch c {
	case ipsec.CipherDES:
		return des.NewCipher(key)
	case ipsec.Cipher3DES:
		return des.NewTripleDESCipher(key)
	case ipsec.CipherAES128, ipsec.CipherAES192, ipsec.CipherAES256:
		return aes.NewCipher(key)
	}
	return nil, fmt.Errorf("ike: cipher %v not usable for IKE", c)
}

func blockSize(c ipsec.Cipher) int {
	if c == ipsec.CipherDES || c == ipsec.Cipher3DES {
		return des.BlockSize
	}
	return aes.BlockSize
}

// firstIV is the phase 1 IV (RFC 2409 Appendix B): hash(g^xi | g^xr)
// truncated to the block size.
func firstIV(k *phase1Keys, gxi, gxr []byte) []byte {
	return digest(k.hash, gxi, gxr)[:blockSize(k.cipher)]
}

// phase2IV is the first IV of a quick mode or informational exchange
// (RFC 2409 Appendix B): hash(last phase 1 CBC block | M-ID).
func phase2IV(k *phase1Keys, lastP1 []byte, mid uint32) []byte {
	return digest(k.hash, lastP1, msgIDBytes(mid))[:blockSize(k.cipher)]
}

// encrypt pads pt with zeros to the block size and encrypts it in CBC
// under iv; it returns the cipher text, whose last block is the next IV.
func encrypt(k *phase1Keys, iv, pt []byte) ([]byte, error) {
	b, err := blockCipher(k.cipher, k.ka)
	if err != nil {
		return nil, err
	}
	bs := b.BlockSize()
	ct := make([]byte, (len(pt)+bs-1)/bs*bs)
	if len(ct) == 0 {
		ct = make([]byte, bs)
	}
	copy(ct, pt)
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(ct, ct)
	return ct, nil
}

// decrypt decrypts ct (a whole number of blocks) under iv.
func decrypt(k *phase1Keys, iv, ct []byte) ([]byte, error) {
	b, err := blockCipher(k.cipher, k.ka)
	if err != nil {
		return nil, err
	}
	if len(ct) == 0 || len(ct)%b.BlockSize() != 0 {
		return nil, malformed("cipher text of %d bytes", len(ct))
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(pt, ct)
	return pt, nil
}

// lastBlock returns a copy of the last cipher block of ct.
func lastBlock(k *phase1Keys, ct []byte) []byte {
	bs := blockSize(k.cipher)
	return append([]byte{}, ct[len(ct)-bs:]...)
}

// natdHash is HASH(CKY-I | CKY-R | IP | Port) with the negotiated hash
// (RFC 3947 section 3.2).
func natdHash(h ipsec.Hash, ckyI, ckyR [8]byte, ap interface {
	As4() [4]byte
}, port uint16) []byte {
	a := ap.As4()
	return digest(h, ckyI[:], ckyR[:], a[:], []byte{byte(port >> 8), byte(port)})
}
