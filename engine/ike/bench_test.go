package ike

import (
	"runtime"
	"testing"

	"github.com/gonetsh/gonetsh/ipsec"
)

// BenchmarkNegotiation measures main mode + quick mode (PSK, one SA pair)
// between two Negotiators in memory, per suite. The allocation figures
// are per negotiation; retained-B/SA-pair is the heap that stays with an
// established pair (both ends' MM and QM state, the fake kernel's SAs).
func BenchmarkNegotiation(b *testing.B) {
	for _, s := range []struct {
		name string
		mm   ipsec.MMOffer
		qm   ipsec.QMOffer
	}{
		{"3DES-SHA1-MODP2048", ipsec.MMOffer{Cipher: ipsec.Cipher3DES, Hash: ipsec.HashSHA1, Group: ipsec.DHGroup14},
			ipsec.QMOffer{ESP: true, ESPCipher: ipsec.Cipher3DES, ESPAuth: ipsec.HashSHA1}},
		{"AES128-SHA256-MODP2048", ipsec.MMOffer{Cipher: ipsec.CipherAES128, Hash: ipsec.HashSHA256, Group: ipsec.DHGroup14},
			ipsec.QMOffer{ESP: true, ESPCipher: ipsec.CipherAES128, ESPAuth: ipsec.HashSHA256}},
	} {
		b.Run(s.name, func(b *testing.B) {
			o := pairOpts{mmOffers: []ipsec.MMOffer{s.mm}, qmOffers: []ipsec.QMOffer{s.qm}}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			nodes := make([][2]*node, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				a, c, _, _ := newPair(b, o)
				acquire(a, c, 1, true)
				if len(a.kernel.list()) != 2 {
					b.Fatal("no SA pair")
				}
				nodes = append(nodes, [2]*node{a, c})
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "negotiations/s")
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "retained-B/SA-pair")
			runtime.KeepAlive(nodes)
		})
	}
}
