package conntest

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/conn"
)

// recv calls fn once with batch buffers of size bufLen and returns what it
// received, failing the test if it blocks for more than a second.
func recv(t *testing.T, fn conn.ReceiveFunc, batch, bufLen int) ([]Packet, error) {
	t.Helper()
	type result struct {
		pkts []Packet
		err  error
	}
	done := make(chan result, 1)
	go func() {
		bufs := make([][]byte, batch)
		for i := range bufs {
			bufs[i] = make([]byte, bufLen)
		}
		sizes := make([]int, batch)
		eps := make([]conn.Endpoint, batch)
		n, err := fn(bufs, sizes, eps)
		var out []Packet
		for i := range n {
			out = append(out, Packet{Data: bufs[i][:sizes[i]], Endpoint: eps[i]})
		}
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		return r.pkts, r.err
	case <-time.After(time.Second):
		t.Fatal("receive blocked")
		return nil, nil
	}
}

func open(t *testing.T, w *Wire) conn.ReceiveFunc {
	t.Helper()
	fns, err := w.Open()
	require.NoError(t, err)
	require.Len(t, fns, 1)
	return fns[0]
}

var (
	addrA = netip.MustParseAddrPort("192.0.2.1:4500")
	addrB = netip.MustParseAddrPort("198.51.100.7:31000")
)

func TestPairDeliversBothKinds(t *testing.T) {
	a, b := NewPair(4)
	defer a.Close()
	defer b.Close()
	ra, rb := open(t, a), open(t, b)

	ip := []byte{0x45, 0, 0, 20}
	esp := []byte{0, 0, 0x10, 0x01, 0, 0, 0, 1}
	n, err := a.Send([][]byte{ip, esp}, []conn.Endpoint{
		{Kind: conn.KindIP, Local: addrA}, // addresses of an IP packet are dropped
		{Kind: conn.KindUDP, Local: netip.AddrPortFrom(addrA.Addr(), 0), Remote: addrB, TOS: 0x10, TTL: 7},
	})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	ip[0] = 0 // the sender keeps its buffers

	got, err := recv(t, rb, 4, 64)
	require.NoError(t, err)
	require.Equal(t, []Packet{
		{Data: []byte{0x45, 0, 0, 20}, Endpoint: conn.Endpoint{Kind: conn.KindIP}},
		{Data: esp, Endpoint: conn.Endpoint{Kind: conn.KindUDP, Local: addrB, Remote: addrA, TOS: 0x10, TTL: 7}},
	}, got)

	_, err = b.Send([][]byte{{1}}, []conn.Endpoint{{Kind: conn.KindUDP, Local: addrB, Remote: addrA}})
	require.NoError(t, err)
	got, err = recv(t, ra, 4, 64)
	require.NoError(t, err)
	require.Equal(t, []Packet{{Data: []byte{1}, Endpoint: conn.Endpoint{Kind: conn.KindUDP, Local: addrA, Remote: addrB}}}, got)
}

func TestSendRejectsBadEndpoints(t *testing.T) {
	a, b := NewPair(1)
	defer a.Close()
	defer b.Close()
	for _, ep := range []conn.Endpoint{{}, {Kind: conn.KindUDP}, {Kind: 9}} {
		n, err := a.Send([][]byte{{1}}, []conn.Endpoint{ep})
		require.ErrorIs(t, err, conn.ErrEndpoint, "%+v", ep)
		require.Zero(t, n)
	}
}

func TestBatchAndShortBuffer(t *testing.T) {
	a, b := NewPair(2)
	defer a.Close()
	defer b.Close()
	rb := open(t, b)
	ep := conn.Endpoint{Kind: conn.KindIP}
	_, err := a.Send([][]byte{{1}, {2}, {3}, make([]byte, 100)}, []conn.Endpoint{ep, ep, ep, ep})
	require.NoError(t, err)

	got, err := recv(t, rb, 4, 64)
	require.NoError(t, err)
	require.Len(t, got, 2, "at most BatchSize per call")
	got, err = recv(t, rb, 4, 64)
	require.ErrorIs(t, err, io.ErrShortBuffer)
	require.Len(t, got, 1, "the packets before the one too big are valid")
}

func TestHooks(t *testing.T) {
	ep := []conn.Endpoint{{Kind: conn.KindIP}}
	isTwo := func(p Packet) bool { return p.Data[0] == 2 }
	tests := []struct {
		name string
		hook Hook
		want [][]byte
	}{
		{"none", nil, [][]byte{{1, 9}, {2, 9}}},
		{"drop", Drop(isTwo), [][]byte{{1, 9}}},
		{"duplicate", Duplicate(isTwo), [][]byte{{1, 9}, {2, 9}, {2, 9}}},
		{"tamper last", Tamper(isTwo, -1), [][]byte{{1, 9}, {2, 0xf6}}},
		{"tamper out of range", Tamper(All, 5), [][]byte{{1, 9}, {2, 9}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := NewPair(8)
			defer a.Close()
			defer b.Close()
			rb := open(t, b)
			rec := &Recorder{Next: tt.hook}
			a.SetHook(rec.Hook)
			for _, d := range [][]byte{{1, 9}, {2, 9}} {
				_, err := a.Send([][]byte{d}, ep)
				require.NoError(t, err)
			}
			got, err := recv(t, rb, 8, 64)
			require.NoError(t, err)
			var data [][]byte
			for _, p := range got {
				data = append(data, p.Data)
			}
			require.Equal(t, tt.want, data)
			// The recorder saw what was sent, before the hook's changes.
			rp := rec.Packets()
			require.Len(t, rp, 2)
			require.Equal(t, []byte{2, 9}, rp[1].Data)
			rec.Reset()
			require.Empty(t, rec.Packets())
		})
	}
}

func TestInjectAndClose(t *testing.T) {
	a, b := NewPair(1)
	ra := open(t, a)
	_, err := a.Open()
	require.ErrorIs(t, err, conn.ErrOpen)

	require.NoError(t, a.Inject(Packet{Data: []byte{7}, Endpoint: conn.Endpoint{Kind: conn.KindIP}}))
	got, err := recv(t, ra, 1, 8)
	require.NoError(t, err)
	require.Equal(t, []byte{7}, got[0].Data)

	// Close unblocks a pending receive.
	done := make(chan error, 1)
	go func() {
		_, err := ra([][]byte{make([]byte, 8)}, []int{0}, []conn.Endpoint{{}})
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, a.Close())
	require.NoError(t, a.Close())
	select {
	case err := <-done:
		require.True(t, errors.Is(err, net.ErrClosed), "%v", err)
	case <-time.After(time.Second):
		t.Fatal("Close did not unblock receive")
	}
	<-a.Closed()
	_, err = a.Send([][]byte{{1}}, []conn.Endpoint{{Kind: conn.KindIP}})
	require.ErrorIs(t, err, net.ErrClosed)
	require.ErrorIs(t, a.Inject(Packet{}), net.ErrClosed)
	_, err = a.Open()
	require.ErrorIs(t, err, net.ErrClosed)

	// Sending to a closed peer loses the packet silently.
	n, err := b.Send([][]byte{{1}}, []conn.Endpoint{{Kind: conn.KindIP}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, b.Close())
}

func TestKindString(t *testing.T) {
	require.Equal(t, "ip", conn.KindIP.String())
	require.Equal(t, "udp", conn.KindUDP.String())
	require.Equal(t, "Kind(0)", conn.Kind(0).String())
}
