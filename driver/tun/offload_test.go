package tun_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/tun"
	"github.com/gonetsh/gonetsh/driver/tun/tuntest"
)

var (
	srcAP = netip.MustParseAddrPort("10.1.0.1:40000")
	dstAP = netip.MustParseAddrPort("10.2.0.1:5201")
)

const headroom = 64

// segment returns a TCP segment of the test flow.
func segment(t testing.TB, seq uint32, flags tuntest.TCPFlags, payload []byte) []byte {
	t.Helper()
	p, err := tuntest.TCP(srcAP, dstAP, seq, 777, flags, payload)
	require.NoError(t, err)
	return p
}

// batch returns buffers with headroom holding pkts.
func batch(pkts ...[]byte) [][]byte {
	bufs := make([][]byte, len(pkts))
	for i, p := range pkts {
		bufs[i] = append(make([]byte, headroom), p...)
	}
	return bufs
}

func randomPayload(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestChecksum: the 64-bit checksum agrees with tuntest's RFC 1071 one on
// every length and alignment.
func TestChecksum(t *testing.T) {
	data := randomPayload(3000)
	for start := range 9 {
		for n := 0; start+n <= len(data); n += 1 + n/7 {
			b := data[start : start+n]
			require.Equal(t, tuntest.Checksum(b, 0), tun.InternetChecksum(b), "start %d length %d", start, n)
		}
	}
	require.Equal(t, tuntest.Checksum(bytes.Repeat([]byte{0xff}, 4096), 0), tun.InternetChecksum(bytes.Repeat([]byte{0xff}, 4096)))
}

// TestSplitCoalesce: a TSO packet is cut into MSS-sized segments with
// correct headers and checksums, and the coalescer merges them back into
// the same packet with a GSO header whose partial checksum the kernel can
// complete.
func TestSplitCoalesce(t *testing.T) {
	const mss, size = 1000, 20500
	payload := randomPayload(size)
	big := segment(t, 5000, tuntest.ACK|tuntest.PSH, payload)
	binary.BigEndian.PutUint16(big[4:], 100) // IP ID

	bufs := make([][]byte, 32)
	for i := range bufs {
		bufs[i] = make([]byte, headroom+1500)
	}
	sizes := make([]int, len(bufs))
	n, last, err := tun.SplitTCP(big, mss, 0, bufs, sizes, headroom)
	require.NoError(t, err)
	require.True(t, last)
	require.Equal(t, 21, n)
	segs := make([][]byte, n)
	for i := range n {
		seg := tuntest.IPv4(bufs[i][headroom : headroom+sizes[i]])
		require.True(t, seg.IsValid(), "segment %d", i)
		require.True(t, seg.ChecksumValid(), "segment %d IP checksum", i)
		require.True(t, seg.TransportChecksumValid(), "segment %d TCP checksum", i)
		require.Equal(t, uint16(100+i), seg.ID())
		tcp := seg.Payload()
		require.Equal(t, uint32(5000+i*mss), binary.BigEndian.Uint32(tcp[4:]))
		want := tuntest.ACK
		if i == n-1 {
			want |= tuntest.PSH
		}
		require.Equal(t, want, tuntest.TCPFlags(tcp[13]), "segment %d flags", i)
		require.Equal(t, payload[i*mss:min((i+1)*mss, size)], tcp[20:])
		segs[i] = append([]byte(nil), seg...)
	}

	var c tun.Coalescer
	h, merged, m := c.Coalesce(batch(segs...), headroom)
	require.Equal(t, n, m, "all segments merged")
	require.Equal(t, tun.VnetHdr{Flags: 1, GSOType: 1, HdrLen: 40, GSOSize: mss, CsumStart: 20, CsumOffset: 16}, h)
	ip := tuntest.IPv4(merged)
	require.True(t, ip.IsValid())
	require.True(t, ip.ChecksumValid())
	require.Equal(t, len(big), ip.TotalLen())
	require.Equal(t, payload, ip.Payload()[20:])
	require.Equal(t, tuntest.ACK|tuntest.PSH, tuntest.TCPFlags(ip.Payload()[13]))
	require.NoError(t, tun.CompleteChecksum(merged, int(h.CsumStart), int(h.CsumOffset)))
	require.True(t, ip.TransportChecksumValid(), "the completed checksum")

	// Fewer buffers than segments: the rest comes with the next call,
	// the same segments.
	for _, step := range []int{1, 8, 20} {
		var got [][]byte
		for first := 0; ; {
			n, last, err := tun.SplitTCP(big, mss, first, bufs[:step], sizes, headroom)
			require.NoError(t, err)
			for i := range n {
				got = append(got, append([]byte(nil), bufs[i][headroom:headroom+sizes[i]]...))
			}
			first += n
			if last {
				break
			}
		}
		require.Equal(t, segs, got, "%d buffers per call", step)
	}
}

// TestCoalesceStops: merging stops at whatever the kernel's GRO would not
// merge, and a lone packet goes out unchanged with a zero header.
func TestCoalesceStops(t *testing.T) {
	p := randomPayload(500)
	other, err := tuntest.TCP(srcAP, netip.MustParseAddrPort("10.2.0.1:5202"), 1500, 777, tuntest.ACK, p)
	require.NoError(t, err)
	corrupt := segment(t, 1500, tuntest.ACK, p)
	corrupt[len(corrupt)-1] ^= 1
	udp, err := tuntest.UDP(srcAP, dstAP, p)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		pkts [][]byte
		want int
	}{
		{"two", [][]byte{segment(t, 1000, tuntest.ACK, p), segment(t, 1500, tuntest.ACK, p)}, 2},
		{"shorter last ends", [][]byte{segment(t, 1000, tuntest.ACK, p), segment(t, 1500, tuntest.ACK, p[:100]), segment(t, 1600, tuntest.ACK, p)}, 2},
		{"PSH ends", [][]byte{segment(t, 1000, tuntest.ACK, p), segment(t, 1500, tuntest.ACK|tuntest.PSH, p), segment(t, 2000, tuntest.ACK, p)}, 2},
		{"PSH first alone", [][]byte{segment(t, 1000, tuntest.ACK|tuntest.PSH, p), segment(t, 1500, tuntest.ACK, p)}, 1},
		{"gap", [][]byte{segment(t, 1000, tuntest.ACK, p), segment(t, 1501, tuntest.ACK, p)}, 1},
		{"longer", [][]byte{segment(t, 1000, tuntest.ACK, p[:100]), segment(t, 1100, tuntest.ACK, p)}, 1},
		{"other flow", [][]byte{segment(t, 1000, tuntest.ACK, p), other}, 1},
		{"bad checksum", [][]byte{segment(t, 1000, tuntest.ACK, p), corrupt}, 1},
		{"FIN", [][]byte{segment(t, 1000, tuntest.ACK|tuntest.FIN, p), segment(t, 1500, tuntest.ACK, p)}, 1},
		{"pure ACK", [][]byte{segment(t, 1000, tuntest.ACK, nil), segment(t, 1000, tuntest.ACK, nil)}, 1},
		{"UDP", [][]byte{udp, udp}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c tun.Coalescer
			h, out, n := c.Coalesce(batch(tc.pkts...), headroom)
			require.Equal(t, tc.want, n)
			if n == 1 {
				require.Equal(t, tun.VnetHdr{}, h)
				require.Equal(t, tc.pkts[0], out)
			} else {
				require.Equal(t, uint8(1), h.GSOType)
			}
		})
	}
}

// TestOffloadAllocs: cutting and merging do not allocate.
func TestOffloadAllocs(t *testing.T) {
	big := segment(t, 1, tuntest.ACK, randomPayload(60000))
	bufs := make([][]byte, tun.OffloadBatchSize)
	for i := range bufs {
		bufs[i] = make([]byte, headroom+1500)
	}
	sizes := make([]int, len(bufs))
	var n int
	split := testing.AllocsPerRun(20, func() {
		var err error
		if n, _, err = tun.SplitTCP(big, 1380, 0, bufs, sizes, headroom); err != nil {
			t.Fatal(err)
		}
	})
	for i := range n {
		bufs[i] = bufs[i][:headroom+sizes[i]]
	}
	var c tun.Coalescer
	merge := testing.AllocsPerRun(20, func() {
		if _, _, m := c.Coalesce(bufs[:n], headroom); m != n {
			t.Fatalf("merged %d of %d", m, n)
		}
	})
	require.Zero(t, split)
	require.Zero(t, merge)
}

// BenchmarkSplitTCP: cutting a 64 KiB TSO packet into 1380-byte segments
// with their checksums (bytes/s of TCP payload).
func BenchmarkSplitTCP(b *testing.B) {
	big := segment(b, 1, tuntest.ACK, randomPayload(65000))
	bufs := make([][]byte, tun.OffloadBatchSize)
	for i := range bufs {
		bufs[i] = make([]byte, headroom+1500)
	}
	sizes := make([]int, len(bufs))
	b.SetBytes(65000)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tun.SplitTCP(big, 1380, 0, bufs, sizes, headroom); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCoalesce: checking and merging 47 segments into one GSO write.
func BenchmarkCoalesce(b *testing.B) {
	big := segment(b, 1, tuntest.ACK, randomPayload(65000))
	bufs := make([][]byte, tun.OffloadBatchSize)
	for i := range bufs {
		bufs[i] = make([]byte, headroom+1500)
	}
	sizes := make([]int, len(bufs))
	n, _, err := tun.SplitTCP(big, 1380, 0, bufs, sizes, headroom)
	require.NoError(b, err)
	for i := range n {
		bufs[i] = bufs[i][:headroom+sizes[i]]
	}
	var c tun.Coalescer
	b.SetBytes(65000)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, m := c.Coalesce(bufs[:n], headroom); m != n {
			b.Fatalf("merged %d of %d", m, n)
		}
	}
}
