package ah

import (
	"bytes"
	"testing"
)

// FuzzAHOpen feeds arbitrary packets to Open, OpenTunnel and
// OpenTransport. They must never panic; a packet rejected before the ICV
// verified must leave the window alone and bump one counter; an accepted
// payload must come from the packet, and the same packet again must be a
// replay.
//
// Arguments: hash index, mode (low two bits: 1 OpenTunnel, 2 OpenTransport,
// else Open; bit 3: ESN), and the packet.
func FuzzAHOpen(f *testing.F) {
	for i, h := range hashes {
		out, _ := pair(f, h, false)
		s1, _ := out.SealTunnel(nil, outer, packet(i*5, nil))
		s2, _ := out.SealTransport(nil, packet(i*3, testOptions))
		f.Add(byte(i), byte(1), s1)
		f.Add(byte(i), byte(2), s2)
		f.Add(byte(i), byte(0), s2)
	}
	f.Add(byte(0), byte(0), []byte{})
	f.Add(byte(0), byte(0), []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 51, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2})

	f.Fuzz(func(t *testing.T, hi, mode byte, packet []byte) {
		_, in := pair(t, hashes[int(hi)%len(hashes)], mode&8 != 0)
		packet = append([]byte(nil), packet...) // OpenTransport works in place
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
			if err == nil && !bytes.Equal(packet, orig) {
				t.Fatal("Open modified the packet")
			}
		}
		st := in.Stats()
		if err != nil {
			if got != nil {
				t.Fatalf("error %v with payload", err)
			}
			switch {
			case st.Packets == 0:
				if st.Seq != 0 || st.ReplayDrops+st.AuthFailures+st.Invalid != 1 {
					t.Fatalf("error %v: stats %+v", err, st)
				}
			case err == ErrProtocol || err == ErrMalformed:
				if st.Invalid != 1 { // authentic AH, inner packet rejected
					t.Fatalf("error %v: stats %+v", err, st)
				}
			default:
				t.Fatalf("error %v after AH accepted the packet", err)
			}
			return
		}
		if len(got) > len(packet) || !bytes.Contains(packet, got) {
			t.Fatal("payload outside the packet")
		}
		if op := mode & 3; op != 1 && op != 2 {
			if _, _, err := in.Open(orig); err != ErrReplay {
				t.Fatalf("second Open: %v", err)
			}
		}
	})
}
