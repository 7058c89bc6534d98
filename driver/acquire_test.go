package driver

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

var hostC = netip.MustParseAddr("10.0.0.5")

// acquirePolicy: A negotiates with B (entry 1) and with C (entry 7).
func acquirePolicy(t *testing.T, a, b *node) {
	t.Helper()
	a.policy(t, append(hosts.aSPD, mirrored(7, ipsec.ActionNegotiate, host(hostA), host(hostC), ipsec.ProtoAny)...)...)
	b.policy(t, hosts.bSPD...)
}

// TestAcquireOncePerFlowThenDeliver: packets without an SA raise one
// Acquire per entry, wait, and leave in order when the SA is added.
func TestAcquireOncePerFlowThenDeliver(t *testing.T) {
	s := suiteByName(t, "AES-GCM-128 UDP transport")
	a, b, _ := newPair(t, nil)
	acquirePolicy(t, a, b)

	var reqs [][]byte
	for i := range 3 {
		reqs = append(reqs, echo(t, false, hostA, hostB, uint16(i), 48))
		a.send(t, reqs[i])
	}
	acq := a.acquire(t)
	require.Equal(t, uint64(1), acq.Entry.ID)
	require.Equal(t, ipsec.ActionNegotiate, acq.Entry.Action)
	require.Equal(t, sadb.Outbound, acq.Entry.Selector.Dir)
	require.Equal(t, hostA, acq.Fields.Src)
	require.Equal(t, hostB, acq.Fields.Dst)
	require.Equal(t, ipsec.ProtoICMP, acq.Fields.Protocol)

	// Another entry, another acquire; the same entry, none.
	a.send(t, echo(t, false, hostA, hostC, 1, 48))
	require.Equal(t, uint64(7), a.acquire(t).Entry.ID)
	a.noAcquire(t)
	require.Empty(t, a.sent.Packets(), "held packets do not leave")
	b.nothing(t)

	// The engine installs the SAs: the held packets follow.
	s.installAB(t, a.d, b.d, sadb.Lifetime{}, sadb.Lifetime{})
	for _, r := range reqs {
		require.Equal(t, r, b.recv(t))
	}
	st := a.d.Stats()
	require.Equal(t, uint64(2), st.Acquires)
	require.Equal(t, uint64(3), st.ProtectedPacketsSent)
	require.Zero(t, st.AcquireQueueDrops)
	a.held(t, 1) // entry 7's packet

	// With the SA in place, packets go straight through.
	r := echo(t, false, hostA, hostB, 9, 48)
	a.send(t, r)
	require.Equal(t, r, b.recv(t))
	a.noAcquire(t)
}

// TestAcquireQueueOverflow: beyond QueueLen per entry, or MaxQueued in
// total, packets are dropped and counted.
func TestAcquireQueueOverflow(t *testing.T) {
	s := suiteByName(t, "3DES-SHA1 ESP transport")
	a, b, _ := newPair(t, func(c *Config) { c.QueueLen, c.MaxQueued = 4, 6 })
	acquirePolicy(t, a, b)

	var reqs [][]byte
	for i := range 6 {
		reqs = append(reqs, echo(t, false, hostA, hostB, uint16(i), 48))
		a.send(t, reqs[i])
	}
	a.acquire(t)
	a.stat(t, "AcquireQueueDrops", func(s Stats) uint64 { return s.AcquireQueueDrops }, 2)
	// Entry 7 gets what is left of MaxQueued: 2 of 3.
	for i := range 3 {
		a.send(t, echo(t, false, hostA, hostC, uint16(i), 48))
	}
	a.acquire(t)
	a.stat(t, "AcquireQueueDrops", func(s Stats) uint64 { return s.AcquireQueueDrops }, 3)
	a.held(t, 6)

	s.installAB(t, a.d, b.d, sadb.Lifetime{}, sadb.Lifetime{})
	for _, r := range reqs[:4] {
		require.Equal(t, r, b.recv(t))
	}
	b.nothing(t)
	a.held(t, 2)
}

// TestAcquireTimeout: held packets are dropped and counted after
// AcquireTimeout on the injected clock; the next packet asks again.
func TestAcquireTimeout(t *testing.T) {
	a, b, clk := newPair(t, func(c *Config) { c.AcquireTimeout = 10 * time.Second })
	acquirePolicy(t, a, b)
	a.send(t, echo(t, false, hostA, hostB, 1, 48))
	a.send(t, echo(t, false, hostA, hostB, 2, 48))
	a.acquire(t)
	a.held(t, 2)

	clk.Advance(9 * time.Second)
	a.nothing(t) // several housekeeping ticks
	require.Zero(t, a.d.Stats().AcquireTimeoutDrops)

	clk.Advance(time.Second)
	a.stat(t, "AcquireTimeoutDrops", func(s Stats) uint64 { return s.AcquireTimeoutDrops }, 2)
	a.held(t, 0)

	a.send(t, echo(t, false, hostA, hostB, 3, 48))
	require.Equal(t, uint64(1), a.acquire(t).Entry.ID)
	require.Equal(t, uint64(2), a.d.Stats().Acquires)
}

// TestFailAcquire: a failed negotiation drops the held packets; with
// soft=yes the engine installs a permit first and later packets leave in
// clear.
func TestFailAcquire(t *testing.T) {
	a, b, _ := newPair(t, nil)
	acquirePolicy(t, a, b)
	a.send(t, echo(t, false, hostA, hostB, 1, 48))
	a.send(t, echo(t, false, hostA, hostB, 2, 48))
	a.acquire(t)
	a.held(t, 2)

	// Both engines fall back to clear (B's side of soft=yes).
	a.policy(t, mirrored(1, ipsec.ActionPermit, host(hostA), host(hostB), ipsec.ProtoAny)...)
	b.policy(t, mirrored(1, ipsec.ActionPermit, host(hostB), host(hostA), ipsec.ProtoAny)...)
	a.d.FailAcquire(1)
	a.d.FailAcquire(1) // nothing left
	require.Equal(t, uint64(2), a.d.Stats().AcquireTimeoutDrops)
	require.Zero(t, a.d.pool.Outstanding())

	p := echo(t, false, hostA, hostB, 3, 48)
	a.send(t, p)
	require.Equal(t, p, b.recv(t))
	a.noAcquire(t)
}

// TestReacquire: held packets move to the narrowed entry, leave with its
// SA, and the generic entry raises acquires again.
func TestReacquire(t *testing.T) {
	s := suiteByName(t, "AES-GCM-128 UDP transport")
	a, b, _ := newPair(t, nil)
	b.policy(t, s.topo.bSPD...)
	require.NoError(t, b.d.AddSA(s.abIn(), s.params(netip.Addr{}, s.topo.bIn, spiAB)))
	in := mirrored(1, ipsec.ActionNegotiate, host(hostA), host(hostB), ipsec.ProtoAny)[1]
	generic := sadb.Entry{ID: 50, Action: ipsec.ActionNegotiate,
		Selector: sadb.Selector{Dir: sadb.Outbound, Src: host(hostA), Dst: netip.MustParsePrefix("0.0.0.0/0")}}
	peer := sadb.Entry{ID: 51, Action: ipsec.ActionNegotiate,
		Selector: sadb.Selector{Dir: sadb.Outbound, Src: host(hostA), Dst: host(hostB)}}
	a.policy(t, generic, in)
	first := echo(t, false, hostA, hostB, 1, 64)
	a.send(t, first)
	require.Equal(t, uint64(50), a.acquire(t).Entry.ID)

	a.policy(t, generic, peer, in)
	a.d.Reacquire(50, 51)
	second := echo(t, false, hostA, hostB, 2, 64)
	a.send(t, second) // matches the peer entry, which waits: queued, no acquire
	a.held(t, 2)
	a.noAcquire(t)
	// Another peer under the generic entry raises its own acquire.
	a.send(t, echo(t, false, hostA, netip.MustParseAddr("10.0.0.9"), 3, 64))
	require.Equal(t, uint64(50), a.acquire(t).Entry.ID)

	require.NoError(t, a.d.AddSA(s.abOut(), s.params(s.topo.aEnd, 51, spiAB)))
	require.Equal(t, first, b.recv(t))
	require.Equal(t, second, b.recv(t))
}
