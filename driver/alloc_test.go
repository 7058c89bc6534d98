package driver

import (
	"github.com/gonetsh/gonetsh/driver/internal/clocktest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/conn/conntest"
	"github.com/gonetsh/gonetsh/ipsec"
)

// unstartedPair returns two drivers whose routines do not run, for tests
// that call the per-packet functions directly.
func unstartedPair(t testing.TB) (a, b *node) {
	t.Helper()
	clk := clocktest.New()
	wa, wb := conntest.NewPair(1)
	a = newNode(t, "a", wa, clk, nil)
	b = newNode(t, "b", wb, clk, nil)
	wa.SetHook(nil)
	wb.SetHook(nil)
	t.Cleanup(func() {
		a.d.Close()
		b.d.Close()
	})
	return a, b
}

// arrival is a wire packet as the receiving driver sees it.
type arrival struct {
	data []byte
	ep   conn.Endpoint
}

// arrive turns a sent endpoint around, as a network would.
func arrive(data []byte, ep conn.Endpoint) arrival {
	if ep.Kind == conn.KindUDP {
		ep.Local, ep.Remote = ep.Remote, ep.Local
	}
	return arrival{append([]byte(nil), data...), ep}
}

// sealN protects pkt n times with a's outbound path.
func sealN(t testing.TB, a *Driver, pkt []byte, n int) []arrival {
	t.Helper()
	buf := make([]byte, bufSize)
	out := make([]arrival, 0, n)
	for range n {
		copy(buf[headroom:], pkt)
		w, ep, ok := a.outbound(buf, len(pkt))
		require.True(t, ok)
		out = append(out, arrive(w, ep))
	}
	return out
}

const allocRuns = 100

// TestOutboundAllocs: classifying and sealing a packet read from the TUN
// device does not allocate, in every suite, and neither do the clear and
// block paths.
func TestOutboundAllocs(t *testing.T) {
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			a, b := unstartedPair(t)
			s.setup(t, a, b)
			pkt := echo(t, false, s.topo.aHost, s.topo.bHost, 1, 1372)
			buf := make([]byte, bufSize)
			n := testing.AllocsPerRun(allocRuns, func() {
				copy(buf[headroom:], pkt)
				if _, _, ok := a.d.outbound(buf, len(pkt)); !ok {
					t.Fatal("packet dropped")
				}
			})
			require.Zero(t, n)
		})
	}
	t.Run("permit and block", func(t *testing.T) {
		a, _ := unstartedPair(t)
		a.policy(t, append(mirrored(2, ipsec.ActionBlock, host(hostA), host(hostBlocked), ipsec.ProtoAny),
			mirrored(3, ipsec.ActionPermit, host(hostA), host(hostPermitted), ipsec.ProtoAny)...)...)
		permit := echo(t, false, hostA, hostPermitted, 1, 100)
		block := echo(t, false, hostA, hostBlocked, 1, 100)
		buf := make([]byte, bufSize)
		n := testing.AllocsPerRun(allocRuns, func() {
			copy(buf[headroom:], permit)
			if _, _, ok := a.d.outbound(buf, len(permit)); !ok {
				t.Fatal("permitted packet dropped")
			}
			copy(buf[headroom:], block)
			if _, _, ok := a.d.outbound(buf, len(block)); ok {
				t.Fatal("blocked packet sent")
			}
		})
		require.Zero(t, n)
	})
}

// TestInboundAllocs: opening and checking a wire packet does not
// allocate, in every suite, nor does dropping a replay.
func TestInboundAllocs(t *testing.T) {
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			a, b := unstartedPair(t)
			s.setup(t, a, b)
			pkt := echo(t, false, s.topo.aHost, s.topo.bHost, 1, 1372)
			wire := sealN(t, a.d, pkt, allocRuns+1)
			buf := make([]byte, bufSize)
			i := 0
			n := testing.AllocsPerRun(allocRuns, func() {
				w := wire[i]
				i++
				m := copy(buf, w.data)
				plain, ok := b.d.inbound(buf[:m], &w.ep)
				if !ok || len(plain) != len(pkt) {
					t.Fatal("packet dropped")
				}
			})
			require.Zero(t, n)

			n = testing.AllocsPerRun(allocRuns, func() {
				w := wire[0]
				m := copy(buf, w.data)
				if _, ok := b.d.inbound(buf[:m], &w.ep); ok {
					t.Fatal("replay accepted")
				}
			})
			require.Zero(t, n)
			require.Equal(t, uint64(allocRuns+1), b.d.Stats().PacketsWithReplayDetection)
		})
	}
}
