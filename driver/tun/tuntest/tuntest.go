// Package tuntest is an in-memory tun.Device for tests, in the manner of
// wireguard-go's tun/tuntest, plus builders for IPv4 test packets (ICMP
// echo, UDP, TCP) with correct checksums and a small IPv4 header view.
package tuntest

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gonetsh/gonetsh/driver/tun"
)

// ChannelTUN is a fake TUN device whose two directions are channels.
//
// Outbound carries packets the host "routes into the tunnel": a test sends
// them on Outbound (or calls Inject) and the device's Read returns them.
// Inbound carries packets the device's Write "delivers to the host": a test
// receives them from Inbound (or calls Next).
//
// Read copies each packet into the caller's buffer and Write copies each
// packet before sending it, so neither side shares memory with the other.
// Close unblocks Read and Write; neither channel is closed (a concurrent
// send on a closed channel would panic), Closed reports the close instead.
type ChannelTUN struct {
	Outbound chan []byte
	Inbound  chan []byte

	name      string
	mtu       int
	batch     int
	closed    chan struct{}
	closeOnce sync.Once
}

// Channel capacities: enough that a test can inject a burst without a
// reader, small enough that a stuck reader shows up as a blocked test.
const chanCap = 64

// NewChannelTUN returns an open fake device. batch is its BatchSize; values
// below 1 mean 1. mtu is what MTU reports; 0 means tun.DefaultMTU.
func NewChannelTUN(name string, mtu, batch int) *ChannelTUN {
	if batch < 1 {
		batch = 1
	}
	if mtu == 0 {
		mtu = tun.DefaultMTU
	}
	return &ChannelTUN{
		Outbound: make(chan []byte, chanCap),
		Inbound:  make(chan []byte, chanCap),
		name:     name,
		mtu:      mtu,
		batch:    batch,
		closed:   make(chan struct{}),
	}
}

// TUN returns the device view of c.
func (c *ChannelTUN) TUN() tun.Device { return (*chTun)(c) }

// Closed is closed when the device is closed.
func (c *ChannelTUN) Closed() <-chan struct{} { return c.closed }

// Inject queues pkt for the device's Read. It blocks while Outbound is full
// and returns os.ErrClosed once the device is closed. c keeps pkt.
func (c *ChannelTUN) Inject(pkt []byte) error {
	select {
	case <-c.closed:
		return os.ErrClosed
	default:
	}
	select {
	case c.Outbound <- pkt:
		return nil
	case <-c.closed:
		return os.ErrClosed
	}
}

// Next returns the next packet the device wrote, waiting at most timeout.
// It fails if the timeout expires first; a closed device still yields the
// packets written before Close.
func (c *ChannelTUN) Next(timeout time.Duration) ([]byte, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case p := <-c.Inbound:
		return p, nil
	case <-t.C:
		return nil, fmt.Errorf("tuntest: no packet written within %v", timeout)
	}
}

// chTun implements tun.Device on a ChannelTUN.
type chTun ChannelTUN

func (t *chTun) c() *ChannelTUN { return (*ChannelTUN)(t) }

// Read blocks for the first packet, then takes whatever else is queued
// without blocking, up to BatchSize and len(bufs) packets. A packet that
// does not fit its buffer is dropped and reported as io.ErrShortBuffer.
func (t *chTun) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	// A closed device reports the close even if packets are queued, like
	// a kernel TUN whose descriptor was closed.
	select {
	case <-t.closed:
		return 0, os.ErrClosed
	default:
	}
	var pkt []byte
	select {
	case pkt = <-t.Outbound:
	case <-t.closed:
		return 0, os.ErrClosed
	}
	limit := min(len(bufs), len(sizes), t.batch)
	n := 0
	for {
		if offset < 0 || offset > len(bufs[n]) || len(bufs[n])-offset < len(pkt) {
			return n, io.ErrShortBuffer
		}
		sizes[n] = copy(bufs[n][offset:], pkt)
		n++
		if n == limit {
			return n, nil
		}
		select {
		case pkt = <-t.Outbound:
		default:
			return n, nil
		}
	}
}

// Write copies each packet and queues it on Inbound, blocking while Inbound
// is full.
func (t *chTun) Write(bufs [][]byte, offset int) (int, error) {
	for i, b := range bufs {
		if offset < 0 || offset > len(b) {
			return i, io.ErrShortBuffer
		}
		select {
		case <-t.closed:
			return i, os.ErrClosed
		default:
		}
		p := append([]byte(nil), b[offset:]...)
		select {
		case t.Inbound <- p:
		case <-t.closed:
			return i, os.ErrClosed
		}
	}
	return len(bufs), nil
}

func (t *chTun) BatchSize() int { return t.batch }

func (t *chTun) MTU() (int, error) { return t.mtu, nil }

func (t *chTun) Name() (string, error) { return t.name, nil }

// Close closes the device once; later calls return nil as well.
func (t *chTun) Close() error {
	t.closeOnce.Do(func() { close(t.closed) })
	return nil
}
