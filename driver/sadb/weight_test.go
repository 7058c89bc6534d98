package sadb

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gonetsh/gonetsh/ipsec"
)

// TestWeightMatchesAgent checks that the data path ranks single-port
// selectors exactly as the policy agent (ipsec.Selector.Weight) does, so the
// order `show qmfilter type=specific` prints is the order packets see.
func TestWeightMatchesAgent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10000; i++ {
		src := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), 1}), r.IntN(33)).Masked()
		dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(r.IntN(256))}), r.IntN(33)).Masked()
		protos := []ipsec.Protocol{ipsec.ProtoAny, ipsec.ProtoICMP, ipsec.ProtoTCP, ipsec.ProtoUDP}
		proto := protos[r.IntN(len(protos))]
		var sp, dp uint16
		if proto.HasPorts() {
			sp, dp = uint16(r.IntN(3))*1000, uint16(r.IntN(3))*443
		}
		a := ipsec.Selector{Src: src, Dst: dst, Protocol: proto, SrcPort: sp, DstPort: dp}
		d := Selector{Dir: Outbound, Src: src, Dst: dst, Protocol: proto, SrcPort: Port(sp), DstPort: Port(dp)}
		if a.Weight() != d.Weight() {
			t.Fatalf("%v: agent weight %d, data path weight %d", d, a.Weight(), d.Weight())
		}
	}
}
