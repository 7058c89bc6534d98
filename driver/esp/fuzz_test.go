package esp

import (
	"bytes"
	"testing"

	"github.com/gonetsh/gonetsh/ipsec"
)

// fuzzSuites are the suites FuzzOpen picks from with its first argument.
var fuzzSuites = []suiteCase{
	{ipsec.CipherAESGCM128, ipsec.HashNone},
	{ipsec.CipherAES128, ipsec.HashSHA1},
	{ipsec.Cipher3DES, ipsec.HashMD5},
	{ipsec.CipherNone, ipsec.HashSHA256},
	{ipsec.CipherAES256, ipsec.HashNone}, // no ICV: the fuzzer reaches padding checks
	{ipsec.CipherDES, ipsec.HashSHA256},
}

const fuzzSPI = 0x00c0ffee

// fuzzSA returns the inbound SA of suite i and a matching outbound one.
func fuzzSA(t testing.TB, i byte, esn bool) (out, in *SA) {
	return pair(t, fuzzSuites[int(i)%len(fuzzSuites)], fuzzSPI, esn)
}

// FuzzOpen feeds arbitrary packets to Open and the framing helpers. They
// must never panic; a rejected packet must leave the SA's window alone and
// bump exactly one error counter; an accepted payload must come from the
// packet, and the same packet again must be a replay.
//
// The arguments: suite index, mode (low two bits: 1 tunnel, 2 transport,
// else raw ESP; bit 3: ESN), and the packet.
func FuzzOpen(f *testing.F) {
	for i := range fuzzSuites {
		for mode := byte(0); mode < 3; mode++ {
			out, _ := fuzzSA(f, byte(i), false)
			inner := innerPacket(i * 7)
			var pkt []byte
			switch mode {
			case 0:
				pkt, _ = out.Seal(nil, inner, ProtocolIPv4)
			case 1:
				pkt, _ = out.SealTunnel(nil, outerFields, inner)
			case 2:
				pkt, _ = out.SealTransport(nil, inner)
			}
			f.Add(byte(i), mode, pkt)
		}
	}
	f.Add(byte(0), byte(0), []byte{})
	f.Add(byte(1), byte(1), make([]byte, 20))

	f.Fuzz(func(t *testing.T, suite, mode byte, packet []byte) {
		esn := mode&8 != 0
		_, in := fuzzSA(t, suite, esn)
		packet = append([]byte(nil), packet...) // the Open methods work in place
		orig := append([]byte(nil), packet...)
		var (
			got []byte
			err error
		)
		switch mode & 3 {
		case 1:
			got, err = in.OpenTunnel(packet)
		case 2:
			got, err = in.OpenTransport(packet)
		default:
			got, _, err = in.Open(packet)
		}
		st := in.Stats()
		if err != nil {
			if got != nil {
				t.Fatalf("error %v with payload", err)
			}
			switch {
			case st.Packets == 0:
				// Rejected by ESP processing: no state change, one counter.
				if st.Seq != 0 || st.ReplayDrops+st.AuthFailures+st.Invalid != 1 {
					t.Fatalf("error %v: stats %+v", err, st)
				}
			case err == ErrNoNextHeader:
				// An authentic dummy packet.
			case err == ErrProtocol || err == ErrMalformed:
				// Authentic ESP whose inner packet the framing rejects.
				if st.Invalid != 1 {
					t.Fatalf("error %v: stats %+v", err, st)
				}
			default:
				t.Fatalf("error %v after ESP accepted the packet: %+v", err, st)
			}
			return
		}
		if len(got) > len(packet) || !bytes.Contains(packet, got) {
			t.Fatal("payload outside the packet")
		}
		if st.Packets != 1 {
			t.Fatalf("stats %+v", st)
		}
		// The same packet again is a replay.
		if op := mode & 3; op != 1 && op != 2 {
			if _, _, err := in.Open(orig); err != ErrReplay {
				t.Fatalf("second Open: %v", err)
			}
		}
	})
}

// FuzzUDPEncap feeds arbitrary datagrams to the RFC 3948 decoders. They
// must never panic, and the body they return must be a suffix of the input.
func FuzzUDPEncap(f *testing.F) {
	f.Add([]byte{0x11, 0x94, 0x11, 0x94, 0x00, 0x09, 0x00, 0x00, 0xff})
	f.Add([]byte{0x11, 0x94, 0x11, 0x94, 0x00, 0x0e, 0x00, 0x00, 0, 0, 0, 0, 0x21, 0x22})
	f.Add([]byte{0x11, 0x94, 0x11, 0x94, 0x00, 0x10, 0x00, 0x00, 0, 0, 0x43, 0x21, 0, 0, 0, 1})
	f.Add([]byte{0x11, 0x94, 0x11, 0x94, 0xff, 0xff, 0x00, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, datagram []byte) {
		for _, decode := range []func([]byte) (Kind, []byte, error){DecodeUDPEncap, ClassifyUDPPayload} {
			k, body, err := decode(datagram)
			if err != nil {
				if k != 0 || body != nil {
					t.Fatalf("error %v with kind %v", err, k)
				}
				continue
			}
			switch k {
			case KindKeepalive:
				if body != nil {
					t.Fatal("keepalive with body")
				}
			case KindESP, KindIKE:
				if !bytes.Contains(datagram, body) {
					t.Fatal("body not from the datagram")
				}
				if k == KindESP && len(body) < HeaderLen {
					t.Fatal("short ESP accepted")
				}
			default:
				t.Fatalf("kind %v without error", k)
			}
		}
	})
}
