package sadb

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/gonetsh/gonetsh/ipsec"
)

// index is the tuple space of one direction; see the SPD documentation.
type index struct {
	tuples []tuple // by ascending minRank
	slots  []slot  // open addressing, linear probing; len is a power of 2
	shift  uint8   // 64 - log2(len(slots)): hash >> shift is the home slot
	ranks  []int32 // bucket contents, concatenated; slot.lo:slot.hi
}

// tuple is one entry shape and the masks that turn a packet into its key.
type tuple struct {
	srcMask, dstMask   uint32 // of the shape's levels
	tag                uint64 // tuple number << tagShift, part of every key
	minRank            int32  // lowest rank among the tuple's entries
	proto              bool   // the protocol is part of the key
	srcExact, dstExact bool   // the port is part of the key
	verify             bool   // a key hit may still miss: check each entry
}

// Key layout: k1 = srcMasked<<32 | dstMasked,
// k2 = tag | protocol<<32 | srcPort<<16 | dstPort.
const tagShift = 40

// slot is one hash table cell. hi == 0 marks an empty cell (buckets are
// never empty).
type slot struct {
	k1, k2 uint64
	lo, hi int32
}

// level maps a prefix length to the length its tuple keys on: the largest
// of 0, 8, 16, 24, 32 not above it. Merging lengths this way (as in
// TupleMerge, Daly and Torng 2017) bounds the number of tuples per
// direction by 5*5*2*2*2 = 200 however many distinct lengths a policy
// uses; entries whose length is not a level are verified in the bucket.
func level(bits int) int { return bits &^ 7 }

// shape identifies a tuple during build.
type shape struct {
	srcLevel, dstLevel uint8
	proto              bool
	srcExact, dstExact bool
}

// matcher is an entry's selector in the form verification uses.
type matcher struct {
	src, srcMask, dst, dstMask uint32
	srcPort, dstPort           PortRange
	proto                      ipsec.Protocol
	ports                      bool // a port is not any
}

func newMatcher(s Selector) matcher {
	return matcher{
		src:     be32(s.Src.Addr().As4()),
		srcMask: mask(s.Src.Bits()),
		dst:     be32(s.Dst.Addr().As4()),
		dstMask: mask(s.Dst.Bits()),
		srcPort: s.SrcPort,
		dstPort: s.DstPort,
		proto:   s.Protocol,
		ports:   !s.SrcPort.IsAny() || !s.DstPort.IsAny(),
	}
}

// match reports whether the entry matches; src and dst are f's addresses.
func (m *matcher) match(src, dst uint32, f *Fields) bool {
	if src&m.srcMask != m.src || dst&m.dstMask != m.dst {
		return false
	}
	if m.proto != ipsec.ProtoAny && m.proto != f.Protocol {
		return false
	}
	if !m.ports {
		return true
	}
	return !f.NonInitialFragment && m.srcPort.Contains(f.SrcPort) && m.dstPort.Contains(f.DstPort)
}

func mask(bits int) uint32 {
	if bits == 0 {
		return 0
	}
	return ^uint32(0) << (32 - bits)
}

func be32(a [4]byte) uint32 { return binary.BigEndian.Uint32(a[:]) }

// build indexes the entries of direction dir; entries are in rank order
// and normalized, and ms holds their matchers.
func (ix *index) build(entries []Entry, ms []matcher, dir Direction) {
	shapes := map[shape]int{}
	type bkey struct{ k1, k2 uint64 }
	buckets := map[bkey][]int32{}
	var order []bkey // first-seen order, for a deterministic table
	seen := map[Selector]bool{}
	for r, e := range entries {
		s := e.Selector
		if s.Dir != dir || seen[s] {
			continue // a repeated selector is shadowed by its first rank
		}
		seen[s] = true
		sb, db := s.Src.Bits(), s.Dst.Bits()
		sh := shape{
			srcLevel: uint8(level(sb)),
			dstLevel: uint8(level(db)),
			proto:    s.Protocol != ipsec.ProtoAny,
			srcExact: !s.SrcPort.IsAny() && s.SrcPort.Lo == s.SrcPort.Hi,
			dstExact: !s.DstPort.IsAny() && s.DstPort.Lo == s.DstPort.Hi,
		}
		n, ok := shapes[sh]
		if !ok {
			// Ranks ascend, so tuples are created in minRank order.
			n = len(ix.tuples)
			shapes[sh] = n
			ix.tuples = append(ix.tuples, tuple{
				srcMask:  mask(int(sh.srcLevel)),
				dstMask:  mask(int(sh.dstLevel)),
				tag:      uint64(n) << tagShift,
				minRank:  int32(r),
				proto:    sh.proto,
				srcExact: sh.srcExact,
				dstExact: sh.dstExact,
			})
		}
		t := &ix.tuples[n]
		m := &ms[r]
		if sb != int(sh.srcLevel) || db != int(sh.dstLevel) ||
			!sh.srcExact && !s.SrcPort.IsAny() || !sh.dstExact && !s.DstPort.IsAny() {
			t.verify = true
		}
		k := bkey{
			k1: uint64(m.src&t.srcMask)<<32 | uint64(m.dst&t.dstMask),
			k2: t.tag | uint64(s.Protocol)<<32,
		}
		if t.srcExact {
			k.k2 |= uint64(s.SrcPort.Lo) << 16
		}
		if t.dstExact {
			k.k2 |= uint64(s.DstPort.Lo)
		}
		if _, ok := buckets[k]; !ok {
			order = append(order, k)
		}
		buckets[k] = append(buckets[k], int32(r))
	}

	size := 8
	for size < 2*len(order) {
		size <<= 1
	}
	ix.slots = make([]slot, size)
	ix.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	m := uint64(size - 1)
	for _, k := range order {
		b := buckets[k]
		lo := int32(len(ix.ranks))
		ix.ranks = append(ix.ranks, b...)
		i := hash(k.k1, k.k2) >> ix.shift
		for ix.slots[i].hi != 0 {
			i = (i + 1) & m
		}
		ix.slots[i] = slot{k1: k.k1, k2: k.k2, lo: lo, hi: int32(len(ix.ranks))}
	}
}

// hash mixes a key; its high bits select the home slot.
func hash(k1, k2 uint64) uint64 {
	h := (k1 ^ bits.RotateLeft64(k2, 29)) * 0x9e3779b97f4a7c15
	h ^= h >> 32
	return h * 0xbf58476d1ce4e5b9
}

// find returns the bucket for the key; lo == hi when there is none. The
// table is at most half full, so the probe ends at an empty slot.
func (ix *index) find(k1, k2 uint64) (lo, hi int32) {
	m := uint64(len(ix.slots) - 1)
	for i := hash(k1, k2) >> ix.shift; ; i = (i + 1) & m {
		sl := &ix.slots[i]
		if sl.hi == 0 {
			return 0, 0
		}
		if sl.k1 == k1 && sl.k2 == k2 {
			return sl.lo, sl.hi
		}
	}
}

// lookup returns the lowest rank in ix matching f, or -1.
func (s *SPD) lookup(ix *index, f *Fields) int32 {
	if len(ix.tuples) == 0 || !f.Src.Is4() || !f.Dst.Is4() {
		return -1
	}
	src, dst := be32(f.Src.As4()), be32(f.Dst.As4())
	best := int32(math.MaxInt32)
	for i := range ix.tuples {
		t := &ix.tuples[i]
		if t.minRank >= best {
			break // every later tuple ranks lower still
		}
		if (t.srcExact || t.dstExact) && f.NonInitialFragment {
			continue // OPAQUE ports match only ANY
		}
		k1 := uint64(src&t.srcMask)<<32 | uint64(dst&t.dstMask)
		k2 := t.tag
		if t.proto {
			k2 |= uint64(f.Protocol) << 32
		}
		if t.srcExact {
			k2 |= uint64(f.SrcPort) << 16
		}
		if t.dstExact {
			k2 |= uint64(f.DstPort)
		}
		lo, hi := ix.find(k1, k2)
		if lo == hi {
			continue
		}
		if !t.verify {
			best = min(best, ix.ranks[lo])
			continue
		}
		for _, r := range ix.ranks[lo:hi] {
			if r >= best {
				break
			}
			if s.match[r].match(src, dst, f) {
				best = r
				break
			}
		}
	}
	if best == math.MaxInt32 {
		return -1
	}
	return best
}
