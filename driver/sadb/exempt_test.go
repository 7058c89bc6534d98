package sadb

import (
	"net/netip"
	"testing"

	"github.com/gonetsh/gonetsh/ipsec"
)

func TestExempt(t *testing.T) {
	a := netip.MustParseAddr
	local := []netip.Prefix{
		netip.MustParsePrefix("192.168.1.10/24"),
		netip.MustParsePrefix("10.1.0.1/16"),
		netip.MustParsePrefix("172.16.0.1/32"),  // no broadcast address
		netip.MustParsePrefix("2001:db8::1/64"), // ignored
	}
	udp := func(src, dst string, sp, dp uint16) Fields {
		return Fields{Src: a(src), Dst: a(dst), Protocol: ipsec.ProtoUDP, SrcPort: sp, DstPort: dp}
	}
	tcp := func(src, dst string, sp, dp uint16) Fields {
		return Fields{Src: a(src), Dst: a(dst), Protocol: ipsec.ProtoTCP, SrcPort: sp, DstPort: dp}
	}
	frag := func(f Fields) Fields {
		f.SrcPort, f.DstPort, f.NonInitialFragment = 0, 0, true
		return f
	}

	// want[level] for levels 0, 1, 2, 3.
	const (
		all   = "1111"
		l02   = "1010" // Kerberos, RSVP
		l01   = "1100" // multicast, broadcast
		never = "0000"
	)
	tests := []struct {
		name string
		f    Fields
		want string
	}{
		{"IKE 500->500", udp("192.168.1.10", "10.9.9.9", 500, 500), all},
		{"IKE to 500 from other", udp("192.168.1.10", "10.9.9.9", 33000, 500), all},
		{"IKE reply from 500", udp("10.9.9.9", "192.168.1.10", 500, 33000), all},
		{"NAT-T 4500", udp("192.168.1.10", "10.9.9.9", 4500, 4500), all},
		{"NAT-T from 4500", udp("10.9.9.9", "192.168.1.10", 4500, 1024), all},
		{"TCP 500 is not IKE", tcp("192.168.1.10", "10.9.9.9", 1024, 500), never},
		{"IKE fragment", frag(udp("192.168.1.10", "10.9.9.9", 500, 500)), never},
		{"Kerberos UDP to 88", udp("192.168.1.10", "10.9.9.9", 1025, 88), l02},
		{"Kerberos TCP to 88", tcp("192.168.1.10", "10.9.9.9", 1025, 88), l02},
		{"Kerberos TCP from 88", tcp("10.9.9.9", "192.168.1.10", 88, 1025), l02},
		{"Kerberos fragment", frag(tcp("10.9.9.9", "192.168.1.10", 88, 1025)), never},
		{"RSVP", Fields{Src: a("192.168.1.10"), Dst: a("10.9.9.9"), Protocol: 46}, l02},
		{"multicast 224.0.0.5", Fields{Src: a("192.168.1.10"), Dst: a("224.0.0.5"), Protocol: 89}, l01},
		{"multicast 239.255.255.250 UDP", udp("192.168.1.10", "239.255.255.250", 1900, 1900), l01},
		{"limited broadcast", udp("192.168.1.10", "255.255.255.255", 68, 67), l01},
		{"subnet broadcast /24", udp("192.168.1.10", "192.168.1.255", 137, 137), l01},
		{"subnet broadcast /16", Fields{Src: a("10.1.2.3"), Dst: a("10.1.255.255"), Protocol: ipsec.ProtoICMP}, l01},
		{"other subnet's broadcast", udp("192.168.1.10", "192.168.2.255", 137, 137), never},
		{"/32 has no broadcast", udp("172.16.0.1", "172.16.0.1", 137, 137), never},
		{"multicast IKE", udp("192.168.1.10", "224.0.0.1", 500, 500), all},
		{"multicast Kerberos", udp("192.168.1.10", "224.0.0.1", 88, 88), "1110"},
		{"plain unicast TCP", tcp("192.168.1.10", "10.9.9.9", 1025, 80), never},
		{"plain ICMP", Fields{Src: a("192.168.1.10"), Dst: a("10.9.9.9"), Protocol: ipsec.ProtoICMP, ICMPType: 8}, never},
		{"zero fields", Fields{}, never},
		{"IPv6", Fields{Src: a("2001:db8::1"), Dst: a("ff02::1"), Protocol: ipsec.ProtoUDP, SrcPort: 500, DstPort: 500}, never},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for level := ExemptLevel(0); level <= 3; level++ {
				want := tt.want[level] == '1'
				if got := Exempt(tt.f, level, local); got != want {
					t.Errorf("level %v: Exempt(%v) = %v, want %v", level, tt.f, got, want)
				}
			}
			// Out-of-range levels behave as 3.
			if got, want := Exempt(tt.f, 9, local), tt.want[3] == '1'; got != want {
				t.Errorf("level 9: Exempt = %v, want %v (as level 3)", got, want)
			}
		})
	}
	// Without local prefixes only the limited broadcast is known.
	if Exempt(udp("192.168.1.10", "192.168.1.255", 137, 137), ExemptAll, nil) {
		t.Error("subnet broadcast exempt without local prefixes")
	}
	if !Exempt(udp("192.168.1.10", "255.255.255.255", 137, 137), ExemptAll, nil) {
		t.Error("limited broadcast not exempt without local prefixes")
	}
}

func TestExemptLevelString(t *testing.T) {
	if DefaultExemptLevel != ExemptIKEOnly || ExemptIKEOnly.String() != "3" || ExemptAll.String() != "0" || ExemptLevel(4).String() != "ExemptLevel(4)" {
		t.Error("ExemptLevel strings or default")
	}
}

func TestExemptDoesNotAllocate(t *testing.T) {
	local := []netip.Prefix{netip.MustParsePrefix("192.168.1.10/24")}
	f := Fields{Src: netip.MustParseAddr("192.168.1.10"), Dst: netip.MustParseAddr("192.168.1.255"), Protocol: ipsec.ProtoUDP, SrcPort: 137, DstPort: 137}
	if n := testing.AllocsPerRun(1000, func() { Exempt(f, ExemptAll, local) }); n != 0 {
		t.Errorf("Exempt allocates %v times", n)
	}
}
