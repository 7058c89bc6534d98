package esp

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gonetsh/gonetsh/ipsec"
)

func TestIPv4Header(t *testing.T) {
	// The original and the ESP outer header of RFC 3602 section 4 case 5:
	// the checksums f9fe and f9a5 are the RFC's.
	for _, h := range []string{
		"45000054 08f20000 4001f9fe c0a87b03 c0a87b64",
		"4500007c 08f20000 4032f9a5 c0a87b03 c0a87b64",
	} {
		b := IPv4(unhex(t, h))
		if got, want := b.CalculateChecksum(), b.Checksum(); got != want {
			t.Fatalf("%s: checksum %04x, want %04x", h, got, want)
		}
		if Checksum(b) != 0 {
			t.Fatalf("%s: checksum over a correct header is %04x, want 0", h, Checksum(b))
		}
	}
	b := IPv4(make([]byte, 124))
	b.Encode(&IPv4Fields{TotalLength: 124, ID: 0x08f2, Protocol: ProtocolESP,
		Src: netip.MustParseAddr("192.168.123.3"), Dst: netip.MustParseAddr("192.168.123.100")})
	if want := unhex(t, "4500007c 08f20000 4032f9a5 c0a87b03 c0a87b64"); !bytes.Equal(b[:20], want) {
		t.Fatalf("Encode = %x, want %x", b[:20], want)
	}
	if !b.IsValid() || b.HeaderLength() != 20 || b.TTL() != 64 || b.Protocol() != 50 || b.ID() != 0x08f2 ||
		b.Src() != netip.MustParseAddr("192.168.123.3") || b.Dst() != netip.MustParseAddr("192.168.123.100") ||
		len(b.Payload()) != 104 || b.IsFragment() || b.TOS() != 0 {
		t.Fatal("getters disagree with Encode")
	}
}

func TestIPv4IsValid(t *testing.T) {
	good := unhex(t, "45000014 00000000 40010000 0a000001 0a000002")
	tests := []struct {
		name string
		mod  func([]byte) []byte
		want bool
	}{
		{"good", func(b []byte) []byte { return b }, true},
		{"trailing bytes", func(b []byte) []byte { return append(b, 0, 0) }, true},
		{"short", func(b []byte) []byte { return b[:19] }, false},
		{"version 6", func(b []byte) []byte { b[0] = 0x65; return b }, false},
		{"IHL 4", func(b []byte) []byte { b[0] = 0x44; return b }, false},
		{"IHL beyond total", func(b []byte) []byte { b[0] = 0x46; return b }, false},
		{"total beyond slice", func(b []byte) []byte { b[3] = 21; return b }, false},
		{"total below header", func(b []byte) []byte { b[3] = 19; return b }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mod(append([]byte(nil), good...))
			if got := IPv4(b).IsValid(); got != tt.want {
				t.Fatalf("IsValid = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestESPHeader(t *testing.T) {
	h := Header(make([]byte, HeaderLen))
	h.SetSPI(0x4321)
	h.SetSeqNum(7)
	if !bytes.Equal(h, unhex(t, "00004321 00000007")) || h.SPI() != 0x4321 || h.SeqNum() != 7 || !h.IsValid() {
		t.Fatalf("header %x", []byte(h))
	}
	if Header(h[:7]).IsValid() {
		t.Fatal("7 bytes valid")
	}
}

func TestClassifyUDPPayload(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		kind    Kind
		body    []byte
		err     error
	}{
		{"keepalive", []byte{0xff}, KindKeepalive, nil, nil},
		{"one other byte", []byte{0x01}, 0, nil, ErrShort},
		{"empty", nil, 0, nil, ErrShort},
		{"IKE", []byte{0, 0, 0, 0, 1, 2, 3}, KindIKE, []byte{1, 2, 3}, nil},
		{"bare marker", []byte{0, 0, 0, 0}, KindIKE, []byte{}, nil},
		{"ESP", []byte{0, 0, 0x43, 0x21, 0, 0, 0, 1, 9}, KindESP, []byte{0, 0, 0x43, 0x21, 0, 0, 0, 1, 9}, nil},
		{"ESP too short", []byte{0, 0, 0x43, 0x21, 0, 0, 0}, 0, nil, ErrShort},
		{"marker with SPI 1", []byte{0, 0, 0, 1, 0, 0, 0, 1}, KindESP, []byte{0, 0, 0, 1, 0, 0, 0, 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, body, err := ClassifyUDPPayload(tt.payload)
			if k != tt.kind || err != tt.err || !bytes.Equal(body, tt.body) {
				t.Fatalf("= %v %x %v, want %v %x %v", k, body, err, tt.kind, tt.body, tt.err)
			}
		})
	}
}

func TestDecodeUDPEncap(t *testing.T) {
	esp := unhex(t, "00004321 00000001 aabbccdd")
	d := make([]byte, UDPHeaderLen+len(esp))
	copy(d[UDPHeaderLen:], esp)
	if err := EncodeUDPEncap(d, NATTPort, NATTPort); err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "11941194 00140000"); !bytes.Equal(d[:8], want) {
		t.Fatalf("UDP header %x, want %x", d[:8], want)
	}
	u := UDP(d)
	if u.SrcPort() != 4500 || u.DstPort() != 4500 || u.Length() != 20 || u.Checksum() != 0 {
		t.Fatal("getters")
	}
	k, body, err := DecodeUDPEncap(append(d, 0, 0)) // trailing bytes ignored
	if err != nil || k != KindESP || !bytes.Equal(body, esp) {
		t.Fatalf("= %v %x %v", k, body, err)
	}
	if _, _, err := DecodeUDPEncap(d[:7]); err != ErrShort {
		t.Fatalf("short: %v", err)
	}
	bad := append([]byte(nil), d...)
	UDP(bad).SetLength(21)
	if _, _, err := DecodeUDPEncap(bad); err != ErrMalformed {
		t.Fatalf("length beyond datagram: %v", err)
	}
	UDP(bad).SetLength(7)
	if _, _, err := DecodeUDPEncap(bad); err != ErrMalformed {
		t.Fatalf("length below header: %v", err)
	}
	if EncodeUDPEncap(make([]byte, 7), 1, 2) != ErrShort || EncodeUDPEncap(make([]byte, 65536), 1, 2) != ErrTooBig {
		t.Fatal("EncodeUDPEncap bounds")
	}
}

func TestSealTunnelUDP(t *testing.T) {
	out, in := pair(t, suiteCase{ipsec.CipherAESGCM128, ipsec.HashNone}, 0x1000, false)
	inner := innerPacket(64)
	pkt, err := out.SealTunnelUDP(nil, outerFields, 4500, 4500, inner)
	if err != nil {
		t.Fatal(err)
	}
	ip := IPv4(pkt)
	if !ip.IsValid() || ip.Protocol() != ProtocolUDP || ip.CalculateChecksum() != ip.Checksum() || int(ip.TotalLength()) != len(pkt) {
		t.Fatalf("outer header %x", pkt[:20])
	}
	kind, esp, err := DecodeUDPEncap(ip.Payload())
	if err != nil || kind != KindESP {
		t.Fatalf("decode: %v %v", kind, err)
	}
	if u := UDP(ip.Payload()); u.Checksum() != 0 || u.SrcPort() != 4500 {
		t.Fatal("UDP header")
	}
	got, nh, err := in.Open(esp)
	if err != nil || nh != ProtocolIPv4 || !bytes.Equal(got, inner) {
		t.Fatalf("Open: %v", err)
	}
	buf := make([]byte, 0, 2048)
	if n := testing.AllocsPerRun(50, func() { out.SealTunnelUDP(buf, outerFields, 4500, 4500, inner) }); n != 0 {
		t.Fatalf("allocs %v", n)
	}
}

func TestStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{Outbound.String(), "outbound"}, {Inbound.String(), "inbound"}, {Direction(9).String(), "Direction(9)"},
		{KindESP.String(), "esp"}, {KindIKE.String(), "ike"}, {KindKeepalive.String(), "keepalive"}, {Kind(0).String(), "Kind(0)"},
	} {
		if tt.got != tt.want {
			t.Errorf("%q, want %q", tt.got, tt.want)
		}
	}
}
