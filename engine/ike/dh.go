package ike

// Diffie-Hellman groups for IKE: MODP groups 1 and 2 (RFC 2409 sections
// 6.1, 6.2), 14 (RFC 3526 section 3) by math/big, and the ECP groups 19
// and 20 (RFC 5903) by crypto/ecdh, whose KE payload is x | y and shared
// secret x (RFC 5903 sections 7, 9).

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/gonetsh/gonetsh/ipsec"
)

// ErrBadPublic is returned for a peer public value out of range.
var ErrBadPublic = errors.New("ike: invalid Diffie-Hellman public value")

const (
	modp768 = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3620FFFFFFFFFFFFFFFF"

	modp1024 = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF"

	modp2048 = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF"
)

type modpGroup struct {
	p      *big.Int
	length int // bytes of p
}

var modpGroups = map[ipsec.DHGroup]*modpGroup{
	ipsec.DHGroup1:  newMODP(modp768),
	ipsec.DHGroup2:  newMODP(modp1024),
	ipsec.DHGroup14: newMODP(modp2048),
}

func newMODP(hex string) *modpGroup {
	p, ok := new(big.Int).SetString(hex, 16)
	if !ok {
		panic("ike: bad MODP prime constant")
	}
	return &modpGroup{p: p, length: (p.BitLen() + 7) / 8}
}

// dhKey is one side's ephemeral key pair. Close wipes it.
type dhKey struct {
	group  ipsec.DHGroup
	public []byte // the KE payload data
	x      *big.Int
	ec     *ecdh.PrivateKey
}

func ecCurve(g ipsec.DHGroup) ecdh.Curve {
	switch g {
	case ipsec.DHGroup19:
		return ecdh.P256()
	case ipsec.DHGroup20:
		return ecdh.P384()
	}
	return nil
}

// supportedGroup reports whether g can be negotiated.
func supportedGroup(g ipsec.DHGroup) bool { return modpGroups[g] != nil || ecCurve(g) != nil }

// newDH makes a key pair for g with randomness from r.
func newDH(g ipsec.DHGroup, r io.Reader) (*dhKey, error) {
	if c := ecCurve(g); c != nil {
		k, err := c.GenerateKey(r)
		if err != nil {
			return nil, err
		}
		return &dhKey{group: g, public: k.PublicKey().Bytes()[1:], ec: k}, nil
	}
	m := modpGroups[g]
	if m == nil {
		return nil, fmt.Errorf("ike: unsupported DH group %d", g)
	}
	// A 256-bit exponent: at least twice the strength of the groups
	// (RFC 3526 section 8).
	buf := make([]byte, 32)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	x := new(big.Int).SetBytes(buf)
	wipe(buf)
	if x.Sign() == 0 {
		x.SetInt64(2)
	}
	y := new(big.Int).Exp(big.NewInt(2), x, m.p)
	return &dhKey{group: g, public: y.FillBytes(make([]byte, m.length)), x: x}, nil
}

// publicLen is the KE payload length of group g.
func publicLen(g ipsec.DHGroup) int {
	switch g {
	case ipsec.DHGroup19:
		return 64
	case ipsec.DHGroup20:
		return 96
	}
	if m := modpGroups[g]; m != nil {
		return m.length
	}
	return 0
}

// shared returns g^xy for the peer's KE data, of the group's length,
// after checking 1 < y < p-1 (MODP) or that the point is on the curve.
func (k *dhKey) shared(peer []byte) ([]byte, error) {
	if len(peer) != publicLen(k.group) {
		return nil, fmt.Errorf("%w: %d bytes for group %d", ErrBadPublic, len(peer), k.group)
	}
	if k.ec != nil {
		pub, err := k.ec.Curve().NewPublicKey(append([]byte{4}, peer...))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadPublic, err)
		}
		return k.ec.ECDH(pub)
	}
	m := modpGroups[k.group]
	y := new(big.Int).SetBytes(peer)
	pm1 := new(big.Int).Sub(m.p, big.NewInt(1))
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pm1) >= 0 {
		return nil, ErrBadPublic
	}
	z := new(big.Int).Exp(y, k.x, m.p)
	return z.FillBytes(make([]byte, m.length)), nil
}

// close drops the private value (math/big offers no wipe; the reference
// is dropped).
func (k *dhKey) close() {
	if k == nil {
		return
	}
	if k.x != nil {
		k.x.SetInt64(0)
	}
	k.x, k.ec = nil, nil
}

// wipe zeroes key material.
func wipe(bs ...[]byte) {
	for _, b := range bs {
		clear(b)
	}
}
