package ah

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"net/netip"
	"testing"

	"github.com/gonetsh/gonetsh/driver/esp"
	"github.com/gonetsh/gonetsh/driver/replay"
	"github.com/gonetsh/gonetsh/ipsec"
)

var hashes = []ipsec.Hash{ipsec.HashMD5, ipsec.HashSHA1, ipsec.HashSHA256}

func key(h ipsec.Hash) []byte {
	k := make([]byte, esp.AuthKeyLen(h))
	for i := range k {
		k[i] = byte(i*5 + int(h))
	}
	return k
}

func pair(t testing.TB, h ipsec.Hash, esn bool) (out, in *SA) {
	t.Helper()
	cfg := Config{SPI: 0xa0a0, Hash: h, Key: key(h), ESN: esn}
	cfg.Dir = esp.Outbound
	out, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dir = esp.Inbound
	in, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out, in
}

// Options used by the tests: Router Alert (immutable), Record Route with
// one empty slot (mutable), NOP. 12 bytes, IHL 8.
var testOptions = []byte{148, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 1}

// packet returns a valid IPv4/UDP packet with n payload bytes and the
// given options (a multiple of 4 bytes long).
func packet(n int, opts []byte) []byte {
	hl := esp.IPv4MinimumSize + len(opts)
	p := make([]byte, hl+8+n)
	esp.IPv4(p).Encode(&esp.IPv4Fields{
		TOS: 0x28, TotalLength: uint16(len(p)), ID: 0x1234, Flags: esp.IPv4FlagDF, TTL: 61,
		Protocol: esp.ProtocolUDP, Src: netip.MustParseAddr("10.1.0.1"), Dst: netip.MustParseAddr("10.2.0.2"),
	})
	p[0] = 0x40 | byte(hl/4)
	copy(p[esp.IPv4MinimumSize:], opts)
	esp.IPv4(p).UpdateChecksum()
	esp.UDP(p[hl:]).Encode(&esp.UDPFields{SrcPort: 500, DstPort: 500, Length: uint16(8 + n)})
	for i := range n {
		p[hl+8+i] = byte(i + 3)
	}
	return p
}

var outer = esp.IPv4Fields{TTL: 64, ID: 1, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2")}

func TestNewErrors(t *testing.T) {
	good := Config{SPI: 0x1000, Dir: esp.Outbound, Hash: ipsec.HashSHA1, Key: make([]byte, 20)}
	if _, err := New(good); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"reserved SPI", func(c *Config) { c.SPI = 0 }, ErrSPI},
		{"no direction", func(c *Config) { c.Dir = 0 }, ErrDirection},
		{"no hash", func(c *Config) { c.Hash = ipsec.HashNone }, ErrAlgorithm},
		{"short key", func(c *Config) { c.Key = c.Key[:16] }, ErrKeyLen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mod(&c)
			if _, err := New(c); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestHeader(t *testing.T) {
	b := Header(make([]byte, 24))
	b.Encode(&HeaderFields{NextHeader: 6, ICVLen: 12, SPI: 0x01020304, SeqNum: 9})
	want := []byte{6, 4, 0, 0, 1, 2, 3, 4, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(b, want) || !b.IsValid() || b.Len() != 24 || b.PayloadLen() != 4 || b.NextHeader() != 6 ||
		b.SPI() != 0x01020304 || b.SeqNum() != 9 || len(b.ICV()) != 12 {
		t.Fatalf("header %x", []byte(b))
	}
	b[1] = 0 // Len 8: shorter than the fixed part
	if b.IsValid() {
		t.Fatal("Payload Len 0 accepted")
	}
	b[1] = 5 // Len 28 > 24
	if b.IsValid() {
		t.Fatal("Payload Len beyond slice accepted")
	}
}

// refICV computes the ICV of an AH packet from scratch, field by field, as
// RFC 4302 section 3.3.3 describes it, for comparison with the SA.
func refICV(h ipsec.Hash, k, pkt []byte, esnHi uint32, esn bool) []byte {
	fn := map[ipsec.Hash]func() hash.Hash{ipsec.HashMD5: md5.New, ipsec.HashSHA1: sha1.New, ipsec.HashSHA256: sha256.New}[h]
	m := hmac.New(fn, k)
	hl := int(pkt[0]&0xf) * 4
	hdr := append([]byte(nil), pkt[:hl]...)
	hdr[1] = 0              // TOS
	hdr[6], hdr[7] = 0, 0   // flags, fragment offset
	hdr[8] = 0              // TTL
	hdr[10], hdr[11] = 0, 0 // checksum
	if hl > 20 {            // testOptions: Record Route is mutable
		clear(hdr[24:31])
	}
	m.Write(hdr)
	ahLen := (int(pkt[hl+1]) + 2) * 4
	m.Write(pkt[hl : hl+12])
	m.Write(make([]byte, ahLen-12))
	m.Write(pkt[hl+ahLen:])
	if esn {
		m.Write(binary.BigEndian.AppendUint32(nil, esnHi))
	}
	return m.Sum(nil)[:esp.ICVLen(h)]
}

func TestICVConstruction(t *testing.T) {
	for _, h := range hashes {
		for _, esn := range []bool{false, true} {
			for _, opts := range [][]byte{nil, testOptions} {
				out, _ := pair(t, h, esn)
				if esn {
					out.seq = 7<<32 + 100
				}
				p := packet(50, opts)
				sealed, err := out.SealTransport(nil, p)
				if err != nil {
					t.Fatal(err)
				}
				hl := len(opts) + 20
				ah := Header(sealed[hl:])
				want := refICV(h, key(h), sealed, 7, esn)
				if !bytes.Equal(ah.ICV(), want) {
					t.Fatalf("%v esn=%v opts=%d: ICV %x, want %x", h, esn, len(opts), ah.ICV(), want)
				}
				ip := esp.IPv4(sealed)
				if ip.Protocol() != esp.ProtocolAH || ah.NextHeader() != esp.ProtocolUDP || ah.SPI() != 0xa0a0 ||
					int(ip.TotalLength()) != len(p)+out.Len() || ip.CalculateChecksum() != ip.Checksum() ||
					!bytes.Equal(sealed[hl+out.Len():], p[hl:]) || ah.Len() != out.Len() {
					t.Fatalf("%v: bad layout %x", h, sealed)
				}
			}
		}
	}
	if n := (&SA{icvLen: 12}).Len(); n != 24 {
		t.Fatalf("AH-96 length %d", n)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, h := range hashes {
		for _, esn := range []bool{false, true} {
			out, in := pair(t, h, esn)
			for n := 0; n < 30; n++ {
				for _, opts := range [][]byte{nil, testOptions} {
					p := packet(n, opts)
					sealed, err := out.SealTransport(nil, p)
					if err != nil {
						t.Fatal(err)
					}
					got, err := in.OpenTransport(sealed)
					if err != nil || !bytes.Equal(got, p) {
						t.Fatalf("%v transport: %x %v\nwant %x", h, got, err, p)
					}
					sealed, err = out.SealTunnel(nil, outer, p)
					if err != nil {
						t.Fatal(err)
					}
					got, err = in.OpenTunnel(sealed)
					if err != nil || !bytes.Equal(got, p) {
						t.Fatalf("%v tunnel: %x %v", h, got, err)
					}
				}
			}
			if st := in.Stats(); st.Packets != 120 || st.Seq != 120 || st.Invalid+st.AuthFailures+st.ReplayDrops != 0 {
				t.Fatalf("stats %+v", st)
			}
		}
	}
}

// TestMutableFields changes, in transit, what RFC 4302 section 3.3.3.1.1.1
// and Appendix A.1 declare mutable: verification must still succeed.
func TestMutableFields(t *testing.T) {
	out, in := pair(t, ipsec.HashSHA256, false)
	sealed, _ := out.SealTransport(nil, packet(40, testOptions))
	sealed[1] = 0xb8                           // DSCP/ECN remarked
	sealed[6] = 0                              // DF cleared
	sealed[8] -= 3                             // three hops
	copy(sealed[26:31], []byte{8, 9, 9, 9, 9}) // Record Route filled in
	esp.IPv4(sealed).UpdateChecksum()
	if _, err := in.OpenTransport(sealed); err != nil {
		t.Fatal(err)
	}
}

// TestSourceRoute covers the one mutable but predictable option: the
// sender covers the final destination, the receiver the header as it
// arrives after the route is consumed.
func TestSourceRoute(t *testing.T) {
	hop := netip.MustParseAddr("10.9.9.9").As4()
	final := netip.MustParseAddr("10.2.0.2").As4()
	// One-address source route to the final destination, then NOP.
	opts := []byte{optLSRR, 7, 4, final[0], final[1], final[2], final[3], 1}
	for _, typ := range []byte{optLSRR, optSSRR} {
		opts[0] = typ
		out, in := pair(t, ipsec.HashSHA1, false)
		p := packet(20, opts)
		copy(p[16:20], hop[:]) // first hop in the header
		esp.IPv4(p).UpdateChecksum()
		sealed, err := out.SealTransport(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		// At the hop: destination becomes the final address, the slot
		// records the hop, the pointer advances.
		copy(sealed[16:20], final[:])
		copy(sealed[23:27], hop[:])
		sealed[22] = 8
		esp.IPv4(sealed).UpdateChecksum()
		if _, err := in.OpenTransport(sealed); err != nil {
			t.Fatalf("option %d: %v", typ, err)
		}
	}
}

// TestTamper flips each byte of an AH packet and checks the verdict: the
// mutable fields do not matter, structure errors are caught as such, and
// every other byte fails the ICV without touching the window.
func TestTamper(t *testing.T) {
	for _, h := range hashes {
		out, _ := pair(t, h, false)
		p := packet(33, testOptions)
		sealed, _ := out.SealTransport(nil, p)
		hl := 20 + len(testOptions)
		for i := range sealed {
			bad := append([]byte(nil), sealed...)
			bad[i] ^= 0x80
			var want error
			switch {
			case i == 0:
				want = ErrMalformed // version
			case i == 2, i == 3:
				want = ErrMalformed // total length beyond the packet
			case i == 7:
				want = ErrFragment // fragment offset
			case i == 9:
				want = ErrProtocol
			case i == 21, i == 25, i == 31:
				want = ErrMalformed // option length, or NOP turned into a truncated option
			case i == 1, i == 6, i == 8, i == 10, i == 11, i >= 24 && i < 31:
				want = nil // mutable, Record Route included
			case i == hl+1:
				want = ErrMalformed // Payload Len
			case i >= hl+4 && i < hl+8:
				want = ErrSPI
			default:
				want = ErrAuth
			}
			_, in := pair(t, h, false)
			_, _, err := in.Open(bad)
			if err != want {
				t.Fatalf("%v byte %d: err %v, want %v", h, i, err, want)
			}
			st := in.Stats()
			if want != nil && (in.window.Last() != 0 || st.Packets != 0) {
				t.Fatalf("byte %d: rejected packet changed state", i)
			}
			if want == ErrAuth && st.AuthFailures != 1 {
				t.Fatalf("byte %d: stats %+v", i, st)
			}
		}
	}
}

func TestFailedICVDoesNotAdvanceWindow(t *testing.T) {
	out, in := pair(t, ipsec.HashSHA1, false)
	early, _ := out.SealTunnel(nil, outer, packet(10, nil))
	out.seq = 2 * replay.Size
	far, _ := out.SealTunnel(nil, outer, packet(10, nil))
	far[len(far)-1] ^= 1
	if _, err := in.OpenTunnel(far); err != ErrAuth {
		t.Fatalf("forged: %v", err)
	}
	if in.window.Last() != 0 {
		t.Fatalf("window moved to %d", in.window.Last())
	}
	if _, err := in.OpenTunnel(early); err != nil {
		t.Fatalf("genuine early packet: %v", err)
	}
}

func TestReplay(t *testing.T) {
	out, in := pair(t, ipsec.HashMD5, false)
	p1, _ := out.SealTunnel(nil, outer, packet(10, nil))
	p2, _ := out.SealTunnel(nil, outer, packet(10, nil))
	for i, step := range []struct {
		p    []byte
		want error
	}{{p2, nil}, {p1, nil}, {p2, ErrReplay}, {p1, ErrReplay}} {
		if _, _, err := in.Open(step.p); err != step.want {
			t.Fatalf("step %d: %v, want %v", i, err, step.want)
		}
	}
	old, _ := out.SealTunnel(nil, outer, packet(10, nil)) // seq 3
	out.seq = 3 + replay.Size
	newer, _ := out.SealTunnel(nil, outer, packet(10, nil))
	if _, _, err := in.Open(newer); err != nil {
		t.Fatal(err)
	}
	if _, _, err := in.Open(old); err != ErrReplay {
		t.Fatalf("out of window: %v", err)
	}
	if st := in.Stats(); st.ReplayDrops != 3 || st.Packets != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestErrors(t *testing.T) {
	out, in := pair(t, ipsec.HashSHA1, false)
	if _, _, err := out.Open(nil); err != ErrDirection {
		t.Fatal(err)
	}
	if _, err := in.SealTunnel(nil, outer, packet(1, nil)); err != ErrDirection {
		t.Fatal(err)
	}
	p := packet(10, nil)
	frag := append([]byte(nil), p...)
	frag[6] |= 0x20
	if _, err := out.SealTransport(nil, frag); err != ErrFragment {
		t.Fatal(err)
	}
	badOpt := packet(10, []byte{7, 9, 4, 0}) // option length beyond header
	if _, err := out.SealTransport(nil, badOpt); err != ErrMalformed {
		t.Fatalf("bad option: %v", err)
	}
	if out.seq != 0 {
		t.Fatal("failed Seal consumed a sequence number")
	}
	if _, err := out.SealTunnel(nil, esp.IPv4Fields{Src: netip.MustParseAddr("::1"), Dst: outer.Dst}, p); err != ErrNotIPv4 {
		t.Fatal(err)
	}
	sealed, _ := out.SealTransport(nil, p)
	if _, err := in.OpenTunnel(sealed); err != ErrProtocol {
		t.Fatalf("transport packet as tunnel: %v", err)
	}
	if _, _, err := in.Open(sealed[:25]); err != ErrMalformed {
		t.Fatalf("truncated: %v", err)
	}
	short := append([]byte(nil), sealed[:30]...)
	esp.IPv4(short).SetTotalLength(30)
	if _, _, err := in.Open(short); err != ErrShort {
		t.Fatalf("short AH: %v", err)
	}
	tiny := append([]byte(nil), sealed[:28]...)
	esp.IPv4(tiny).SetTotalLength(28)
	if _, _, err := in.Open(tiny); err != ErrShort {
		t.Fatalf("tiny AH: %v", err)
	}
	o2, _ := pair(t, ipsec.HashSHA1, false)
	o2.seq = 1<<32 - 1
	if _, err := o2.SealTunnel(nil, outer, p); err != ErrSeqOverflow {
		t.Fatalf("overflow: %v", err)
	}
	big := make([]byte, 65535-30)
	esp.IPv4(big).Encode(&esp.IPv4Fields{TotalLength: uint16(len(big)), Protocol: 17, Src: outer.Src, Dst: outer.Dst})
	if _, err := out.SealTunnel(nil, outer, big); err != ErrTooBig {
		t.Fatalf("too big: %v", err)
	}
	out.Wipe()
	if _, err := out.SealTunnel(nil, outer, p); err != ErrWiped {
		t.Fatal(err)
	}
	for _, b := range out.key {
		if b != 0 {
			t.Fatal("key not zeroed")
		}
	}
}

func TestInPlace(t *testing.T) {
	out, in := pair(t, ipsec.HashSHA256, false)
	p := packet(100, testOptions)
	buf := make([]byte, 400)
	copy(buf, p)
	sealed, err := out.SealTransport(buf[:0], buf[:len(p)])
	if err != nil || &sealed[0] != &buf[0] {
		t.Fatalf("in place: %v", err)
	}
	got, err := in.OpenTransport(sealed)
	if err != nil || !bytes.Equal(got, p) {
		t.Fatalf("%x %v", got, err)
	}
}

func TestZeroAllocs(t *testing.T) {
	for _, h := range hashes {
		out, in := pair(t, h, true)
		p := packet(1372, testOptions)
		buf := make([]byte, 0, 2048)
		if n := testing.AllocsPerRun(100, func() { out.SealTransport(buf, p) }); n != 0 {
			t.Errorf("%v SealTransport allocs %v", h, n)
		}
		if n := testing.AllocsPerRun(100, func() { out.SealTunnel(buf, outer, p) }); n != 0 {
			t.Errorf("%v SealTunnel allocs %v", h, n)
		}
		var pkts [][]byte
		for range 101 {
			s, _ := out.SealTunnel(nil, outer, p)
			pkts = append(pkts, s)
		}
		i := 0
		if n := testing.AllocsPerRun(100, func() {
			if _, err := in.OpenTunnel(pkts[i]); err != nil {
				t.Fatal(err)
			}
			i++
		}); n != 0 {
			t.Errorf("%v OpenTunnel allocs %v", h, n)
		}
		if n := testing.AllocsPerRun(100, func() { in.Open(pkts[0]) }); n != 0 {
			t.Errorf("%v Open error path allocs %v", h, n)
		}
	}
}

func BenchmarkSealTunnel(b *testing.B) {
	for _, h := range hashes {
		b.Run(h.String(), func(b *testing.B) {
			out, _ := pair(b, h, false)
			p := packet(1400-28, nil)
			buf := make([]byte, 0, 2048)
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := out.SealTunnel(buf, outer, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpenTunnel(b *testing.B) {
	for _, h := range hashes {
		b.Run(h.String(), func(b *testing.B) {
			out, in := pair(b, h, false)
			p := packet(1400-28, nil)
			sealed, _ := out.SealTunnel(nil, outer, p)
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				in.window.Reset() // Open does not modify the packet
				if _, err := in.OpenTunnel(sealed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
