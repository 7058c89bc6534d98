package tuntest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/driver/tun"
)

var _ tun.Device = (*chTun)(nil)

func mustUDP(t *testing.T, src, dst string, payload string) []byte {
	t.Helper()
	p, err := UDP(netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst), []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestChannelTUNReadWriteRoundTrip(t *testing.T) {
	c := NewChannelTUN("fake0", 1420, 4)
	dev := c.TUN()
	if n, _ := dev.Name(); n != "fake0" {
		t.Errorf("Name = %q", n)
	}
	if m, _ := dev.MTU(); m != 1420 {
		t.Errorf("MTU = %d", m)
	}
	if b := dev.BatchSize(); b != 4 {
		t.Errorf("BatchSize = %d", b)
	}

	// Host -> tunnel: Inject, then one Read returns the queued batch.
	pkts := [][]byte{
		mustUDP(t, "10.0.0.1:1000", "10.0.0.2:53", "a"),
		mustUDP(t, "10.0.0.1:1001", "10.0.0.2:53", "bb"),
		mustUDP(t, "10.0.0.1:1002", "10.0.0.2:53", "ccc"),
	}
	for _, p := range pkts {
		if err := c.Inject(p); err != nil {
			t.Fatal(err)
		}
	}
	const offset = 8
	bufs := make([][]byte, 4)
	for i := range bufs {
		bufs[i] = make([]byte, offset+1500)
	}
	sizes := make([]int, 4)
	n, err := dev.Read(bufs, sizes, offset)
	if err != nil || n != 3 {
		t.Fatalf("Read = %d, %v; want 3, nil", n, err)
	}
	for i := 0; i < n; i++ {
		if got := bufs[i][offset : offset+sizes[i]]; !bytes.Equal(got, pkts[i]) {
			t.Errorf("packet %d = %x, want %x", i, got, pkts[i])
		}
	}

	// Tunnel -> host: Write copies, Next returns what was written.
	out := append(make([]byte, offset), pkts[0]...)
	if n, err := dev.Write([][]byte{out, out}, offset); n != 2 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	out[offset] = 0 // the device must have copied
	for i := 0; i < 2; i++ {
		got, err := c.Next(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pkts[0]) {
			t.Errorf("written packet %d = %x, want %x", i, got, pkts[0])
		}
	}
	if _, err := c.Next(10 * time.Millisecond); err == nil {
		t.Error("Next returned a packet that was never written")
	}
}

func TestChannelTUNBatchLimits(t *testing.T) {
	c := NewChannelTUN("fake0", 0, 2)
	if m, _ := c.TUN().MTU(); m != tun.DefaultMTU {
		t.Errorf("default MTU = %d", m)
	}
	for i := 0; i < 3; i++ {
		c.Inject([]byte{byte(i)})
	}
	bufs := [][]byte{make([]byte, 4), make([]byte, 4), make([]byte, 4)}
	sizes := make([]int, 3)
	if n, err := c.TUN().Read(bufs, sizes, 0); n != 2 || err != nil {
		t.Fatalf("Read = %d, %v; want BatchSize 2", n, err)
	}
	if n, err := c.TUN().Read(bufs[:1], sizes, 0); n != 1 || err != nil || bufs[0][0] != 2 {
		t.Fatalf("Read = %d, %v, %x; want the third packet", n, err, bufs[0][:1])
	}
	c.Inject(make([]byte, 5))
	if n, err := c.TUN().Read(bufs[:1], sizes, 0); n != 0 || !errors.Is(err, io.ErrShortBuffer) {
		t.Fatalf("Read into a short buffer = %d, %v; want io.ErrShortBuffer", n, err)
	}
	if n, err := c.TUN().Read(nil, nil, 0); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
}

func TestChannelTUNCloseUnblocks(t *testing.T) {
	c := NewChannelTUN("fake0", 0, 1)
	dev := c.TUN()
	done := make(chan error, 1)
	go func() {
		_, err := dev.Read([][]byte{make([]byte, 1500)}, []int{0}, 0)
		done <- err
	}()
	// A writer blocked on a full Inbound channel.
	for i := 0; i < cap(c.Inbound); i++ {
		dev.Write([][]byte{{1}}, 0)
	}
	wdone := make(chan error, 1)
	go func() {
		_, err := dev.Write([][]byte{{2}}, 0)
		wdone <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]chan error{"Read": done, "Write": wdone} {
		select {
		case err := <-ch:
			if !errors.Is(err, os.ErrClosed) {
				t.Errorf("%s after Close: %v, want os.ErrClosed", name, err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%s still blocked after Close", name)
		}
	}
	select {
	case <-c.Closed():
	default:
		t.Error("Closed not signalled")
	}
	if err := dev.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.Inject([]byte{1}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Inject after Close: %v", err)
	}
	c.Outbound <- []byte{1} // queued before the reader looks: still closed
	if _, err := dev.Read([][]byte{make([]byte, 4)}, []int{0}, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Read after Close with a queued packet: %v", err)
	}
}

// TestChecksumKnownAnswers uses the RFC 1071 section 3 example and the IPv4
// header example widely quoted for the header checksum (checksum 0xb861).
func TestChecksumKnownAnswers(t *testing.T) {
	rfc1071 := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Checksum(rfc1071, 0); got != ^uint16(0xddf2) {
		t.Errorf("RFC 1071 example: %#04x, want %#04x", got, ^uint16(0xddf2))
	}
	hdr := []byte{
		0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
	}
	if got := Checksum(hdr, 0); got != 0xb861 {
		t.Errorf("IPv4 header checksum = %#04x, want 0xb861", got)
	}
	if got := Checksum([]byte{0x12}, 0); got != ^uint16(0x1200) {
		t.Errorf("odd length: %#04x", got)
	}
}

// refChecksum is a second, deliberately naive RFC 1071 implementation:
// 16-bit one's complement addition with the carry folded at every step.
func refChecksum(parts ...[]byte) uint16 {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	var s uint16
	for i := 0; i < len(b); i += 2 {
		w := uint16(b[i])<<8 | uint16(b[i+1])
		r := uint32(s) + uint32(w)
		s = uint16(r) + uint16(r>>16)
	}
	return ^s
}

func TestBuilders(t *testing.T) {
	src, dst := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.168.7.9")
	icmp, err := ICMPEcho(src, dst, 0x1234, 7, []byte("ping"))
	if err != nil {
		t.Fatal(err)
	}
	reply, err := ICMPEchoReply(dst, src, 0x1234, 7, []byte("ping"))
	if err != nil {
		t.Fatal(err)
	}
	udp, err := UDP(netip.AddrPortFrom(src, 5000), netip.AddrPortFrom(dst, 53), []byte("query!"))
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := TCP(netip.AddrPortFrom(src, 40000), netip.AddrPortFrom(dst, 443), 1, 0, SYN, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		pkt   []byte
		proto uint8
		l4    int
		csum  int // offset of the transport checksum
	}{
		{"icmp", icmp, ProtoICMP, ICMPEchoLen + 4, 2},
		{"icmp-reply", reply, ProtoICMP, ICMPEchoLen + 4, 2},
		{"udp", udp, ProtoUDP, UDPSize + 6, 6},
		{"tcp", tcp, ProtoTCP, TCPMinSize + 1, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := IPv4(tt.pkt)
			if !h.IsValid() || !h.ChecksumValid() || !h.TransportChecksumValid() {
				t.Fatalf("valid=%v header csum=%v transport csum=%v", h.IsValid(), h.ChecksumValid(), h.TransportChecksumValid())
			}
			if h.HeaderLen() != IPv4MinSize || h.TotalLen() != len(tt.pkt) || len(h.Payload()) != tt.l4 ||
				h.Protocol() != tt.proto || h.TTL() != DefaultTTL {
				t.Errorf("header: hl %d tl %d payload %d proto %d ttl %d", h.HeaderLen(), h.TotalLen(), len(h.Payload()), h.Protocol(), h.TTL())
			}
			if tt.name != "icmp-reply" && (h.Src() != src || h.Dst() != dst) {
				t.Errorf("addresses %v -> %v", h.Src(), h.Dst())
			}
			// Cross-check the transport checksum with the naive version.
			p := append([]byte(nil), h.Payload()...)
			want := binary.BigEndian.Uint16(p[tt.csum:])
			p[tt.csum], p[tt.csum+1] = 0, 0
			var got uint16
			if tt.proto == ProtoICMP {
				got = refChecksum(p)
			} else {
				ps := make([]byte, 12)
				copy(ps, tt.pkt[12:20])
				ps[9] = tt.proto
				binary.BigEndian.PutUint16(ps[10:], uint16(len(p)))
				got = refChecksum(ps, p)
			}
			if got != want {
				t.Errorf("transport checksum %#04x, naive %#04x", want, got)
			}
			h.SetTTL(1)
			if h.TTL() != 1 || !h.ChecksumValid() {
				t.Error("SetTTL broke the header checksum")
			}
			h.SetFragment(3, true)
			if h.FragOffset() != 3 || !h.MoreFragments() || !h.ChecksumValid() {
				t.Error("SetFragment")
			}
		})
	}
	if IPv4(icmp[:19]).IsValid() {
		t.Error("19-byte header reported valid")
	}
	if _, err := UDP(netip.MustParseAddrPort("[::1]:1"), netip.MustParseAddrPort("10.0.0.1:1"), nil); !errors.Is(err, ErrNotIPv4) {
		t.Errorf("IPv6 source: %v", err)
	}
	if got := (SYN | ACK).String(); got != "SYN|ACK" {
		t.Errorf("flags String = %q", got)
	}
	if got := TCPFlags(0).String(); got != "none" {
		t.Errorf("flags String = %q", got)
	}
}
