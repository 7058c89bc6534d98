package conntest

import "sync"

// Drop returns a hook that drops the packets match selects and passes the
// others.
func Drop(match func(Packet) bool) Hook {
	return func(p Packet) []Packet {
		if match(p) {
			return nil
		}
		return []Packet{p}
	}
}

// Duplicate returns a hook that delivers the packets match selects twice:
// the second copy is an immediate replay.
func Duplicate(match func(Packet) bool) Hook {
	return func(p Packet) []Packet {
		if match(p) {
			return []Packet{p, p.Clone()}
		}
		return []Packet{p}
	}
}

// Tamper returns a hook that flips every bit of the byte at index at of
// the packets match selects; a negative index counts from the end (-1 is
// the last byte, inside an ESP or AH ICV). Packets too short are passed
// unchanged.
func Tamper(match func(Packet) bool, at int) Hook {
	return func(p Packet) []Packet {
		i := at
		if i < 0 {
			i += len(p.Data)
		}
		if match(p) && i >= 0 && i < len(p.Data) {
			p.Data[i] ^= 0xff
		}
		return []Packet{p}
	}
}

// All matches every packet.
func All(Packet) bool { return true }

// Recorder keeps a copy of every packet that passes its Hook, for tests
// that look at what crossed the wire or replay it later with Inject. It is
// safe for concurrent use.
type Recorder struct {
	// Next, if set, decides the packet's fate after it is recorded;
	// nil passes it.
	Next Hook

	mu   sync.Mutex
	pkts []Packet
}

// Hook records a copy of p and hands p to Next.
func (r *Recorder) Hook(p Packet) []Packet {
	r.mu.Lock()
	r.pkts = append(r.pkts, p.Clone())
	r.mu.Unlock()
	if r.Next != nil {
		return r.Next(p)
	}
	return []Packet{p}
}

// Packets returns copies of the packets recorded so far, oldest first.
func (r *Recorder) Packets() []Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Packet, len(r.pkts))
	for i, p := range r.pkts {
		out[i] = p.Clone()
	}
	return out
}

// Reset forgets the recorded packets.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.pkts = nil
	r.mu.Unlock()
}
