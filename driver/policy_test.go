package driver

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/conn/conntest"
	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

var (
	hostBlocked   = netip.MustParseAddr("10.0.0.3")
	hostPermitted = netip.MustParseAddr("10.0.0.4")
)

// clearFrom delivers pkt to n as if it arrived in clear from the network.
func (n *node) clearFrom(t *testing.T, pkt []byte) {
	t.Helper()
	require.NoError(t, n.wire.Inject(conntest.Packet{Data: append([]byte(nil), pkt...), Endpoint: conn.Endpoint{Kind: conn.KindIP}}))
}

// TestBlockAndPermit: block entries drop both ways and count; permit
// entries and unmatched traffic pass in clear, byte for byte.
func TestBlockAndPermit(t *testing.T) {
	a, b, _ := newPair(t, nil)
	spd := append([]sadb.Entry(nil), hosts.aSPD...)
	spd = append(spd, mirrored(2, ipsec.ActionBlock, host(hostA), host(hostBlocked), ipsec.ProtoAny)...)
	spd = append(spd, mirrored(3, ipsec.ActionPermit, host(hostA), host(hostPermitted), ipsec.ProtoAny)...)
	a.policy(t, spd...)

	// Block, outbound: nothing reaches the wire.
	a.send(t, echo(t, false, hostA, hostBlocked, 1, 32))
	a.stat(t, "BlockedOutbound", func(s Stats) uint64 { return s.BlockedOutbound }, 1)
	require.Empty(t, a.sent.Packets())
	// Block, inbound.
	a.clearFrom(t, echo(t, false, hostBlocked, hostA, 1, 32))
	a.stat(t, "BlockedInbound", func(s Stats) uint64 { return s.BlockedInbound }, 1)
	a.nothing(t)

	// Permit: in clear on the wire, delivered by B (no policy: permit).
	p := echo(t, false, hostA, hostPermitted, 1, 32)
	a.send(t, p)
	require.Equal(t, p, b.recv(t))
	sent := a.sent.Packets()
	require.Len(t, sent, 1)
	require.Equal(t, conntest.Packet{Data: p, Endpoint: conn.Endpoint{Kind: conn.KindIP}}, sent[0])
	r := echo(t, true, hostPermitted, hostA, 1, 32)
	a.clearFrom(t, r)
	require.Equal(t, r, a.recv(t))

	// Unmatched traffic is permitted as well.
	u := udp(t, "10.0.0.1:1000", "10.7.7.7:53", "q")
	a.send(t, u)
	require.Equal(t, u, b.recv(t))

	st := a.d.Stats()
	require.Equal(t, uint64(2), st.ClearPacketsSent)
	require.Equal(t, uint64(1), st.ClearPacketsReceived)
	require.Equal(t, uint64(0), st.Acquires)
}

// TestClearFromNegotiatePeer: a cleartext packet from a peer a negotiate
// entry covers is dropped, unless the entry has InPass; then the reply
// triggers the negotiation (reference section 10).
func TestClearFromNegotiatePeer(t *testing.T) {
	for _, inpass := range []bool{false, true} {
		t.Run(map[bool]string{false: "require", true: "inpass"}[inpass], func(t *testing.T) {
			a, _, _ := newPair(t, nil)
			spd := mirrored(1, ipsec.ActionNegotiate, host(hostA), host(hostB), ipsec.ProtoAny)
			for i := range spd {
				spd[i].InPass = inpass
			}
			a.policy(t, spd...)
			req := echo(t, false, hostB, hostA, 1, 32)
			a.clearFrom(t, req)
			if !inpass {
				a.stat(t, "ClearNegotiateDrops", func(s Stats) uint64 { return s.ClearNegotiateDrops }, 1)
				a.nothing(t)
				return
			}
			require.Equal(t, req, a.recv(t))
			require.Equal(t, uint64(1), a.d.Stats().InPassAccepted)
			// The answer is secured: it waits for an SA.
			a.send(t, echo(t, true, hostA, hostB, 1, 32))
			require.Equal(t, uint64(1), a.acquire(t).Entry.ID)
			require.Empty(t, a.sent.Packets())
		})
	}
}

// TestExemptions: IKE (UDP 500 and 4500) passes in clear at every
// ipsecexempt level even under a block-all policy, ICMP does not, and
// multicast passes at levels 0 and 1 only (reference section 4.5).
func TestExemptions(t *testing.T) {
	anyNet := netip.MustParsePrefix("0.0.0.0/0")
	for _, level := range []sadb.ExemptLevel{sadb.ExemptAll, sadb.ExemptMulticastIKE, sadb.ExemptKerberosIKE, sadb.ExemptIKEOnly} {
		t.Run(level.String(), func(t *testing.T) {
			a, b, _ := newPair(t, nil)
			for _, n := range []*node{a, b} {
				n.policy(t, mirrored(1, ipsec.ActionBlock, anyNet, anyNet, ipsec.ProtoAny)...)
				n.d.SetExemptions(level, []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")})
			}
			for _, p := range [][]byte{
				udp(t, "10.0.0.1:500", "10.0.0.2:500", "isakmp"),
				udp(t, "10.0.0.1:4500", "10.0.0.2:4500", "\x00\x00\x00\x00isakmp"),
				udp(t, "10.0.0.1:51000", "10.0.0.2:500", "isakmp from a high port"),
			} {
				a.send(t, p)
				require.Equal(t, p, b.recv(t), "IKE out of A and into B")
				a.clearFrom(t, p)
				require.Equal(t, p, a.recv(t), "IKE into A")
			}

			a.send(t, echo(t, false, hostA, hostB, 1, 32))
			a.stat(t, "BlockedOutbound", func(s Stats) uint64 { return s.BlockedOutbound }, 1)
			a.clearFrom(t, echo(t, false, hostB, hostA, 1, 32))
			a.stat(t, "BlockedInbound", func(s Stats) uint64 { return s.BlockedInbound }, 1)

			mcast := udp(t, "10.0.0.1:5353", "224.0.0.251:5353", "mdns")
			bcast := udp(t, "10.0.0.1:137", "10.0.0.255:137", "netbios")
			for _, p := range [][]byte{mcast, bcast} {
				a.send(t, p)
				if level == sadb.ExemptAll || level == sadb.ExemptMulticastIKE {
					require.Equal(t, p, b.recv(t))
				} else {
					b.nothing(t)
				}
			}
		})
	}
}

// TestExemptBeatsNegotiate: IKE to a peer under a negotiate entry goes
// out in clear and raises no acquire; ICMP to it does not.
func TestExemptBeatsNegotiate(t *testing.T) {
	a, b, _ := newPair(t, nil)
	a.policy(t, hosts.aSPD...)
	b.policy(t, hosts.bSPD...)
	ike := udp(t, "10.0.0.1:500", "10.0.0.2:500", "sa")
	a.send(t, ike)
	require.Equal(t, ike, b.recv(t))
	a.noAcquire(t)

	a.send(t, echo(t, false, hostA, hostB, 1, 32))
	a.acquire(t)
	b.nothing(t)
}
