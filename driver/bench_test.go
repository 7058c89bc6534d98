package driver

import (
	"testing"
)

// benchSuites are the suites benchmarked; benchPayload is the ICMP data of
// each echo (a 1428-byte IPv4 packet).
var benchSuites = []string{"AES-GCM-128 UDP transport", "AES-CBC-SHA1 ESP tunnel"}

const benchPayload = 1400

// BenchmarkRoundTrip: an echo from A's TUN device to B's and the reply
// back, through both drivers' routines and the in-memory fakes: two seals
// and two opens per op, one packet in flight at a time (latency). The
// fake devices copy every packet and allocate per packet; the drivers do
// not (TestOutboundAllocs, TestInboundAllocs).
func BenchmarkRoundTrip(b *testing.B) {
	for _, name := range benchSuites {
		b.Run(name, func(b *testing.B) {
			s := suiteByName(b, name)
			x, y, _ := newPair(b, nil)
			x.wire.SetHook(nil)
			y.wire.SetHook(nil)
			s.setup(b, x, y)
			req := echo(b, false, s.topo.aHost, s.topo.bHost, 1, benchPayload)
			rep := echo(b, true, s.topo.bHost, s.topo.aHost, 1, benchPayload)
			b.SetBytes(int64(2 * len(req)))
			b.ReportAllocs()
			for b.Loop() {
				x.tun.Outbound <- req // Read copies: the slice can be reused
				<-y.tun.Inbound
				y.tun.Outbound <- rep
				<-x.tun.Inbound
			}
		})
	}
}

// BenchmarkStream: A's host streams echoes to B's through the fakes, the
// TUN reader, the wire and the receive routine working concurrently
// (throughput, one way).
func BenchmarkStream(b *testing.B) {
	for _, name := range benchSuites {
		b.Run(name, func(b *testing.B) {
			s := suiteByName(b, name)
			x, y, _ := newPair(b, nil)
			x.wire.SetHook(nil)
			s.setup(b, x, y)
			req := echo(b, false, s.topo.aHost, s.topo.bHost, 1, benchPayload)
			b.SetBytes(int64(len(req)))
			b.ReportAllocs()
			b.ResetTimer()
			go func() {
				for range b.N {
					x.tun.Outbound <- req
				}
			}()
			for range b.N {
				<-y.tun.Inbound
			}
		})
	}
}

// BenchmarkSealOpen: the per-packet work of the drivers alone, without
// devices or goroutines: A's outbound path then B's inbound path on one
// buffer.
func BenchmarkSealOpen(b *testing.B) {
	for _, name := range benchSuites {
		b.Run(name, func(b *testing.B) {
			s := suiteByName(b, name)
			x, y := unstartedPair(b)
			s.setup(b, x, y)
			pkt := echo(b, false, s.topo.aHost, s.topo.bHost, 1, benchPayload)
			out, in := make([]byte, bufSize), make([]byte, bufSize)
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			for b.Loop() {
				copy(out[headroom:], pkt)
				w, ep, ok := x.d.outbound(out, len(pkt))
				if !ok {
					b.Fatal("outbound dropped")
				}
				n := copy(in, w) // the wire's copy
				ep.Local, ep.Remote = ep.Remote, ep.Local
				if _, ok := y.d.inbound(in[:n], &ep); !ok {
					b.Fatal("inbound dropped")
				}
			}
		})
	}
}
