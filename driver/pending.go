package driver

// Packets held while the engine negotiates an SA (RFC 4301 section 5.1.1
// leaves their treatment to the implementation; this one queues a few per
// SPD entry, like the Windows IPsec driver's acquire queue).

import (
	"sync"
	"time"

	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/sadb"
)

// pending holds packets per outbound negotiate entry (Entry.ID).
type pending struct {
	mu    sync.Mutex // guards flows
	flows map[uint64]*flow
}

// flow is one entry waiting for its SA.
type flow struct {
	since time.Time // of the acquire
	pkts  []held
}

// held is one packet at buf[headroom:headroom+n].
type held struct {
	buf *packetBuffer
	n   int
}

// release scrubs and returns the buffers of fl.
func (d *Driver) release(fl *flow) {
	for _, h := range fl.pkts {
		clear(h.buf[:headroom+h.n+tailroom])
		d.pool.Put(h.buf)
	}
}

// hold queues pkt for entry e, whose SA is missing, and raises an Acquire
// for the first packet of the flow. If the SA appeared meanwhile it
// returns the SA and queues nothing: AddSA inserts the SA before its flush
// takes the pending lock, so a packet is either held before the flush or
// finds the SA here.
func (d *Driver) hold(e *sadb.Entry, f *sadb.Fields, pkt []byte) *sadb.SA[*xform] {
	p := &d.pending
	p.mu.Lock()
	fl, waiting := p.flows[e.ID]
	if !waiting {
		if s, ok := d.sad.OutboundFunc(e.ID, sendable); ok {
			p.mu.Unlock()
			return s
		}
		fl = &flow{since: d.now(), pkts: make([]held, 0, d.queueLen)}
		p.flows[e.ID] = fl
	}
	queued := false
	if len(fl.pkts) < d.queueLen {
		if b, ok := d.pool.TryGet(); ok {
			fl.pkts = append(fl.pkts, held{b, copy(b[headroom:], pkt)})
			queued = true
		}
	}
	p.mu.Unlock()

	if !queued {
		d.drop(&d.stats.AcquireQueueDrops, "outbound: acquire queue full", nil)
	}
	if !waiting {
		d.stats.Acquires.Add(1)
		d.log.Debug("acquire", "entry", e.ID, "fields", *f)
		if d.onAcquire != nil {
			d.onAcquire(Acquire{Entry: *e, Fields: *f})
		}
	}
	return nil
}

// take removes and returns the flow of entry ref, or nil.
func (d *Driver) take(ref uint64) *flow {
	d.pending.mu.Lock()
	defer d.pending.mu.Unlock()
	fl := d.pending.flows[ref]
	delete(d.pending.flows, ref)
	return fl
}

// flush protects and sends the packets held for entry ref with s.
func (d *Driver) flush(ref uint64, s *sadb.SA[*xform]) {
	fl := d.take(ref)
	if fl == nil {
		return
	}
	defer d.release(fl)
	bufs := make([][]byte, 0, len(fl.pkts))
	eps := make([]conn.Endpoint, 0, len(fl.pkts))
	for _, h := range fl.pkts {
		b := h.buf[:]
		if out, ep, ok := d.seal(s, b, b[headroom:headroom+h.n]); ok {
			bufs = append(bufs, out)
			eps = append(eps, ep)
		}
	}
	d.send(bufs, eps)
}

// FailAcquire drops the packets held for entry ref, counting them in
// AcquireTimeoutDrops; the engine calls it when negotiation fails. The
// next packet of the entry raises a new Acquire. With soft=yes the engine
// first installs a permit entry (SetPolicy), so that later packets leave
// in clear.
func (d *Driver) FailAcquire(ref uint64) {
	if fl := d.take(ref); fl != nil {
		d.discard(fl, "outbound: negotiation failed")
	}
}

// discard drops the packets of fl.
func (d *Driver) discard(fl *flow, reason string) {
	d.release(fl)
	for range fl.pkts {
		d.drop(&d.stats.AcquireTimeoutDrops, reason, nil)
	}
}

// expirePending drops the flows whose acquire is AcquireTimeout old.
func (d *Driver) expirePending(now time.Time) {
	var old []*flow
	d.pending.mu.Lock()
	for ref, fl := range d.pending.flows {
		if now.Sub(fl.since) >= d.acquireTimeout {
			old = append(old, fl)
			delete(d.pending.flows, ref)
		}
	}
	d.pending.mu.Unlock()
	for _, fl := range old {
		d.discard(fl, "outbound: acquire timed out")
	}
}

// dropAllPending drops every held packet (Close).
func (d *Driver) dropAllPending() {
	d.pending.mu.Lock()
	flows := d.pending.flows
	d.pending.flows = map[uint64]*flow{}
	d.pending.mu.Unlock()
	for _, fl := range flows {
		d.discard(fl, "closing")
	}
}

// Reacquire moves the packets held for entry from to entry to, which then
// waits for its SA as if it had raised the acquire itself; entry from is
// free to raise acquires again. The engine calls it when it narrows a
// generic entry (this host to any, say) to a new entry for the one peer
// of the acquire, so that each peer negotiates its own SA and the first
// packets are not lost. If to already waits, the packets join its queue
// up to the queue length and the rest are dropped.
func (d *Driver) Reacquire(from, to uint64) {
	p := &d.pending
	p.mu.Lock()
	fl := p.flows[from]
	delete(p.flows, from)
	var extra []held
	if fl != nil {
		if dst, ok := p.flows[to]; ok {
			for _, h := range fl.pkts {
				if len(dst.pkts) < d.queueLen {
					dst.pkts = append(dst.pkts, h)
				} else {
					extra = append(extra, h)
				}
			}
		} else {
			p.flows[to] = fl
		}
	}
	p.mu.Unlock()
	if len(extra) > 0 {
		d.discard(&flow{pkts: extra}, "outbound: acquire queue full")
	}
}
