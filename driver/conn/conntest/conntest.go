// Package conntest is an in-memory conn.Wire for tests, in the manner of
// wireguard-go's conn/bindtest: NewPair joins two wires back to back, so
// that two drivers talk to each other without sockets or privileges. Hooks
// see every packet in flight and may drop, duplicate, tamper with or
// record it; Inject delivers a packet (say, a recorded one, replayed) as
// if it came from the network.
package conntest

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/gonetsh/gonetsh/driver/conn"
)

// Packet is one packet in flight: its bytes and its endpoint as the
// receiver sees it (for KindUDP, Local is the receiver's address).
type Packet struct {
	Data     []byte
	Endpoint conn.Endpoint
}

// Clone returns a copy of p that shares no memory with it.
func (p Packet) Clone() Packet {
	p.Data = append([]byte(nil), p.Data...)
	return p
}

// Hook sees each packet a wire sends and returns what to deliver in its
// place: nothing to drop it, the packet to pass it, two packets to
// duplicate it, a modified packet to tamper with it. The packet is a copy
// the hook owns. Hooks run on the sender's goroutine and may be called
// concurrently.
type Hook func(Packet) []Packet

// Wire is one end of a pair. It implements conn.Wire.
type Wire struct {
	peer  *Wire
	batch int
	in    chan Packet

	hook   atomic.Pointer[Hook]
	opened atomic.Bool

	closed    chan struct{}
	closeOnce sync.Once
}

var _ conn.Wire = (*Wire)(nil)

// chanCap is the number of packets in flight toward one wire; a sender
// blocks beyond it (tests drain their devices) rather than losing packets
// silently.
const chanCap = 256

// NewPair returns two connected wires with the given BatchSize (values
// below 1 mean 1): what a sends, b receives, and the other way round.
func NewPair(batch int) (a, b *Wire) {
	batch = max(batch, 1)
	a = &Wire{batch: batch, in: make(chan Packet, chanCap), closed: make(chan struct{})}
	b = &Wire{batch: batch, in: make(chan Packet, chanCap), closed: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

// SetHook installs h for the packets w sends; nil removes it.
func (w *Wire) SetHook(h Hook) {
	if h == nil {
		w.hook.Store(nil)
		return
	}
	w.hook.Store(&h)
}

// Inject queues p for w's receive function as if it had arrived from the
// network. It blocks while the queue is full and returns net.ErrClosed
// once w is closed. w keeps p.Data.
func (w *Wire) Inject(p Packet) error {
	select {
	case <-w.closed:
		return net.ErrClosed
	default:
	}
	select {
	case w.in <- p:
		return nil
	case <-w.closed:
		return net.ErrClosed
	}
}

// Open returns the one receive function of w.
func (w *Wire) Open() ([]conn.ReceiveFunc, error) {
	select {
	case <-w.closed:
		return nil, net.ErrClosed
	default:
	}
	if w.opened.Swap(true) {
		return nil, conn.ErrOpen
	}
	return []conn.ReceiveFunc{w.receive}, nil
}

// receive blocks for the first packet, then takes whatever else is queued
// without blocking, up to the batch size.
func (w *Wire) receive(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	select {
	case <-w.closed:
		return 0, net.ErrClosed
	default:
	}
	var p Packet
	select {
	case p = <-w.in:
	case <-w.closed:
		return 0, net.ErrClosed
	}
	limit := min(len(bufs), len(sizes), len(eps), w.batch)
	n := 0
	for {
		if len(bufs[n]) < len(p.Data) {
			return n, io.ErrShortBuffer
		}
		sizes[n] = copy(bufs[n], p.Data)
		eps[n] = p.Endpoint
		n++
		if n == limit {
			return n, nil
		}
		select {
		case p = <-w.in:
		default:
			return n, nil
		}
	}
}

// Send copies each packet, turns its endpoint around for the receiver,
// passes it through the hook and queues the result at the peer. A closed
// peer loses the packets silently, like a network whose far host is gone.
func (w *Wire) Send(bufs [][]byte, eps []conn.Endpoint) (int, error) {
	for i, b := range bufs {
		select {
		case <-w.closed:
			return i, net.ErrClosed
		default:
		}
		ep := eps[i]
		switch ep.Kind {
		case conn.KindIP:
			ep = conn.Endpoint{Kind: conn.KindIP}
		case conn.KindUDP:
			if !ep.Remote.IsValid() {
				return i, conn.ErrEndpoint
			}
			local := ep.Local
			if local.Port() == 0 {
				local = netip.AddrPortFrom(local.Addr(), conn.NATTPort)
			}
			ep.Local, ep.Remote = ep.Remote, local
		default:
			return i, conn.ErrEndpoint
		}
		p := Packet{Data: append([]byte(nil), b...), Endpoint: ep}
		out := []Packet{p}
		if h := w.hook.Load(); h != nil {
			out = (*h)(p)
		}
		for _, q := range out {
			w.peer.deliver(q, w.closed)
		}
	}
	return len(bufs), nil
}

// deliver queues p at w unless w or the sender closes first.
func (w *Wire) deliver(p Packet, senderClosed <-chan struct{}) {
	select {
	case w.in <- p:
	case <-w.closed:
	case <-senderClosed:
	}
}

// BatchSize returns the batch size given to NewPair.
func (w *Wire) BatchSize() int { return w.batch }

// Close closes w once; later calls return nil as well.
func (w *Wire) Close() error {
	w.closeOnce.Do(func() { close(w.closed) })
	return nil
}

// Closed is closed when w is closed.
func (w *Wire) Closed() <-chan struct{} { return w.closed }
