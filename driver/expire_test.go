package driver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/esp"
	"github.com/gonetsh/gonetsh/driver/sadb"
)

// TestHardByteExpiry: the packet that would take an SA past its hard byte
// limit is dropped, the SA removed and wiped and the event raised; the
// next packet asks for a new SA. The soft limit only reports.
func TestHardByteExpiry(t *testing.T) {
	s := suiteByName(t, "AES-GCM-128 UDP transport")
	a, b, _ := newPair(t, nil)
	a.policy(t, hosts.aSPD...)
	b.policy(t, hosts.bSPD...)
	// Each echo protects 100 bytes (ICMP header and 92 bytes).
	s.installAB(t, a.d, b.d, sadb.Lifetime{Bytes: 150}, sadb.Lifetime{Bytes: 250})
	x := a.d.sas.byID[s.abOut()]

	for i := range 2 {
		p := echo(t, false, hostA, hostB, uint16(i), 92)
		a.send(t, p)
		require.Equal(t, p, b.recv(t))
	}
	ev := a.event(t)
	require.Equal(t, sadb.EventSoft, ev.Kind)
	require.Equal(t, sadb.CauseBytes, ev.Cause)
	require.Equal(t, s.abOut(), ev.ID)

	a.send(t, echo(t, false, hostA, hostB, 2, 92))
	ev = a.event(t)
	require.Equal(t, sadb.EventHard, ev.Kind)
	require.Equal(t, sadb.CauseBytes, ev.Cause)
	require.Equal(t, uint64(1), ev.Ref)
	b.nothing(t)
	require.Equal(t, uint64(1), a.d.Stats().ExpiredSADrops)
	_, found := a.d.sad.Get(s.abOut())
	require.False(t, found)
	_, err := x.esp.Seal(nil, []byte{1}, 1)
	require.ErrorIs(t, err, esp.ErrWiped, "the keys of an expired SA are wiped")

	a.send(t, echo(t, false, hostA, hostB, 3, 92))
	require.Equal(t, uint64(1), a.acquire(t).Entry.ID)
	b.nothing(t)
}

// TestHardTimeExpiry: SA time lifetimes run on the injected clock, applied
// by the housekeeping routine.
func TestHardTimeExpiry(t *testing.T) {
	s := suiteByName(t, "3DES-SHA1 ESP transport")
	a, b, clk := newPair(t, nil)
	a.policy(t, hosts.aSPD...)
	b.policy(t, hosts.bSPD...)
	require.NoError(t, a.d.AddSA(s.abOut(), s.params(hostA, 1, spiAB)))
	in := s.params(hostB, 1, spiAB)
	in.Soft, in.Hard = sadb.Lifetime{Time: 5 * time.Second}, sadb.Lifetime{Time: 10 * time.Second}
	require.NoError(t, b.d.AddSA(s.abIn(), in))

	clk.Advance(6 * time.Second)
	require.Equal(t, sadb.EventSoft, b.event(t).Kind)
	p := echo(t, false, hostA, hostB, 1, 32)
	a.send(t, p)
	require.Equal(t, p, b.recv(t))

	clk.Advance(5 * time.Second)
	ev := b.event(t)
	require.Equal(t, sadb.EventHard, ev.Kind)
	require.Equal(t, sadb.CauseTime, ev.Cause)
	a.send(t, echo(t, false, hostA, hostB, 2, 32))
	b.stat(t, "BadSPIPackets", func(s Stats) uint64 { return s.BadSPIPackets }, 1)
	b.nothing(t)
}
