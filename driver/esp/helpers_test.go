package esp

import (
	"bytes"
	"crypto/hmac"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strings"
	"testing"

	"github.com/gonetsh/gonetsh/ipsec"
)

// unhex decodes hex written the way RFCs print it: spaces, newlines and an
// optional 0x prefix are ignored.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.ReplaceAll(s, "0x", "")
	s = strings.Join(strings.Fields(s), "")
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// fixedIVs is an io.Reader that hands out the given IVs in order, one per
// Read, for known-answer tests of CBC encryption.
type fixedIVs struct{ ivs [][]byte }

func (r *fixedIVs) Read(p []byte) (int, error) {
	if len(r.ivs) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, r.ivs[0])
	r.ivs = r.ivs[1:]
	return n, nil
}

// keyBytes returns n deterministic key bytes derived from tag.
func keyBytes(tag byte, n int) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = tag*31 + byte(i)*7 + 1
	}
	return k
}

// suiteCase is one algorithm pair the package supports.
type suiteCase struct {
	c ipsec.Cipher
	h ipsec.Hash
}

func (s suiteCase) String() string { return fmt.Sprintf("%v-%v", s.c, s.h) }

// allSuites lists every supported cipher x integrity combination.
func allSuites() []suiteCase {
	var out []suiteCase
	for _, c := range []ipsec.Cipher{ipsec.CipherDES, ipsec.Cipher3DES, ipsec.CipherAES128, ipsec.CipherAES192, ipsec.CipherAES256} {
		for _, h := range []ipsec.Hash{ipsec.HashNone, ipsec.HashMD5, ipsec.HashSHA1, ipsec.HashSHA256} {
			out = append(out, suiteCase{c, h})
		}
	}
	for _, h := range []ipsec.Hash{ipsec.HashMD5, ipsec.HashSHA1, ipsec.HashSHA256} {
		out = append(out, suiteCase{ipsec.CipherNone, h})
	}
	out = append(out, suiteCase{ipsec.CipherAESGCM128, ipsec.HashNone}, suiteCase{ipsec.CipherAESGCM256, ipsec.HashNone})
	return out
}

// pair builds an outbound and an inbound SA sharing keys.
func pair(t testing.TB, s suiteCase, spi uint32, esn bool) (out, in *SA) {
	t.Helper()
	cfg := Config{
		SPI:     spi,
		Cipher:  s.c,
		Hash:    s.h,
		EncKey:  keyBytes(byte(s.c), EncKeyLen(s.c)),
		AuthKey: keyBytes(100+byte(s.h), AuthKeyLen(s.h)),
		ESN:     esn,
	}
	cfg.Dir = Outbound
	out, err := New(cfg)
	if err != nil {
		t.Fatalf("New outbound %v: %v", s, err)
	}
	cfg.Dir = Inbound
	in, err = New(cfg)
	if err != nil {
		t.Fatalf("New inbound %v: %v", s, err)
	}
	return out, in
}

// newHMACState builds the precomputed HMAC state the SA uses, for a key of
// any length (the RFC 2202/4231 vectors use non-ESP key lengths).
func newHMACState(t testing.TB, h ipsec.Hash, key []byte) hash.Hash {
	t.Helper()
	m := hmac.New(h.New(), key)
	m.Reset()
	return m
}
