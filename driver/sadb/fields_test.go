package sadb

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/gonetsh/gonetsh/driver/tun/tuntest"
	"github.com/gonetsh/gonetsh/ipsec"
)

func mustPkt(t testing.TB) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("192.168.1.2")
)

func TestParseIPv4(t *testing.T) {
	must := mustPkt(t)
	udp := must(tuntest.UDP(netip.AddrPortFrom(addrA, 5353), netip.AddrPortFrom(addrB, 53), []byte("q")))
	tcp := must(tuntest.TCP(netip.AddrPortFrom(addrA, 40000), netip.AddrPortFrom(addrB, 443), 1, 0, tuntest.SYN, nil))
	icmp := must(tuntest.ICMPEcho(addrA, addrB, 1, 2, []byte("ping")))

	frag := append([]byte(nil), tcp...)
	tuntest.IPv4(frag).SetFragment(185, false)
	first := append([]byte(nil), udp...)
	tuntest.IPv4(first).SetFragment(0, true)

	// IHL 6: one word of options (NOPs) before the UDP header.
	opts := make([]byte, len(udp)+4)
	copy(opts, udp[:20])
	copy(opts[24:], udp[20:])
	opts[0] = 0x46
	opts[20], opts[21], opts[22], opts[23] = 1, 1, 1, 0
	binary.BigEndian.PutUint16(opts[2:], uint16(len(opts)))

	padded := append(append([]byte(nil), icmp...), 0, 0, 0, 0)

	raw := append([]byte(nil), icmp...)
	raw[9] = 50 // ESP: no ports

	setTotal := func(b []byte, n int) []byte {
		b = append([]byte(nil), b...)
		binary.BigEndian.PutUint16(b[2:], uint16(n))
		return b
	}
	setByte := func(b []byte, i int, v byte) []byte {
		b = append([]byte(nil), b...)
		b[i] = v
		return b
	}

	tests := []struct {
		name    string
		pkt     []byte
		want    Fields
		wantErr error
	}{
		{"udp", udp, Fields{Src: addrA, Dst: addrB, Protocol: ipsec.ProtoUDP, SrcPort: 5353, DstPort: 53}, nil},
		{"tcp", tcp, Fields{Src: addrA, Dst: addrB, Protocol: ipsec.ProtoTCP, SrcPort: 40000, DstPort: 443}, nil},
		{"icmp", icmp, Fields{Src: addrA, Dst: addrB, Protocol: ipsec.ProtoICMP, ICMPType: 8}, nil},
		{"esp", raw, Fields{Src: addrA, Dst: addrB, Protocol: 50}, nil},
		{"non-initial fragment", frag, Fields{Src: addrA, Dst: addrB, Protocol: ipsec.ProtoTCP, NonInitialFragment: true}, nil},
		{"first fragment keeps ports", first, Fields{Src: addrA, Dst: addrB, Protocol: ipsec.ProtoUDP, SrcPort: 5353, DstPort: 53}, nil},
		{"options", opts, Fields{Src: addrA, Dst: addrB, Protocol: ipsec.ProtoUDP, SrcPort: 5353, DstPort: 53}, nil},
		{"link padding", padded, Fields{Src: addrA, Dst: addrB, Protocol: ipsec.ProtoICMP, ICMPType: 8}, nil},
		{"empty", nil, Fields{}, ErrTruncated},
		{"19 bytes", udp[:19], Fields{}, ErrTruncated},
		{"IPv6", setByte(udp, 0, 0x60), Fields{}, ErrNotIPv4},
		{"IHL 4", setByte(udp, 0, 0x44), Fields{}, ErrHeader},
		{"IHL beyond total", setByte(udp, 0, 0x4f), Fields{}, ErrHeader},
		{"total below header", setTotal(udp, 19), Fields{}, ErrHeader},
		{"total beyond buffer", setTotal(udp, len(udp)+1), Fields{}, ErrTruncated},
		{"udp without ports", setTotal(udp, 23)[:23], Fields{}, ErrTruncated},
		{"icmp without code", setTotal(icmp, 21)[:21], Fields{}, ErrTruncated},
		{"tcp header cut at ports", setTotal(tcp, 24), Fields{Src: addrA, Dst: addrB, Protocol: ipsec.ProtoTCP, SrcPort: 40000, DstPort: 443}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIPv4(tt.pkt)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("fields = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFieldsString(t *testing.T) {
	tests := []struct {
		f    Fields
		want string
	}{
		{Fields{Src: addrA, Dst: addrB, Protocol: ipsec.ProtoTCP, SrcPort: 1, DstPort: 2}, "TCP 10.0.0.1 -> 192.168.1.2 ports 1 -> 2"},
		{Fields{Src: addrA, Dst: addrB, Protocol: ipsec.ProtoICMP, ICMPType: 8}, "ICMP 10.0.0.1 -> 192.168.1.2 type 8 code 0"},
		{Fields{Src: addrA, Dst: addrB, Protocol: ipsec.ProtoUDP, NonInitialFragment: true}, "UDP 10.0.0.1 -> 192.168.1.2 (fragment)"},
		{Fields{Src: addrA, Dst: addrB, Protocol: 50}, "50 10.0.0.1 -> 192.168.1.2"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
	}
}

func TestParseIPv4DoesNotAllocate(t *testing.T) {
	pkt := mustPkt(t)(tuntest.TCP(netip.AddrPortFrom(addrA, 1), netip.AddrPortFrom(addrB, 2), 0, 0, tuntest.ACK, nil))
	if n := testing.AllocsPerRun(1000, func() { _, _ = ParseIPv4(pkt) }); n != 0 {
		t.Errorf("ParseIPv4 allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = ParseIPv4(pkt[:10]) }); n != 0 {
		t.Errorf("ParseIPv4 error path allocates %v times", n)
	}
}

// FuzzParseIPv4 checks that no input panics, that accepted packets give
// consistent fields, and that the fields are safe to look up and exempt.
func FuzzParseIPv4(f *testing.F) {
	must := mustPkt(f)
	f.Add(must(tuntest.UDP(netip.AddrPortFrom(addrA, 500), netip.AddrPortFrom(addrB, 500), []byte("ike"))))
	f.Add(must(tuntest.TCP(netip.AddrPortFrom(addrA, 1), netip.AddrPortFrom(addrB, 88), 0, 0, tuntest.SYN, nil)))
	f.Add(must(tuntest.ICMPEcho(addrA, addrB, 1, 1, nil)))
	f.Add([]byte{0x45, 0, 0, 20, 0, 0, 0x20, 1, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2})
	f.Add([]byte{0x4f})
	f.Add([]byte{})
	spd, err := Compile([]Entry{
		{Action: ipsec.ActionBlock, Selector: Selector{Dir: Outbound, Dst: netip.MustParsePrefix("192.168.0.0/16"), Protocol: ipsec.ProtoTCP, DstPort: PortRange{80, 90}}},
		{Action: ipsec.ActionPermit, Selector: Selector{Dir: Outbound}},
	})
	if err != nil {
		f.Fatal(err)
	}
	local := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		fl, err := ParseIPv4(pkt)
		if err != nil {
			if fl != (Fields{}) {
				t.Fatalf("error %v with fields %v", err, fl)
			}
			return
		}
		if !fl.Src.Is4() || !fl.Dst.Is4() {
			t.Fatalf("accepted packet with addresses %v %v", fl.Src, fl.Dst)
		}
		if (!fl.Protocol.HasPorts() || fl.NonInitialFragment) && (fl.SrcPort != 0 || fl.DstPort != 0) {
			t.Fatalf("ports without TCP/UDP header: %v", fl)
		}
		if _, ok := spd.Lookup(Outbound, fl); !ok {
			t.Fatalf("catch-all entry did not match %v", fl)
		}
		for l := ExemptLevel(0); l < 5; l++ {
			Exempt(fl, l, local)
		}
	})
}
