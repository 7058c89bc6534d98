//go:build linux

package driver

// The default exemptions (ipsecexempt, reference section 4.5) in the
// kernel: B runs a driver with an nftables enforcer and a Require Security
// policy (negotiate, no InPass) for all traffic with A; A sends cleartext.
//
//	A 10.95.<n>.1 == veth == 10.95.<n>.2 B (driver, nft table gonetsh)

import (
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/internal/netnstest"
	"github.com/gonetsh/gonetsh/ipsec"
)

// TestNetnsExemptions checks, for each ipsecexempt level 0-3, what of A's
// cleartext reaches B under Require Security: IKE (UDP 500, and UDP 4500
// with the Non-ESP Marker, which B's driver takes as IKE) at every level;
// Kerberos (UDP and TCP 88) and RSVP (IP protocol 46) at levels 0 and 2
// only; any other UDP never, while it passes once the policy is gone.
func TestNetnsExemptions(t *testing.T) {
	netnstest.RequireRoot(t)
	before := runtime.NumGoroutine()
	t.Run("lab", func(t *testing.T) {
		nsA, nsB, wireA, wireB, b := enforcedPair(t, 95)
		policy(t, b.d, mirrored(1, ipsec.ActionNegotiate, host(wireB), host(wireA), ipsec.ProtoAny)...)

		ike := listenUDP(t, nsB, netip.AddrPortFrom(wireB, 500))
		kerberosUDP := listenUDP(t, nsB, netip.AddrPortFrom(wireB, 88))
		other := listenUDP(t, nsB, netip.AddrPortFrom(wireB, 0))
		kerberosTCP := listenTCPOn(t, nsB, netip.AddrPortFrom(wireB, 88))
		rsvp := listenRaw(t, nsB, wireB, 46)

		for _, level := range []sadb.ExemptLevel{sadb.ExemptAll, sadb.ExemptMulticastIKE, sadb.ExemptKerberosIKE, sadb.ExemptIKEOnly} {
			start := time.Now()
			require.NoError(t, b.d.SetExemptions(level, nil))
			kerberos := level == sadb.ExemptAll || level == sadb.ExemptKerberosIKE
			msg := "level-" + level.String()

			sendUDP(t, nsA, wireA, ike, msg)
			require.True(t, receivedUDP(t, ike, msg, netnsWait), "IKE on 500 at level %v", level)

			ikeBefore := b.d.Stats().IKEReceived
			sendUDPTo(t, nsA, wireA, netip.AddrPortFrom(wireB, 4500), append(make([]byte, nonESPMarkerLen), msg...))
			deadline := time.Now().Add(netnsWait)
			for b.d.Stats().IKEReceived == ikeBefore {
				require.True(t, time.Now().Before(deadline), "IKE on 4500 at level %v", level)
				time.Sleep(time.Millisecond)
			}

			wait := dropWait
			if kerberos {
				wait = netnsWait
			}
			sendUDP(t, nsA, wireA, kerberosUDP, msg)
			require.Equal(t, kerberos, receivedUDP(t, kerberosUDP, msg, wait), "Kerberos UDP at level %v", level)
			require.Equal(t, kerberos, dialTCP(nsA, wireA, kerberosTCP, wait) == nil, "Kerberos TCP at level %v", level)
			sendRaw(t, nsA, wireA, wireB, 46, msg)
			require.Equal(t, kerberos, receivedRaw(t, rsvp, msg, wait), "RSVP at level %v", level)

			sendUDP(t, nsA, wireA, other, msg)
			require.False(t, receivedUDP(t, other, msg, dropWait), "other cleartext UDP at level %v", level)
			t.Logf("level %v: %v", level, time.Since(start).Round(time.Millisecond))
		}

		// The control: without the policy the same UDP gets through.
		policy(t, b.d)
		sendUDP(t, nsA, wireA, other, "no policy")
		require.True(t, receivedUDP(t, other, "no policy", netnsWait), "UDP without a policy")
	})
	goroutines(t, before)
}

// listenRaw opens a raw IPv4 socket for protocol proto on addr in ns;
// t.Cleanup closes it.
func listenRaw(t *testing.T, ns *netnstest.NS, addr netip.Addr, proto int) *net.IPConn {
	t.Helper()
	var c *net.IPConn
	require.NoError(t, ns.Do(func() error {
		pc, err := net.ListenIP("ip4:"+strconv.Itoa(proto), &net.IPAddr{IP: addr.AsSlice()})
		c = pc
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return c
}

// sendRaw sends msg as the payload of an IPv4 packet of protocol proto
// from src in ns to dst.
func sendRaw(t *testing.T, ns *netnstest.NS, src, dst netip.Addr, proto int, msg string) {
	t.Helper()
	require.NoError(t, ns.Do(func() error {
		c, err := net.ListenIP("ip4:"+strconv.Itoa(proto), &net.IPAddr{IP: src.AsSlice()})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.WriteToIP([]byte(msg), &net.IPAddr{IP: dst.AsSlice()})
		return err
	}))
}

// receivedRaw reports whether a packet whose payload is msg arrives at c
// within wait.
func receivedRaw(t *testing.T, c *net.IPConn, msg string, wait time.Duration) bool {
	t.Helper()
	return received(t, c, func(b []byte) (int, error) {
		n, _, err := c.ReadFromIP(b) // the IPv4 header stripped (Read keeps it)
		return n, err
	}, msg, wait)
}
