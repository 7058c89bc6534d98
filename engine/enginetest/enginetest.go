// Package enginetest holds fakes of what hangs off the engine, for tests
// of the engine and of its users: a Negotiator that holds the SAs and
// counters a test gives it and records the engine's calls.
package enginetest

import (
	"sync"

	"github.com/gonetsh/gonetsh/engine/ike"
	"github.com/gonetsh/gonetsh/ipsec"
)

// Negotiator satisfies engine.Negotiator. The zero value holds nothing; it
// is safe for concurrent use.
type Negotiator struct {
	mu       sync.Mutex
	mm       []ipsec.MMSA
	qm       []ipsec.QMSA
	stats    ipsec.IKEStats
	acquires []ike.Acquire
	flushes  int
	crl      []uint8
}

// Load replaces the SAs and the counters.
func (n *Negotiator) Load(mm []ipsec.MMSA, qm []ipsec.QMSA, stats ipsec.IKEStats) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mm, n.qm, n.stats = mm, qm, stats
}

// Acquire records a.
func (n *Negotiator) Acquire(a ike.Acquire) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.acquires = append(n.acquires, a)
}

// MMSAs returns a copy of the main mode SAs.
func (n *Negotiator) MMSAs() []ipsec.MMSA {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]ipsec.MMSA(nil), n.mm...)
}

// QMSAs returns a copy of the quick mode SAs.
func (n *Negotiator) QMSAs() []ipsec.QMSA {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]ipsec.QMSA(nil), n.qm...)
}

// Stats returns the counters.
func (n *Negotiator) Stats() ipsec.IKEStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// Flush drops the SAs and counts the call.
func (n *Negotiator) Flush() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.flushes++
	n.mm, n.qm = nil, nil
}

// SetStrongCRLCheck records level.
func (n *Negotiator) SetStrongCRLCheck(level uint8) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.crl = append(n.crl, level)
}

// Acquires returns the acquires so far.
func (n *Negotiator) Acquires() []ike.Acquire {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]ike.Acquire(nil), n.acquires...)
}

// Flushes returns how many times Flush was called.
func (n *Negotiator) Flushes() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.flushes
}

// CRLChecks returns the levels SetStrongCRLCheck got, in order.
func (n *Negotiator) CRLChecks() []uint8 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]uint8(nil), n.crl...)
}
