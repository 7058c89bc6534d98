package driver

import "sync"

// packetBuffer holds one packet with headroom and tailroom.
type packetBuffer [bufSize]byte

// boundedPool recycles packet buffers and caps how many are out at once,
// like wireguard-go's device/pools.go, but never blocks: the only
// long-lived buffers are held packets, and the TUN reader must not wait
// for memory a stalled negotiation keeps. Its methods are safe for
// concurrent use.
type boundedPool struct {
	pool sync.Pool

	mu  sync.Mutex
	out int // buffers handed out and not yet returned
	max int
}

func newBoundedPool(max int) *boundedPool {
	return &boundedPool{
		pool: sync.Pool{New: func() any { return new(packetBuffer) }},
		max:  max,
	}
}

// TryGet returns a buffer, or false when max buffers are out.
func (p *boundedPool) TryGet() (*packetBuffer, bool) {
	p.mu.Lock()
	if p.out >= p.max {
		p.mu.Unlock()
		return nil, false
	}
	p.out++
	p.mu.Unlock()
	return p.pool.Get().(*packetBuffer), true
}

// Put returns b, whose first used bytes the caller has cleared.
func (p *boundedPool) Put(b *packetBuffer) {
	p.pool.Put(b)
	p.mu.Lock()
	p.out--
	p.mu.Unlock()
}

// Outstanding returns the number of buffers handed out.
func (p *boundedPool) Outstanding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out
}
