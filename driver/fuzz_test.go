package driver

import (
	"net/netip"
	"testing"

	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/esp"
	"github.com/gonetsh/gonetsh/driver/sadb"
)

// fuzzLocals are the local addresses a fuzzed UDP endpoint can name: the
// SA destinations of both topologies, and one without SAs.
var fuzzLocals = []netip.Addr{hostB, gwB, netip.MustParseAddr("10.9.9.9")}

// FuzzInbound feeds arbitrary wire packets to the inbound path of a
// driver holding an SA of every suite (each under its own SPI), an AH+ESP
// bundle and the policies of both topologies. It must never panic, and what it delivers
// must be a well-formed IPv4 packet. The seeds are packets sealed by the
// peer, which the fuzzer then mutates.
func FuzzInbound(f *testing.F) {
	a, b := unstartedPair(f)
	a.policy(f, append(hosts.aSPD, gateways.aSPD...)...)
	b.policy(f, append(hosts.bSPD, gateways.bSPD...)...)
	for i, s := range suites {
		spi := uint32(spiAB + i*0x100)
		in := sadb.ID{Dir: sadb.Inbound, SPI: spi, Dst: s.topo.bEnd}
		out := sadb.ID{Dir: sadb.Outbound, SPI: spi, Dst: s.topo.bEnd}
		if err := b.d.AddSA(in, s.params(netip.Addr{}, s.topo.bIn, spi)); err != nil {
			f.Fatal(err)
		}
		if err := a.d.AddSA(out, s.params(s.topo.aEnd, s.topo.aOut, spi)); err != nil {
			f.Fatal(err)
		}
		sa, _ := a.d.sad.Get(out)
		pkt := echo(f, false, s.topo.aHost, s.topo.bHost, 1, 40)
		buf := make([]byte, bufSize)
		copy(buf[headroom:], pkt)
		w, ep, ok := a.d.seal(sa, buf, buf[headroom:headroom+len(pkt)])
		if !ok {
			f.Fatalf("%s: seal failed", s.name)
		}
		local := byte(0)
		if s.topo.bEnd == gwB {
			local = 1
		}
		f.Add(byte(ep.Kind), local, w)
	}
	// An AH+ESP bundle from hostA to hostB, its own SPIs.
	bs := bundleSuite(hosts)
	espOut := sadb.ID{Dir: sadb.Outbound, SPI: 0x5001, Dst: hostB}
	espIn := sadb.ID{Dir: sadb.Inbound, SPI: 0x5001, Dst: hostB}
	addBundle(f, bs, a.d, b.d, espOut, espIn, 0x5051, hosts.aOut, hosts.bIn, hostA, false)
	sa, _ := a.d.sad.Get(espOut)
	pkt := echo(f, false, hostA, hostB, 1, 40)
	buf := make([]byte, bufSize)
	copy(buf[headroom:], pkt)
	if w, _, ok := a.d.seal(sa, buf, buf[headroom:headroom+len(pkt)]); ok {
		f.Add(byte(conn.KindIP), byte(0), w)
	} else {
		f.Fatal("bundle: seal failed")
	}

	f.Add(byte(conn.KindUDP), byte(0), []byte{0, 0, 0, 0, 1, 2, 3})
	f.Add(byte(conn.KindUDP), byte(0), []byte{0xff})
	f.Add(byte(conn.KindIP), byte(0), echo(f, false, hostA, hostB, 1, 8))
	f.Add(byte(conn.KindIP), byte(0), udp(f, "10.0.0.1:500", "10.0.0.2:500", "ike"))

	f.Fuzz(func(t *testing.T, kind, local byte, data []byte) {
		if len(data) > maxPacket {
			return
		}
		ep := conn.Endpoint{
			Kind:   conn.Kind(kind % 3),
			Local:  netip.AddrPortFrom(fuzzLocals[int(local)%len(fuzzLocals)], 4500),
			Remote: netip.AddrPortFrom(hostA, 4500),
			TOS:    kind,
			TTL:    local,
		}
		n := copy(buf, data)
		plain, ok := b.d.inbound(buf[:n], &ep)
		if !ok {
			return
		}
		if _, err := sadb.ParseIPv4(plain); err != nil {
			t.Fatalf("delivered a malformed packet: %v", err)
		}
		if int(esp.IPv4(plain).TotalLength()) != len(plain) {
			t.Fatalf("delivered %d bytes for a total length of %d", len(plain), esp.IPv4(plain).TotalLength())
		}
	})
}
