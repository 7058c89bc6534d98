package driver

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/conn/conntest"
)

// keepalives returns the NAT keepalives among pkts.
func keepalives(pkts []conntest.Packet) []conntest.Packet {
	var out []conntest.Packet
	for _, p := range pkts {
		if p.Endpoint.Kind == conn.KindUDP && len(p.Data) == 1 && p.Data[0] == keepaliveByte {
			out = append(out, p)
		}
	}
	return out
}

// TestKeepalives: every KeepaliveInterval on the injected clock, A sends
// one 0xFF datagram from its SA's local port to the peer of its
// UDP-encapsulated outbound SA, and none for SAs without encapsulation;
// B counts and discards them without touching an error counter or its
// TUN device.
func TestKeepalives(t *testing.T) {
	s := suiteByName(t, "AES-GCM-128 UDP transport")
	a, b, clk := newPair(t, nil)
	s.setup(t, a, b)
	plain := suiteByName(t, "3DES-SHA1 ESP transport")
	other := plain.abOut()
	other.SPI, other.Dst = 0x3001, netip.MustParseAddr("10.0.0.9")
	require.NoError(t, a.d.AddSA(other, plain.params(hostA, 7, 0x3001)))

	clk.Advance(time.Second) // the first tick starts the schedule
	time.Sleep(10 * a.d.tick)
	require.Empty(t, keepalives(a.sent.Packets()), "a keepalive before the interval")

	for i := uint64(1); i <= 2; i++ {
		clk.Advance(DefaultKeepaliveInterval)
		a.stat(t, "KeepalivesSent", func(s Stats) uint64 { return s.KeepalivesSent }, i)
		b.stat(t, "KeepalivesReceived", func(s Stats) uint64 { return s.KeepalivesReceived }, i)
		// B's own SA to A is encapsulated too.
		b.stat(t, "KeepalivesSent", func(s Stats) uint64 { return s.KeepalivesSent }, i)
	}
	clk.Advance(DefaultKeepaliveInterval / 2)
	time.Sleep(10 * a.d.tick)
	require.Equal(t, uint64(2), a.d.Stats().KeepalivesSent, "a keepalive before the interval")

	ka := keepalives(a.sent.Packets())
	require.Len(t, ka, 2, "one per interval, none for the SA without encapsulation")
	for _, p := range ka { // as B sees it
		require.Equal(t, netip.AddrPortFrom(hostB, conn.NATTPort), p.Endpoint.Local, "to the peer's NAT-T port")
		require.Equal(t, netip.AddrPortFrom(hostA, conn.NATTPort), p.Endpoint.Remote, "from the SA's local port")
	}
	b.nothing(t)
	sb := b.d.Stats()
	require.Zero(t, sb.MalformedPackets+sb.BadSPIPackets+sb.PacketsNotDecrypted+sb.PacketsNotAuthenticated+sb.IKEReceived,
		"keepalives counted as errors or IKE")
	require.Zero(t, sb.ProtectedPacketsReceived)
}

// TestKeepalivesDisabled: a negative KeepaliveInterval sends none.
func TestKeepalivesDisabled(t *testing.T) {
	s := suiteByName(t, "AES-GCM-128 UDP transport")
	a, b, clk := newPair(t, func(c *Config) { c.KeepaliveInterval = -1 })
	s.setup(t, a, b)
	for range 3 {
		clk.Advance(DefaultKeepaliveInterval)
		time.Sleep(10 * a.d.tick)
	}
	require.Zero(t, a.d.Stats().KeepalivesSent)
	require.Empty(t, keepalives(a.sent.Packets()))
}
