//go:build linux

package netnstest

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// netnsLink returns the network namespace of the calling thread, as the
// link /proc shows ("net:[4026531840]").
func netnsLink() (string, error) { return os.Readlink("/proc/thread-self/ns/net") }

// TestDo: fn runs in the namespace, errors come back, and no thread of
// the pool is left in the namespace afterwards.
func TestDo(t *testing.T) {
	RequireRoot(t)
	own, err := netnsLink()
	require.NoError(t, err)
	ns := New(t, "x")

	var inside string
	require.NoError(t, ns.Do(func() error {
		var err error
		inside, err = netnsLink()
		return err
	}))
	require.NotEqual(t, own, inside)

	boom := errors.New("boom")
	require.ErrorIs(t, ns.Do(func() error { return boom }), boom)
	require.ErrorIs(t, ns.Do(func() error { runtime.Goexit(); return nil }), errGoexit)
	require.Error(t, Do("gn-no-such-namespace", func() error { return nil }))

	// Every thread the runtime hands out is back in the process's own
	// namespace (all threads run goroutines here, many at once).
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if l, err := netnsLink(); err != nil || l != own {
				errs <- errors.Join(err, errors.New("thread in namespace "+l))
			}
			time.Sleep(time.Millisecond) // hold the thread so others are used
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestVethCapture: a datagram from one namespace to the other crosses the
// veth, and the capture on the receiving end sees it coming in and the
// answer going out.
func TestVethCapture(t *testing.T) {
	RequireRoot(t)
	a, b := New(t, "x"), New(t, "y")
	Veth(t, a, "va", b, "vb")
	a.IP(t, "addr", "add", "10.98.0.1/24", "dev", "va")
	b.IP(t, "addr", "add", "10.98.0.2/24", "dev", "vb")
	a.WaitRunning(t, "va", 5*time.Second)
	b.WaitRunning(t, "vb", 5*time.Second)
	c := b.Capture(t, "vb")

	var srv *net.UDPConn
	require.NoError(t, b.Do(func() error {
		var err error
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 98, 0, 2), Port: 7})
		return err
	}))
	defer srv.Close()
	var cli *net.UDPConn
	require.NoError(t, a.Do(func() error {
		var err error
		cli, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 98, 0, 2), Port: 7})
		return err
	}))
	defer cli.Close()

	_, err := cli.Write([]byte("ping-netnstest"))
	require.NoError(t, err)
	require.NoError(t, srv.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 64)
	n, from, err := srv.ReadFromUDPAddrPort(buf)
	require.NoError(t, err)
	require.Equal(t, "ping-netnstest", string(buf[:n]))
	require.Equal(t, netip.MustParseAddr("10.98.0.1"), from.Addr())
	_, err = srv.WriteToUDPAddrPort([]byte("pong-netnstest"), from)
	require.NoError(t, err)

	seen := func(outgoing bool, payload string) bool {
		for _, p := range c.Packets() {
			if p.Outgoing == outgoing && bytes.HasSuffix(p.Data, []byte(payload)) {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(5 * time.Second)
	for !seen(false, "ping-netnstest") || !seen(true, "pong-netnstest") {
		require.True(t, time.Now().Before(deadline), "capture missed the exchange: %d packets", len(c.Packets()))
		time.Sleep(time.Millisecond)
	}
	drops, err := c.Drops()
	require.NoError(t, err)
	require.Zero(t, drops)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close twice")
}
