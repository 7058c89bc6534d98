// Package replay implements the IPsec anti-replay window of RFC 4303
// section 3.4.3 (and RFC 4302 section 3.4.3) as the ring of bitmap blocks of
// RFC 6479, with the Extended Sequence Number inference of RFC 4303
// Appendix A.
//
// The window is split into verify and commit, in the order RFC 4303 section
// 3.4.3 prescribes: Check before the ICV is verified, so that duplicates are
// dropped cheaply, and Commit only after the ICV has verified, so that a
// forged packet can never move the window.
package replay

const (
	blockBits  = 64                     // bits per bitmap block
	blockShift = 6                      // log2(blockBits)
	ringBlocks = 128                    // blocks in the ring; a power of two
	ringMask   = ringBlocks - 1         // index mask for the ring
	bitMask    = blockBits - 1          // bit index mask inside a block
	totalBits  = ringBlocks * blockBits // bits in the ring
)

// Size is the number of sequence numbers the window covers: the highest
// committed one and the Size-1 below it. RFC 6479 keeps one block of the
// ring spare so that sliding never clears bits still inside the window.
const Size = totalBits - blockBits // 8128

// Window is an anti-replay window. The zero value is an empty window ready
// to use: it accepts every sequence number from 1 upward. Sequence number 0
// is never valid (RFC 4303 section 3.3.3: the first packet carries 1).
//
// A Window is not safe for concurrent use; the owner of the SA serializes
// Check, ICV verification and Commit.
type Window struct {
	last uint64 // highest committed sequence number, 0 = none yet
	ring [ringBlocks]uint64
}

// Reset empties the window.
func (w *Window) Reset() { *w = Window{} }

// Last returns the highest committed sequence number, or 0 if none.
func (w *Window) Last() uint64 { return w.last }

// Check reports whether seq would be accepted: it is new and not older than
// the window. Check does not change the window.
func (w *Window) Check(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if seq > w.last {
		return true
	}
	if w.last-seq >= Size {
		return false
	}
	return w.ring[(seq>>blockShift)&ringMask]&(1<<(seq&bitMask)) == 0
}

// Commit records seq as received, sliding the window forward if seq is
// above the highest committed number. Call it only after the packet's ICV
// has verified. It reports false, and changes nothing, if seq is no longer
// acceptable (a duplicate that was verified concurrently, or one that fell
// out of the window meanwhile).
func (w *Window) Commit(seq uint64) bool {
	if !w.Check(seq) {
		return false
	}
	if seq > w.last {
		cur := w.last >> blockShift
		next := seq >> blockShift
		diff := next - cur
		if diff > ringBlocks {
			diff = ringBlocks
		}
		for i := uint64(1); i <= diff; i++ {
			w.ring[(cur+i)&ringMask] = 0
		}
		w.last = seq
	}
	w.ring[(seq>>blockShift)&ringMask] |= 1 << (seq & bitMask)
	return true
}

// Infer reconstructs the full 64-bit Extended Sequence Number from the low
// 32 bits carried in a packet, following RFC 4303 Appendix A.2.2 (the
// window being Size wide). It returns 0, which Check rejects, when the
// packet would lie below sequence number 1.
func (w *Window) Infer(low uint32) uint64 {
	th := uint32(w.last >> 32)
	tl := uint32(w.last)
	const wsz = uint32(Size)
	var hi uint32
	if tl >= wsz-1 {
		// Case A: the window lies within one 2^32 subspace.
		if low >= tl-wsz+1 {
			hi = th
		} else {
			if th == ^uint32(0) {
				return 0 // the 64-bit space is exhausted
			}
			hi = th + 1
		}
	} else {
		// Case B: the window spans two subspaces.
		if low >= tl-wsz+1 { // modulo 2^32: the upper part of the previous subspace
			if th == 0 {
				return 0
			}
			hi = th - 1
		} else {
			hi = th
		}
	}
	return uint64(hi)<<32 | uint64(low)
}
