package sadb

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gonetsh/gonetsh/ipsec"
)

// realisticPolicy returns n entries shaped like an expanded netsh policy:
// mirrored host-to-host negotiate rules, server ports open to any, subnet
// tunnels, a few protocol and range filters, and a default permit.
func realisticPolicy(r *rand.Rand, n int) []Entry {
	host := func() netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(r.IntN(64)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
	}
	var es []Entry
	add := func(s Selector, a ipsec.Action) {
		es = append(es, Entry{Selector: s, Action: a, ID: uint64(len(es) + 1)})
	}
	mirrored := func(s Selector, a ipsec.Action) {
		s.Dir = Outbound
		add(s, a)
		s.Dir, s.Src, s.Dst, s.SrcPort, s.DstPort = Inbound, s.Dst, s.Src, s.DstPort, s.SrcPort
		add(s, a)
	}
	me := netip.PrefixFrom(netip.MustParseAddr("10.0.0.1"), 32)
	for len(es) < n-1 {
		switch k := r.IntN(20); {
		case k < 10: // me <-> host, negotiate
			mirrored(Selector{Src: me, Dst: netip.PrefixFrom(host(), 32)}, ipsec.ActionNegotiate)
		case k < 14: // any -> me TCP port, permit (server ports)
			mirrored(Selector{Src: me, Protocol: ipsec.ProtoTCP, SrcPort: Port(uint16(1 + r.IntN(10000)))}, ipsec.ActionPermit)
		case k < 17: // subnet <-> subnet tunnel
			a := netip.PrefixFrom(host(), 24).Masked()
			b := netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16, byte(r.IntN(256)), 0}), 24)
			mirrored(Selector{Src: a, Dst: b}, ipsec.ActionNegotiate)
		case k < 19: // host <-> /16 UDP, block
			mirrored(Selector{Src: netip.PrefixFrom(host(), 32), Dst: netip.PrefixFrom(host(), 16).Masked(), Protocol: ipsec.ProtoUDP}, ipsec.ActionBlock)
		default: // me -> any TCP high ports range
			mirrored(Selector{Src: me, Protocol: ipsec.ProtoTCP, DstPort: PortRange{uint16(1024 * (1 + r.IntN(8))), 65535}}, ipsec.ActionPermit)
		}
	}
	es = es[:n-1]
	add(Selector{Dir: Outbound}, ipsec.ActionPermit)
	return es
}

// realisticPackets returns m packets: half built to fall inside a random
// entry's selector, half with random 10/8 addresses.
func realisticPackets(r *rand.Rand, es []Entry, m int) []Fields {
	out := make([]Fields, m)
	pick := func(p netip.Prefix) netip.Addr {
		if !p.IsValid() {
			p = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		}
		a := p.Addr().As4()
		host := r.Uint32() & ^uint32(0) >> p.Bits()
		if p.Bits() == 0 {
			host = 0x0a000000 | r.Uint32()&0xffffff
		} else if p.Bits() == 32 {
			host = 0
		}
		v := be32(a) | host
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	for i := range out {
		var f Fields
		if i%2 == 0 {
			s := es[r.IntN(len(es))].Selector
			f = Fields{Src: pick(s.Src), Dst: pick(s.Dst), Protocol: s.Protocol}
			if f.Protocol == 0 {
				f.Protocol = []ipsec.Protocol{1, 6, 17}[r.IntN(3)]
			}
			if f.Protocol.HasPorts() {
				f.SrcPort, f.DstPort = s.SrcPort.Lo, s.DstPort.Lo
				if f.SrcPort == 0 {
					f.SrcPort = uint16(r.IntN(65536))
				}
				if f.DstPort == 0 {
					f.DstPort = uint16(r.IntN(65536))
				}
			}
		} else {
			f = Fields{
				Src:      netip.AddrFrom4([4]byte{10, byte(r.IntN(64)), byte(r.IntN(256)), byte(r.IntN(256))}),
				Dst:      netip.AddrFrom4([4]byte{10, byte(r.IntN(64)), byte(r.IntN(256)), byte(r.IntN(256))}),
				Protocol: ipsec.ProtoTCP, SrcPort: uint16(r.IntN(65536)), DstPort: 443,
			}
		}
		out[i] = f
	}
	return out
}

var sinkEntry Entry

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(uint64(n), 7))
			es := realisticPolicy(r, n)
			spd, err := Compile(es)
			if err != nil {
				b.Fatal(err)
			}
			pkts := realisticPackets(r, es, 4096)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e, _ := spd.Lookup(Direction(1+i&1), pkts[i&4095])
				sinkEntry = e
			}
		})
	}
}

// BenchmarkLookupRandomShapes uses the property test's policies, whose
// selectors use many prefix-length pairs: close to the index's worst case.
func BenchmarkLookupRandomShapes(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(uint64(n), 8))
			es := make([]Entry, n)
			for i := range es {
				es[i] = randEntry(r, uint64(i))
			}
			spd, err := Compile(es)
			if err != nil {
				b.Fatal(err)
			}
			pkts := make([]Fields, 4096)
			for i := range pkts {
				pkts[i] = randFields(r)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e, _ := spd.Lookup(Direction(1+i&1), pkts[i&4095])
				sinkEntry = e
			}
		})
	}
}

// BenchmarkLinearReference is the linear scan the index replaces.
func BenchmarkLinearReference(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(uint64(n), 7))
			es := realisticPolicy(r, n)
			ordered := refOrder(es)
			pkts := realisticPackets(r, es, 4096)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e, _ := refLookup(ordered, Direction(1+i&1), pkts[i&4095])
				sinkEntry = e
			}
		})
	}
}

func BenchmarkCompile10000(b *testing.B) {
	es := realisticPolicy(rand.New(rand.NewPCG(1, 1)), 10000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Compile(es); err != nil {
			b.Fatal(err)
		}
	}
}
