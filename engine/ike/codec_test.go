package ike

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math/big"
	"net/netip"
	"reflect"
	"testing"

	"github.com/gonetsh/gonetsh/ipsec"
)

func sampleSA() *SA {
	return &SA{DOI: doiIPsec, Situation: sitIdentityOnly, Proposals: []Proposal{
		{Num: 1, Protocol: protoAH, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{
			{Num: 1, ID: ahSHA, Attrs: []Attribute{attrU(p2Auth, 2), attrU(p2LifeDur, 0x12345678)}}}},
		{Num: 1, Protocol: protoESP, SPI: []byte{5, 6, 7, 8}, Transforms: []Transform{
			{Num: 1, ID: espAES, Attrs: []Attribute{attrU(p2KeyLen, 256), {Type: 99, Value: []byte{}}}},
			{Num: 2, ID: esp3DES}}},
	}}
}

func TestSARoundTrip(t *testing.T) {
	s := sampleSA()
	got, err := DecodeSA(s.Encode())
	if err != nil {
		t.Fatal(err)
	}
	// An empty TLV value decodes as empty, not nil.
	if !reflect.DeepEqual(got, s) {
		t.Errorf("got %+v\nwant %+v", got, s)
	}
	if v, ok := got.Proposals[0].Transforms[0].attr(p2LifeDur); !ok || v != 0x12345678 {
		t.Errorf("TLV life %x", v)
	}
}

func TestMessageRoundTrip(t *testing.T) {
	nt := Notify{DOI: 1, Protocol: protoISAKMP, Type: nInitialContact, SPI: bytes.Repeat([]byte{7}, 16), Data: []byte{}}
	d := Delete{DOI: 1, Protocol: protoESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}}
	id := idFromPrefix(netip.MustParsePrefix("10.1.0.0/16"), 17, 500)
	ps := []payload{{plSA, sampleSA().Encode()}, {plNotify, nt.Encode()}, {plDelete, d.Encode()},
		{plID, id.Encode()}, {plVendor, vidNATT}, {plNATD, make([]byte, 20)}}
	h := Header{CookieI: [8]byte{1}, CookieR: [8]byte{2}, Exchange: exchIdentity, MsgID: 9}
	msg := buildPlain(h, ps)
	m, err := Decode(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeTyped(m.Payloads); err != nil {
		t.Fatal(err)
	}
	if m.CookieI != h.CookieI || m.CookieR != h.CookieR || m.MsgID != 9 || len(m.Payloads) != len(ps) {
		t.Fatalf("header %+v, %d payloads", m.Header, len(m.Payloads))
	}
	if got := m.summary(); got != "[ SA N D ID V NAT-D ]" {
		t.Errorf("summary %q", got)
	}
	gn, _ := DecodeNotify(m.first(plNotify))
	if !reflect.DeepEqual(gn, nt) {
		t.Errorf("notify %+v", gn)
	}
	gd, _ := DecodeDelete(m.first(plDelete))
	if !reflect.DeepEqual(gd, d) {
		t.Errorf("delete %+v", gd)
	}
	gi, _ := DecodeID(m.first(plID))
	if p, ok := gi.Prefix(); !ok || p != netip.MustParsePrefix("10.1.0.0/16") || gi.Port != 500 || gi.Protocol != 17 {
		t.Errorf("ID %+v %v", gi, p)
	}
}

func TestIDPrefix(t *testing.T) {
	for _, c := range []struct {
		id   ID
		want string
		ok   bool
	}{
		{ID{Type: idIPv4Addr, Data: []byte{10, 0, 0, 1}}, "10.0.0.1/32", true},
		{ID{Type: idIPv4AddrSubnet, Data: []byte{10, 0, 0, 0, 255, 255, 255, 0}}, "10.0.0.0/24", true},
		{ID{Type: idIPv4AddrSubnet, Data: []byte{0, 0, 0, 0, 0, 0, 0, 0}}, "0.0.0.0/0", true},
		{ID{Type: idIPv4AddrRange, Data: []byte{10, 0, 0, 0, 10, 0, 0, 255}}, "10.0.0.0/24", true},
		{ID{Type: idIPv4AddrRange, Data: []byte{10, 0, 0, 1, 10, 0, 0, 5}}, "", false},
		{ID{Type: idFQDN, Data: []byte("host.example")}, "", false},
	} {
		p, ok := c.id.Prefix()
		if ok != c.ok || ok && p.String() != c.want {
			t.Errorf("%+v: %v %v", c.id, p, ok)
		}
	}
	if _, err := DecodeID([]byte{idIPv4AddrSubnet, 0, 0, 0, 10, 0, 0, 0, 255, 0, 255, 0}); err == nil {
		t.Error("non-contiguous mask accepted")
	}
}

func TestMalformed(t *testing.T) {
	valid := buildPlain(Header{CookieI: [8]byte{1}, Exchange: exchIdentity},
		[]payload{{plSA, sampleSA().Encode()}, {plVendor, vidNATT}})
	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"short", valid[:20]},
		{"length field", append(bytes.Clone(valid), 0)},
		{"version", func() []byte { b := bytes.Clone(valid); b[17] = 0x20; return b }()},
		{"payload length past end", func() []byte { b := bytes.Clone(valid); b[30] = 0xff; return b }()},
		{"payload length < 4", func() []byte { b := bytes.Clone(valid); b[30], b[31] = 0, 3; return b }()},
	} {
		if _, err := Decode(c.msg); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// Every truncation of the SA body fails cleanly.
	sa := sampleSA().Encode()
	for i := 0; i < len(sa); i++ {
		if _, err := DecodeSA(sa[:i]); err == nil && i < len(sa) {
			// A shorter proposal list can still be well-formed only at
			// payload boundaries, which this SA does not have.
			t.Errorf("truncated SA of %d bytes accepted", i)
		}
	}
	if _, err := DecodeDelete([]byte{0, 0, 0, 1, 3, 4, 0, 2, 1, 2, 3, 4}); err == nil {
		t.Error("short delete accepted")
	}
	if _, err := DecodeNotify([]byte{0, 0, 0, 1, 3, 9, 0, 1}); err == nil {
		t.Error("notify SPI past end accepted")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(buildPlain(Header{CookieI: [8]byte{1}, Exchange: exchIdentity},
		[]payload{{plSA, sampleSA().Encode()}, {plVendor, vidNATT}}))
	nt := Notify{DOI: 1, Protocol: 1, Type: nRUThere, SPI: make([]byte, 16), Data: []byte{0, 0, 0, 1}}
	f.Add(buildPlain(Header{Exchange: exchInformational}, []payload{{plHash, make([]byte, 20)}, {plNotify, nt.Encode()},
		{plDelete, Delete{DOI: 1, Protocol: 3, SPISize: 4, SPIs: [][]byte{{1, 2, 3, 4}}}.Encode()},
		{plID, idFromPrefix(netip.MustParsePrefix("10.0.0.0/8"), 0, 0).Encode()}, {plNATOA, []byte{1, 0, 0, 0, 1, 2, 3, 4}}}))
	f.Add(make([]byte, 28))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		if m.Payloads != nil {
			_ = decodeTyped(m.Payloads)
			_ = m.summary()
		}
		for _, p := range m.Payloads {
			if p.Type == plID {
				if id, err := DecodeID(p.Body); err == nil {
					id.Prefix()
				}
			}
			if p.Type == plSA {
				if sa, err := DecodeSA(p.Body); err == nil {
					for _, pr := range sa.Proposals {
						for _, tr := range pr.Transforms {
							parseMMTransform(tr)
							parseP2(pr.Protocol, tr)
						}
					}
				}
			}
		}
	})
}

// FuzzReceive feeds arbitrary datagrams to a Negotiator with a live
// main mode SA: no panic, no state for garbage.
func FuzzReceive(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add(make([]byte, 40), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, mode uint8) {
		a, bn, _, _ := newPair(t, pairOpts{})
		acquire(a, bn, 1, true)
		mm := a.n.MMSAs()[0]
		if mode&1 == 1 && len(b) >= 28 {
			b = bytes.Clone(b)
			copy(b[0:8], mm.CookieI[:])
			copy(b[8:16], mm.CookieR[:])
			b[17] = 0x10
			b[24], b[25], b[26], b[27] = byte(len(b)>>24), byte(len(b)>>16), byte(len(b)>>8), byte(len(b))
		}
		a.n.Receive(mm.Local, mm.Remote, b)
		if len(a.n.QMSAs()) != 1 {
			t.Fatal("garbage changed the SAs")
		}
	})
}

func TestMODPPrimes(t *testing.T) {
	for g, m := range modpGroups {
		// Each is a safe prime: p and (p-1)/2 are prime (RFC 2409 6.1,
		// 6.2; RFC 3526); a mistyped digit fails this.
		q := new(big.Int).Rsh(m.p, 1)
		if !m.p.ProbablyPrime(20) || !q.ProbablyPrime(20) {
			t.Errorf("group %d: not a safe prime", g)
		}
	}
	if modpGroups[ipsec.DHGroup1].length != 96 || modpGroups[ipsec.DHGroup2].length != 128 || modpGroups[ipsec.DHGroup14].length != 256 {
		t.Error("lengths")
	}
}

func TestDH(t *testing.T) {
	for _, g := range []ipsec.DHGroup{1, 2, 14, 19, 20} {
		a, err := newDH(g, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := newDH(g, rand.Reader)
		if len(a.public) != publicLen(g) {
			t.Errorf("group %d: public %d bytes", g, len(a.public))
		}
		sa, err1 := a.shared(b.public)
		sb, err2 := b.shared(a.public)
		if err1 != nil || err2 != nil || !bytes.Equal(sa, sb) {
			t.Errorf("group %d: %v %v", g, err1, err2)
		}
		bad := [][]byte{nil, make([]byte, publicLen(g)), append(bytes.Clone(a.public), 0)}
		if m := modpGroups[g]; m != nil {
			one := make([]byte, m.length)
			one[m.length-1] = 1
			pm1 := new(big.Int).Sub(m.p, big.NewInt(1)).FillBytes(make([]byte, m.length))
			bad = append(bad, one, pm1, m.p.FillBytes(make([]byte, m.length)))
		}
		for _, x := range bad {
			if _, err := a.shared(x); !errors.Is(err, ErrBadPublic) {
				t.Errorf("group %d: bad public %x accepted: %v", g, x, err)
			}
		}
	}
}

// Appendix B: a 3DES key from SHA1's 20-byte SKEYID_e is K1 | K2
// truncated, K1 = prf(SKEYID_e, 0), K2 = prf(SKEYID_e, K1).
func TestExpandKa(t *testing.T) {
	e := bytes.Repeat([]byte{0xab}, 20)
	k1 := prf(ipsec.HashSHA1, e, []byte{0})
	k2 := prf(ipsec.HashSHA1, e, k1)
	want := append(k1, k2...)[:24]
	if got := expandKa(ipsec.HashSHA1, e, 24); !bytes.Equal(got, want) {
		t.Errorf("Ka %x, want %x", got, want)
	}
	if got := expandKa(ipsec.HashSHA256, bytes.Repeat([]byte{1}, 32), 16); !bytes.Equal(got, bytes.Repeat([]byte{1}, 16)) {
		t.Errorf("short key not a prefix: %x", got)
	}
}
