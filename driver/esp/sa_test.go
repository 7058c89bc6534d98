package esp

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/gonetsh/gonetsh/driver/replay"
	"github.com/gonetsh/gonetsh/ipsec"
)

// innerPacket returns a valid IPv4/UDP packet with n payload bytes.
func innerPacket(n int) []byte {
	p := make([]byte, IPv4MinimumSize+UDPHeaderLen+n)
	IPv4(p).Encode(&IPv4Fields{
		TotalLength: uint16(len(p)), ID: 7, TTL: 63, Protocol: ProtocolUDP,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.1.2"),
	})
	UDP(p[IPv4MinimumSize:]).Encode(&UDPFields{SrcPort: 1234, DstPort: 53, Length: uint16(UDPHeaderLen + n)})
	for i := range n {
		p[IPv4MinimumSize+UDPHeaderLen+i] = byte(i*13 + 5)
	}
	return p
}

var outerFields = IPv4Fields{
	TTL: 64, ID: 99,
	Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("198.51.100.2"),
}

func TestNewErrors(t *testing.T) {
	good := Config{SPI: 0x1000, Dir: Outbound, Cipher: ipsec.CipherAES128, Hash: ipsec.HashSHA1,
		EncKey: make([]byte, 16), AuthKey: make([]byte, 20)}
	tests := []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"reserved SPI", func(c *Config) { c.SPI = 255 }, ErrSPI},
		{"no direction", func(c *Config) { c.Dir = 0 }, ErrDirection},
		{"short enc key", func(c *Config) { c.EncKey = c.EncKey[:15] }, ErrKeyLen},
		{"short auth key", func(c *Config) { c.AuthKey = c.AuthKey[:19] }, ErrKeyLen},
		{"NULL with no integrity", func(c *Config) { c.Cipher, c.Hash, c.EncKey, c.AuthKey = ipsec.CipherNone, ipsec.HashNone, nil, nil }, ErrAlgorithm},
		{"GCM with HMAC", func(c *Config) { c.Cipher, c.EncKey = ipsec.CipherAESGCM128, make([]byte, 20) }, ErrAlgorithm},
		{"GCM without salt", func(c *Config) {
			c.Cipher, c.Hash, c.EncKey, c.AuthKey = ipsec.CipherAESGCM128, ipsec.HashNone, make([]byte, 16), nil
		}, ErrKeyLen},
		{"unknown cipher", func(c *Config) { c.Cipher = 99 }, ErrAlgorithm},
		{"unknown hash", func(c *Config) { c.Hash = 99 }, ErrAlgorithm},
	}
	if _, err := New(good); err != nil {
		t.Fatalf("good config: %v", err)
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

func TestKeysAreCopied(t *testing.T) {
	enc, auth := keyBytes(1, 16), keyBytes(2, 20)
	cfg := Config{SPI: 0x1000, Dir: Outbound, Cipher: ipsec.CipherAES128, Hash: ipsec.HashSHA1, EncKey: enc, AuthKey: auth}
	out, _ := New(cfg)
	cfg.Dir = Inbound
	in, _ := New(cfg)
	clear(enc)
	clear(auth)
	pkt, err := out.Seal(nil, []byte("hello"), ProtocolUDP)
	if err != nil {
		t.Fatal(err)
	}
	if p, _, err := in.Open(pkt); err != nil || string(p) != "hello" {
		t.Fatalf("Open after caller cleared its keys: %q %v", p, err)
	}
}

func TestWipe(t *testing.T) {
	out, in := pair(t, suiteCase{ipsec.CipherAESGCM128, ipsec.HashNone}, 0x1000, false)
	out.Wipe()
	in.Wipe()
	if !allZero(out.encKey) || !allZero(out.nonce[:]) || !allZero(in.encKey) {
		t.Fatal("keys not zeroed")
	}
	if _, err := out.Seal(nil, []byte("x"), 17); err != ErrWiped {
		t.Fatalf("Seal after Wipe: %v", err)
	}
	if _, _, err := in.Open(make([]byte, 64)); err != ErrWiped {
		t.Fatalf("Open after Wipe: %v", err)
	}
	o2, _ := pair(t, suiteCase{ipsec.CipherAES256, ipsec.HashSHA256}, 0x1000, false)
	o2.Wipe()
	if !allZero(o2.encKey) || !allZero(o2.authKey) {
		t.Fatal("CBC/HMAC keys not zeroed")
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func TestDirection(t *testing.T) {
	out, in := pair(t, suiteCase{ipsec.CipherAES128, ipsec.HashSHA1}, 0x1000, false)
	if _, _, err := out.Open(make([]byte, 64)); err != ErrDirection {
		t.Fatalf("Open on outbound: %v", err)
	}
	if _, err := in.Seal(nil, nil, 4); err != ErrDirection {
		t.Fatalf("Seal on inbound: %v", err)
	}
}

// TestRoundTrip seals and opens every suite in tunnel and transport mode,
// with and without ESN, for payload lengths around block boundaries.
func TestRoundTrip(t *testing.T) {
	for _, s := range allSuites() {
		for _, esn := range []bool{false, true} {
			name := s.String()
			if esn {
				name += "-esn"
			}
			t.Run(name, func(t *testing.T) {
				out, in := pair(t, s, 0x12345678, esn)
				if esn {
					// Cross into the second 2^32 subspace; the receiver has
					// seen the sender's last packet.
					out.seq = 1<<32 - 3
					in.window.Commit(out.seq)
				}
				for n := 0; n <= 40; n++ {
					inner := innerPacket(n)

					// Raw ESP.
					pkt, err := out.Seal(nil, inner, ProtocolIPv4)
					if err != nil {
						t.Fatal(err)
					}
					if len(pkt) != out.SealedLen(len(inner)) {
						t.Fatalf("len %d, SealedLen %d", len(pkt), out.SealedLen(len(inner)))
					}
					if ct := len(pkt) - HeaderLen - out.s.ivLen - out.s.icvLen; ct%out.s.align != 0 || ct%4 != 0 {
						t.Fatalf("ciphertext length %d not aligned to %d", ct, out.s.align)
					}
					if len(pkt)-len(inner) > out.Overhead() {
						t.Fatalf("overhead %d > Overhead() %d", len(pkt)-len(inner), out.Overhead())
					}
					got, nh, err := in.Open(pkt)
					if err != nil || nh != ProtocolIPv4 || !bytes.Equal(got, inner) {
						t.Fatalf("n=%d Open = %x nh %d err %v", n, got, nh, err)
					}

					// Tunnel mode.
					pkt, err = out.SealTunnel(nil, outerFields, inner)
					if err != nil {
						t.Fatal(err)
					}
					ip := IPv4(pkt)
					if !ip.IsValid() || ip.Protocol() != ProtocolESP || int(ip.TotalLength()) != len(pkt) || ip.CalculateChecksum() != ip.Checksum() {
						t.Fatalf("bad outer header %x", pkt[:20])
					}
					got, err = in.OpenTunnel(pkt)
					if err != nil || !bytes.Equal(got, inner) {
						t.Fatalf("OpenTunnel = %x, %v", got, err)
					}

					// Transport mode.
					pkt, err = out.SealTransport(nil, inner)
					if err != nil {
						t.Fatal(err)
					}
					ip = IPv4(pkt)
					if ip.Protocol() != ProtocolESP || int(ip.TotalLength()) != len(pkt) || ip.CalculateChecksum() != ip.Checksum() {
						t.Fatalf("bad transport header %x", pkt[:20])
					}
					got, err = in.OpenTransport(pkt)
					if err != nil || !bytes.Equal(got, inner) {
						t.Fatalf("OpenTransport =\n%x, %v\nwant\n%x", got, err, inner)
					}
				}
				st := in.Stats()
				if st.Packets != 41*3 || st.AuthFailures != 0 || st.ReplayDrops != 0 || st.Invalid != 0 {
					t.Fatalf("inbound stats %+v", st)
				}
				if ost := out.Stats(); ost.Packets != 41*3 || st.Seq != ost.Seq {
					t.Fatalf("outbound stats %+v, inbound %+v", ost, st)
				}
			})
		}
	}
}

// TestSealInPlace seals a payload that already sits in the destination
// buffer at several offsets, including the ciphertext position.
func TestSealInPlace(t *testing.T) {
	for _, s := range []suiteCase{{ipsec.CipherAES128, ipsec.HashSHA1}, {ipsec.CipherAESGCM256, ipsec.HashNone}, {ipsec.CipherNone, ipsec.HashSHA256}} {
		out, in := pair(t, s, 0x1000, false)
		inner := innerPacket(100)
		ctOff := HeaderLen + out.s.ivLen
		for _, off := range []int{0, 3, ctOff, ctOff + 5, 40} {
			buf := make([]byte, 400)
			copy(buf[off:], inner)
			pkt, err := out.Seal(buf[:0], buf[off:off+len(inner)], ProtocolIPv4)
			if err != nil {
				t.Fatal(err)
			}
			if &pkt[0] != &buf[0] {
				t.Fatal("Seal reallocated")
			}
			got, _, err := in.Open(pkt)
			if err != nil || !bytes.Equal(got, inner) {
				t.Fatalf("%v off %d: %x %v", s, off, got, err)
			}
		}
		// Transport mode in place: the packet at the start of a buffer
		// with room to grow.
		buf := make([]byte, 400)
		copy(buf, inner)
		pkt, err := out.SealTransport(buf[:0], buf[:len(inner)])
		if err != nil {
			t.Fatal(err)
		}
		got, err := in.OpenTransport(pkt)
		if err != nil || !bytes.Equal(got, inner) {
			t.Fatalf("%v transport in place: %x %v", s, got, err)
		}
	}
}

// TestTamper flips each byte of sealed packets: every change must fail
// authentication, bump AuthFailures, and leave the window where it was.
func TestTamper(t *testing.T) {
	for _, s := range allSuites() {
		if s.h == ipsec.HashNone && !s.c.AEAD() {
			continue // no integrity to fail
		}
		t.Run(s.String(), func(t *testing.T) {
			for _, esn := range []bool{false, true} {
				out, in := pair(t, s, 0x1000, esn)
				pkt, err := out.Seal(nil, innerPacket(33), ProtocolIPv4)
				if err != nil {
					t.Fatal(err)
				}
				fails := uint64(0)
				for i := range pkt {
					bad := append([]byte(nil), pkt...)
					bad[i] ^= 0x80
					_, _, err := in.Open(bad)
					want := ErrAuth
					if i < 4 {
						want = ErrSPI
					}
					if err != want {
						t.Fatalf("esn=%v byte %d: err %v, want %v", esn, i, err, want)
					}
					if want == ErrAuth {
						fails++
					}
					if in.window.Last() != 0 {
						t.Fatalf("byte %d: failed packet moved the window to %d", i, in.window.Last())
					}
				}
				if st := in.Stats(); st.AuthFailures != fails || st.Packets != 0 {
					t.Fatalf("stats %+v, want %d auth failures", st, fails)
				}
				if _, _, err := in.Open(pkt); err != nil {
					t.Fatalf("genuine packet after forgeries: %v", err)
				}
			}
		})
	}
}

// TestFailedICVDoesNotAdvanceWindow forges a packet far ahead of the window:
// if a failed ICV committed its sequence number, the genuine packets behind
// it would fall out of the window.
func TestFailedICVDoesNotAdvanceWindow(t *testing.T) {
	for _, s := range []suiteCase{{ipsec.CipherAES128, ipsec.HashSHA1}, {ipsec.CipherAESGCM128, ipsec.HashNone}} {
		out, in := pair(t, s, 0x1000, false)
		early, _ := out.Seal(nil, []byte("early"), ProtocolUDP) // seq 1
		out.seq = replay.Size * 3
		far, _ := out.Seal(nil, []byte("far"), ProtocolUDP) // seq 3*Size+1
		far[len(far)-1] ^= 1                                // forge: break the ICV
		if _, _, err := in.Open(far); err != ErrAuth {
			t.Fatalf("%v: forged far packet: %v", s, err)
		}
		if in.window.Last() != 0 {
			t.Fatalf("%v: window moved to %d", s, in.window.Last())
		}
		if p, _, err := in.Open(early); err != nil || string(p) != "early" {
			t.Fatalf("%v: early packet after forgery: %q %v", s, p, err)
		}
	}
}

func TestReplay(t *testing.T) {
	out, in := pair(t, suiteCase{ipsec.CipherAES128, ipsec.HashSHA256}, 0x1000, false)
	seal := func() []byte {
		p, err := out.Seal(nil, []byte("payload"), ProtocolUDP)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1, p2, p3 := seal(), seal(), seal()
	copyOf := func(b []byte) []byte { return append([]byte(nil), b...) }
	mustOpen := func(p []byte) {
		t.Helper()
		if _, _, err := in.Open(copyOf(p)); err != nil {
			t.Fatal(err)
		}
	}
	mustReplay := func(p []byte) {
		t.Helper()
		if _, _, err := in.Open(copyOf(p)); err != ErrReplay {
			t.Fatalf("err = %v, want ErrReplay", err)
		}
	}
	mustOpen(p3)
	mustOpen(p1)
	mustReplay(p1)
	mustReplay(p3)
	mustOpen(p2)
	mustReplay(p2)

	// Out of window: jump the sender far ahead, then deliver an old one.
	old := seal() // seq 4, never delivered
	out.seq = 4 + replay.Size
	mustOpen(seal()) // seq 5+Size
	mustReplay(old)  // 4 is now Size+1 behind
	if st := in.Stats(); st.ReplayDrops != 4 || st.Packets != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSeqOverflow(t *testing.T) {
	out, _ := pair(t, suiteCase{ipsec.CipherAESGCM128, ipsec.HashNone}, 0x1000, false)
	out.seq = 1<<32 - 2
	if _, err := out.Seal(nil, nil, 59); err != nil {
		t.Fatal(err)
	}
	if _, err := out.Seal(nil, nil, 59); err != ErrSeqOverflow {
		t.Fatalf("err = %v, want ErrSeqOverflow", err)
	}
	esnOut, _ := pair(t, suiteCase{ipsec.CipherAESGCM128, ipsec.HashNone}, 0x1000, true)
	esnOut.seq = 1<<32 - 1
	if _, err := esnOut.Seal(nil, nil, 59); err != nil {
		t.Fatalf("ESN past 2^32: %v", err)
	}
	esnOut.seq = ^uint64(0)
	if _, err := esnOut.Seal(nil, nil, 59); err != ErrSeqOverflow {
		t.Fatalf("ESN err = %v, want ErrSeqOverflow", err)
	}
}

func TestOpenErrors(t *testing.T) {
	out, in := pair(t, suiteCase{ipsec.CipherAES128, ipsec.HashSHA1}, 0x1000, false)
	pkt, _ := out.Seal(nil, []byte("0123456789"), ProtocolUDP)
	tests := []struct {
		name string
		pkt  []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"header only", pkt[:HeaderLen], ErrShort},
		{"not whole blocks", pkt[:len(pkt)-1], ErrMalformed},
		{"seq zero", func() []byte { p := append([]byte(nil), pkt...); Header(p).SetSeqNum(0); return p }(), ErrReplay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := in.Open(tt.pkt); err != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if st := in.Stats(); st.Invalid != 3 || st.ReplayDrops != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestBadPadding forges packets whose padding is wrong but whose ICV is
// right (the sender is the test itself), as a buggy peer would send.
func TestBadPadding(t *testing.T) {
	for _, s := range []suiteCase{{ipsec.CipherAES128, ipsec.HashSHA1}, {ipsec.CipherNone, ipsec.HashMD5}, {ipsec.CipherAESGCM128, ipsec.HashNone}} {
		out, in := pair(t, s, 0x1000, false)
		// A payload of align-2 bytes needs no padding; forge claims one
		// pad byte, so the last payload byte (7) is read as a pad byte that
		// should have been 1.
		n := out.s.align - TrailerLen
		payload := make([]byte, n)
		payload[n-1] = 7
		pkt := forge(t, out, payload, func(pt []byte) { pt[len(pt)-2] = 1 })
		if _, _, err := in.Open(pkt); err != ErrPadding {
			t.Fatalf("%v: wrong pad byte: %v", s, err)
		}
		pkt = forge(t, out, payload, func(pt []byte) { pt[len(pt)-2] = byte(len(pt)) })
		if _, _, err := in.Open(pkt); err != ErrPadding {
			t.Fatalf("%v: pad length beyond payload: %v", s, err)
		}
		if st := in.Stats(); st.Invalid != 2 || in.window.Last() != 0 {
			t.Fatalf("%v: stats %+v last %d", s, st, in.window.Last())
		}
	}
}

// forge seals payload with a patched plaintext: it encrypts pt (payload +
// trailer) after patch changes it, with a valid ICV.
func forge(t *testing.T, sa *SA, payload []byte, patch func(pt []byte)) []byte {
	t.Helper()
	sa.mu.Lock()
	defer sa.mu.Unlock()
	s := &sa.s
	seq := sa.seq + 1
	n := sa.SealedLen(len(payload))
	out := make([]byte, n)
	ctOff := HeaderLen + s.ivLen
	ct := out[ctOff : n-s.icvLen]
	copy(ct, payload)
	ct[len(ct)-1] = ProtocolUDP
	patch(ct)
	Header(out).SetSPI(sa.spi)
	Header(out).SetSeqNum(uint32(seq))
	iv := out[HeaderLen:ctOff]
	switch {
	case s.aead:
		copy(iv, []byte{0, 0, 0, 0, 0, 0, 0, byte(seq)})
		copy(sa.nonce[gcmSaltLen:], iv)
		sa.aead.Seal(ct[:0], sa.nonce[:], ct, sa.aadFor(seq))
	case s.ivLen > 0:
		sa.cbcEnc.SetIV(iv)
		sa.cbcEnc.CryptBlocks(ct, ct)
	}
	if !s.aead {
		copy(out[n-s.icvLen:], sa.icv(out[:n-s.icvLen], seq))
	}
	sa.seq = seq
	return out
}

func TestModeErrors(t *testing.T) {
	out, in := pair(t, suiteCase{ipsec.CipherAES128, ipsec.HashSHA1}, 0x1000, false)
	inner := innerPacket(10)
	frag := append([]byte(nil), inner...)
	frag[6] = 0x20 // MF
	IPv4(frag).UpdateChecksum()
	if _, err := out.SealTransport(nil, frag); err != ErrFragment {
		t.Fatalf("SealTransport fragment: %v", err)
	}
	if _, err := out.SealTransport(nil, inner[:10]); err != ErrMalformed {
		t.Fatalf("SealTransport short: %v", err)
	}
	if _, err := out.SealTunnel(nil, IPv4Fields{Src: netip.MustParseAddr("::1"), Dst: outerFields.Dst}, inner); err != ErrNotIPv4 {
		t.Fatalf("SealTunnel v6: %v", err)
	}
	if _, err := out.SealTunnel(nil, outerFields, make([]byte, 70000)); err != ErrMalformed {
		t.Fatalf("SealTunnel garbage inner: %v", err)
	}

	pkt, _ := out.SealTunnel(nil, outerFields, inner)
	notESP := append([]byte(nil), pkt...)
	IPv4(notESP).SetProtocol(ProtocolAH)
	if _, err := in.OpenTunnel(notESP); err != ErrProtocol {
		t.Fatalf("OpenTunnel AH: %v", err)
	}
	fragESP := append([]byte(nil), pkt...)
	fragESP[7] = 1 // fragment offset 8
	if _, err := in.OpenTunnel(fragESP); err != ErrFragment {
		t.Fatalf("OpenTunnel fragment: %v", err)
	}
	// Transport-mode payload opened as tunnel: next header is UDP.
	tp, _ := out.SealTransport(nil, inner)
	if _, err := in.OpenTunnel(tp); err != ErrProtocol {
		t.Fatalf("OpenTunnel of transport packet: %v", err)
	}
	// Dummy packet (RFC 4303 section 2.6).
	dummy, _ := out.Seal(nil, nil, ProtocolNoNext)
	full := make([]byte, IPv4MinimumSize+len(dummy))
	f := outerFields
	f.Protocol, f.TotalLength = ProtocolESP, uint16(len(full))
	IPv4(full).Encode(&f)
	copy(full[IPv4MinimumSize:], dummy)
	if _, err := in.OpenTransport(full); err != ErrNoNextHeader {
		t.Fatalf("dummy: %v", err)
	}
	big := make([]byte, 65535-20)
	IPv4(big).Encode(&IPv4Fields{TotalLength: uint16(len(big)), Protocol: 17, Src: outerFields.Src, Dst: outerFields.Dst})
	if _, err := out.SealTunnel(nil, outerFields, big); err != ErrTooBig {
		t.Fatalf("too big: %v", err)
	}
}

// TestZeroAllocs asserts that Seal and Open, in all framings, do not
// allocate when the destination has room.
func TestZeroAllocs(t *testing.T) {
	suites := []suiteCase{
		{ipsec.CipherAESGCM128, ipsec.HashNone},
		{ipsec.CipherAESGCM256, ipsec.HashNone},
		{ipsec.CipherAES128, ipsec.HashSHA1},
		{ipsec.Cipher3DES, ipsec.HashSHA1},
		{ipsec.CipherAES256, ipsec.HashSHA256},
		{ipsec.CipherNone, ipsec.HashMD5},
	}
	for _, s := range suites {
		for _, esn := range []bool{false, true} {
			out, in := pair(t, s, 0x1000, esn)
			inner := innerPacket(1372)
			buf := make([]byte, 0, 2048)
			const runs = 100
			// Seal: crypto/rand.Reader is the IV source of the CBC suites.
			if n := testing.AllocsPerRun(runs, func() {
				if _, err := out.Seal(buf, inner, ProtocolIPv4); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("%v esn=%v: Seal allocs = %v", s, esn, n)
			}
			if n := testing.AllocsPerRun(runs, func() {
				if _, err := out.SealTunnel(buf, outerFields, inner); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("%v: SealTunnel allocs = %v", s, n)
			}
			if n := testing.AllocsPerRun(runs, func() {
				if _, err := out.SealTransport(buf, inner); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("%v: SealTransport allocs = %v", s, n)
			}

			// Open needs a fresh sequence number per run: seal them first.
			var pkts [][]byte
			for range runs + 1 {
				p, _ := out.Seal(nil, inner, ProtocolIPv4)
				pkts = append(pkts, p)
			}
			i := 0
			if n := testing.AllocsPerRun(runs, func() {
				if _, _, err := in.Open(pkts[i]); err != nil {
					t.Fatal(err)
				}
				i++
			}); n != 0 {
				t.Errorf("%v esn=%v: Open allocs = %v", s, esn, n)
			}
			pkts = pkts[:0]
			for range runs + 1 {
				p, _ := out.SealTunnel(nil, outerFields, inner)
				pkts = append(pkts, p)
			}
			i = 0
			if n := testing.AllocsPerRun(runs, func() {
				if _, err := in.OpenTunnel(pkts[i]); err != nil {
					t.Fatal(err)
				}
				i++
			}); n != 0 {
				t.Errorf("%v: OpenTunnel allocs = %v", s, n)
			}
			// Error paths are per packet too.
			bad := append([]byte(nil), pkts[0]...)
			if n := testing.AllocsPerRun(runs, func() {
				if _, err := in.OpenTunnel(bad); err == nil {
					t.Fatal("replayed packet accepted")
				}
			}); n != 0 {
				t.Errorf("%v: OpenTunnel error path allocs = %v", s, n)
			}
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	out, in := pair(t, suiteCase{ipsec.CipherAES128, ipsec.HashSHA1}, 0x1000, false)
	const workers, each = 4, 200
	pkts := make(chan []byte, workers*each)
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for range each {
				p, err := out.Seal(nil, innerPacket(50), ProtocolIPv4)
				if err != nil {
					t.Error(err)
					return
				}
				pkts <- p
			}
		}()
	}
	for range workers {
		<-done
	}
	close(pkts)
	var all [][]byte
	for p := range pkts {
		all = append(all, p)
	}
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := w; i < len(all); i += workers {
				if _, _, err := in.Open(all[i]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range workers {
		<-done
	}
	if st := in.Stats(); st.Packets != workers*each || st.Seq != workers*each {
		t.Fatalf("stats %+v", st)
	}
}
