package ah

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"math"
	"sync"

	"github.com/gonetsh/gonetsh/driver/esp"
	"github.com/gonetsh/gonetsh/driver/replay"
	"github.com/gonetsh/gonetsh/ipsec"
)

// Config is everything New needs to build one direction of an AH SA.
type Config struct {
	SPI  uint32 // RFC 4302 section 2.4: 0-255 are reserved and rejected
	Dir  esp.Direction
	Hash ipsec.Hash // MD5, SHA1 or SHA256
	// Key is the HMAC key, esp.AuthKeyLen(Hash) bytes. New copies it; the
	// caller keeps ownership of the slice.
	Key []byte
	// ESN enables 64-bit Extended Sequence Numbers (RFC 4302 section 2.5.1).
	ESN bool
}

// SA is one direction of an AH security association: an outbound SA
// inserts AH, an inbound SA verifies and removes it. Its methods are safe
// for concurrent use and serialized by a mutex. HMAC state and scratch
// space live in the SA so that packets do not allocate.
type SA struct {
	mu sync.Mutex // guards every field below

	spi    uint32
	dir    esp.Direction
	esn    bool
	hash   ipsec.Hash
	icvLen int
	wiped  bool

	seq    uint64        // outbound: last sequence number used
	window replay.Window // inbound
	stats  esp.Stats

	key []byte // copy, zeroed by Wipe
	mac hash.Hash

	sum   [sha256.Size]byte
	hdr   [esp.IPv4MaximumHeaderSize]byte // IP header being zeroed for the ICV
	orig  [esp.IPv4MaximumHeaderSize]byte // IP header being moved
	zeros [esp.MaxICVLen]byte             // stands in for the ICV field
	esnHi [4]byte
}

// New validates cfg and builds the SA with its HMAC state precomputed.
// Errors wrap ErrAlgorithm, ErrKeyLen, ErrSPI or ErrDirection.
func New(cfg Config) (*SA, error) {
	if cfg.SPI < 256 {
		return nil, fmt.Errorf("%w: SPI %d is reserved (RFC 4302 section 2.4)", ErrSPI, cfg.SPI)
	}
	if cfg.Dir != esp.Outbound && cfg.Dir != esp.Inbound {
		return nil, fmt.Errorf("%w: %v", ErrDirection, cfg.Dir)
	}
	icvLen := esp.ICVLen(cfg.Hash)
	if icvLen == 0 {
		return nil, fmt.Errorf("%w: integrity %v", ErrAlgorithm, cfg.Hash)
	}
	if n := esp.AuthKeyLen(cfg.Hash); len(cfg.Key) != n {
		return nil, fmt.Errorf("%w: %v needs a %d-byte key, got %d", ErrKeyLen, cfg.Hash, n, len(cfg.Key))
	}
	sa := &SA{
		spi:    cfg.SPI,
		dir:    cfg.Dir,
		esn:    cfg.ESN,
		hash:   cfg.Hash,
		icvLen: icvLen,
		key:    append([]byte(nil), cfg.Key...),
	}
	var err error
	if sa.mac, err = esp.NewMAC(cfg.Hash, sa.key); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAlgorithm, err)
	}
	return sa, nil
}

// SPI returns the SA's Security Parameters Index.
func (sa *SA) SPI() uint32 { return sa.spi }

// Len returns the length of the AH header this SA inserts: 12 bytes plus
// the ICV (24 for the -96 algorithms, 28 for HMAC-SHA-256-128).
func (sa *SA) Len() int { return HeaderLen + sa.icvLen }

// Stats returns a snapshot of the counters. Bytes counts the bytes after
// the AH header (the protected payload).
func (sa *SA) Stats() esp.Stats {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	st := sa.stats
	if sa.dir == esp.Outbound {
		st.Seq = sa.seq
	} else {
		st.Seq = sa.window.Last()
	}
	return st
}

// Wipe zeroes the SA's copy of its key and drops the HMAC state, after
// which every method returns ErrWiped. The pads inside crypto/hmac cannot
// be zeroed from outside; dropping them leaves them to the garbage
// collector.
func (sa *SA) Wipe() {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	clear(sa.key)
	clear(sa.sum[:])
	sa.mac = nil
	sa.wiped = true
}

// nextSeq returns the sequence number for the next outbound packet.
func (sa *SA) nextSeq() (uint64, error) {
	if sa.wiped {
		return 0, ErrWiped
	}
	if sa.dir != esp.Outbound {
		return 0, ErrDirection
	}
	seq := sa.seq + 1
	if seq == 0 || (!sa.esn && seq > math.MaxUint32) {
		return 0, ErrSeqOverflow
	}
	return seq, nil
}

// SealTransport appends to dst the transport-mode form of packet, a whole
// IPv4 packet: its header (options kept) with protocol 51 and new total
// length and checksum, the AH header carrying the original protocol as
// Next Header, and the payload. packet may overlap dst's spare capacity at
// any offset. No allocation when dst has room for len(packet)+Len() more
// bytes. Fragments are refused with ErrFragment; malformed IPv4 options
// with ErrMalformed.
func (sa *SA) SealTransport(dst, packet []byte) ([]byte, error) {
	ip := esp.IPv4(packet)
	if !ip.IsValid() {
		return dst, ErrMalformed
	}
	if ip.IsFragment() {
		return dst, ErrFragment
	}
	hl, tl := ip.HeaderLength(), int(ip.TotalLength())
	proto := ip.Protocol()

	sa.mu.Lock()
	defer sa.mu.Unlock()
	seq, err := sa.nextSeq()
	if err != nil {
		return dst, err
	}
	ahLen := sa.Len()
	n := tl + ahLen
	if n > math.MaxUint16 {
		return dst, ErrTooBig
	}
	hdr := sa.orig[:hl]
	copy(hdr, packet)
	if !zeroMutable(append(sa.hdr[:0], hdr...), true) { // validate options before writing
		return dst, ErrMalformed
	}
	ret, out := sliceForAppend(dst, n)
	copy(out[hl+ahLen:], packet[hl:tl]) // payload first: it may overlap the header
	copy(out, hdr)
	o := esp.IPv4(out)
	o.SetProtocol(esp.ProtocolAH)
	o.SetTotalLength(uint16(n))
	o.UpdateChecksum()
	sa.finish(out, hl, proto, seq)
	return ret, nil
}

// SealTunnel appends to dst a tunnel-mode packet: a 20-byte outer IPv4
// header from outer (Protocol and TotalLength filled in), the AH header
// with Next Header 4, and inner, a whole IPv4 packet. inner may overlap
// dst's spare capacity. No allocation when dst has room for
// esp.IPv4MinimumSize+Len()+len(inner) more bytes.
func (sa *SA) SealTunnel(dst []byte, outer esp.IPv4Fields, inner []byte) ([]byte, error) {
	if !outer.Src.Is4() || !outer.Dst.Is4() {
		return dst, ErrNotIPv4
	}
	in := esp.IPv4(inner)
	if !in.IsValid() {
		return dst, ErrMalformed
	}
	inner = inner[:in.TotalLength()]

	sa.mu.Lock()
	defer sa.mu.Unlock()
	seq, err := sa.nextSeq()
	if err != nil {
		return dst, err
	}
	const hl = esp.IPv4MinimumSize
	ahLen := sa.Len()
	n := hl + ahLen + len(inner)
	if n > math.MaxUint16 {
		return dst, ErrTooBig
	}
	ret, out := sliceForAppend(dst, n)
	copy(out[hl+ahLen:], inner)
	outer.Protocol = esp.ProtocolAH
	outer.TotalLength = uint16(n)
	esp.IPv4(out).Encode(&outer)
	sa.finish(out, hl, esp.ProtocolIPv4, seq)
	return ret, nil
}

// finish writes the AH header at out[hl:] and its ICV, and consumes seq.
// The IP header's options have been validated.
func (sa *SA) finish(out []byte, hl int, nextHeader uint8, seq uint64) {
	ah := Header(out[hl:])
	ah.Encode(&HeaderFields{NextHeader: nextHeader, ICVLen: sa.icvLen, SPI: sa.spi, SeqNum: uint32(seq)})
	icv, _ := sa.icv(out, hl, sa.Len(), seq)
	copy(ah[HeaderLen:], icv)
	sa.seq = seq
	sa.stats.Packets++
	sa.stats.Bytes += uint64(len(out) - hl - sa.Len())
}

// Open verifies the AH of packet, an IPv4 packet whose protocol is 51, and
// returns what follows the AH header (aliasing packet) and its Next Header
// value. packet is not modified. Errors are sentinels and bump the matching
// counter: ErrMalformed, ErrShort, ErrFragment, ErrProtocol, ErrSPI
// (Invalid), ErrReplay (ReplayDrops), ErrAuth (AuthFailures).
func (sa *SA) Open(packet []byte) (payload []byte, nextHeader byte, err error) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return sa.openLocked(packet)
}

func (sa *SA) openLocked(packet []byte) ([]byte, byte, error) {
	if sa.wiped {
		return nil, 0, ErrWiped
	}
	if sa.dir != esp.Inbound {
		return nil, 0, ErrDirection
	}
	ip := esp.IPv4(packet)
	var err error
	switch {
	case !ip.IsValid():
		err = ErrMalformed
	case ip.IsFragment():
		err = ErrFragment // RFC 4302 section 3.4.1: reassemble first
	case ip.Protocol() != esp.ProtocolAH:
		err = ErrProtocol
	}
	if err != nil {
		sa.stats.Invalid++
		return nil, 0, err
	}
	hl, tl := ip.HeaderLength(), int(ip.TotalLength())
	pkt := packet[:tl]
	ahLen := sa.Len()
	ah := Header(pkt[hl:])
	switch {
	case len(ah) < HeaderLen:
		err = ErrShort
	case ah.Len() != ahLen:
		err = ErrMalformed
	case len(ah) < ahLen:
		err = ErrShort
	case ah.SPI() != sa.spi:
		err = ErrSPI
	}
	if err != nil {
		sa.stats.Invalid++
		return nil, 0, err
	}
	seq := uint64(ah.SeqNum())
	if sa.esn {
		seq = sa.window.Infer(uint32(seq))
	}
	if !sa.window.Check(seq) { // RFC 4302 section 3.4.3
		sa.stats.ReplayDrops++
		return nil, 0, ErrReplay
	}
	icv, ok := sa.icv(pkt, hl, ahLen, seq)
	if !ok {
		sa.stats.Invalid++
		return nil, 0, ErrMalformed
	}
	if !hmac.Equal(icv, ah.ICV()) { // RFC 4302 section 3.4.4, constant time
		sa.stats.AuthFailures++
		return nil, 0, ErrAuth
	}
	if !sa.window.Commit(seq) {
		sa.stats.ReplayDrops++
		return nil, 0, ErrReplay
	}
	payload := pkt[hl+ahLen:]
	sa.stats.Packets++
	sa.stats.Bytes += uint64(len(payload))
	return payload, ah.NextHeader(), nil
}

// OpenTransport verifies a transport-mode packet and removes its AH in
// place, returning the restored IPv4 packet (aliasing packet): the header
// with the Next Header as protocol and new total length and checksum, then
// the payload. Errors are those of Open.
func (sa *SA) OpenTransport(packet []byte) ([]byte, error) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	payload, nh, err := sa.openLocked(packet)
	if err != nil {
		return nil, err
	}
	hl := esp.IPv4(packet).HeaderLength()
	n := hl + copy(packet[hl:], payload)
	o := esp.IPv4(packet[:n])
	o.SetProtocol(nh)
	o.SetTotalLength(uint16(n))
	o.UpdateChecksum()
	return packet[:n], nil
}

// OpenTunnel verifies a tunnel-mode packet and returns the inner IPv4
// packet (aliasing packet). Beyond Open's errors: ErrProtocol if Next
// Header is not 4, ErrMalformed if the inner header is invalid (both
// counted as Invalid).
func (sa *SA) OpenTunnel(packet []byte) ([]byte, error) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	inner, nh, err := sa.openLocked(packet)
	if err != nil {
		return nil, err
	}
	if nh != esp.ProtocolIPv4 {
		sa.stats.Invalid++
		return nil, ErrProtocol
	}
	in := esp.IPv4(inner)
	if !in.IsValid() {
		sa.stats.Invalid++
		return nil, ErrMalformed
	}
	return inner[:in.TotalLength()], nil
}

// sliceForAppend extends in by n bytes, reusing its capacity when it can,
// and returns the whole slice and the new tail.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return head, tail
}
