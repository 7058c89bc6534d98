package ah

import (
	"encoding/binary"

	"github.com/gonetsh/gonetsh/driver/esp"
)

// IPv4 header offsets of the mutable fields (RFC 791, RFC 4302 section
// 3.3.3.1.1.1).
const (
	ipTOS       = 1
	ipFlagsFrag = 6 // flags and fragment offset, 2 bytes
	ipTTL       = 8
	ipChecksum  = 10 // 2 bytes
	ipDst       = 16
)

// IPv4 option types (IANA "IP Option Numbers") that RFC 4302 Appendix A.1
// treats specially.
const (
	optEOL    = 0
	optNOP    = 1
	optSEC    = 130 // Security, immutable
	optLSRR   = 131 // Loose Source Route
	optESEC   = 133 // Extended Security, immutable
	optCIPSO  = 134 // Commercial Security, immutable
	optSSRR   = 137 // Strict Source Route
	optRTRALT = 148 // Router Alert, immutable
	optSDB    = 149 // Sender Directed Multi-Destination Delivery, immutable
)

// zeroMutable rewrites hdr, a copy of an IPv4 header, into the form the
// ICV covers: TOS, flags and fragment offset, TTL and checksum zeroed
// (RFC 4302 section 3.3.3.1.1.1), mutable options zeroed whole (Appendix
// A.1). A source route option is mutable but predictable: the destination
// a sender covers is the route's last address, the value the field will
// have on arrival, while a receiver covers the field as it arrived (Linux
// does the same). outbound selects the sender's rule. It reports false for
// malformed options.
func zeroMutable(hdr []byte, outbound bool) bool {
	hdr[ipTOS] = 0
	binary.BigEndian.PutUint16(hdr[ipFlagsFrag:], 0)
	hdr[ipTTL] = 0
	binary.BigEndian.PutUint16(hdr[ipChecksum:], 0)

	opts := hdr[esp.IPv4MinimumSize:]
	for len(opts) > 0 {
		switch opts[0] {
		case optEOL:
			return true
		case optNOP:
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 {
			return false
		}
		l := int(opts[1])
		if l < 2 || l > len(opts) {
			return false
		}
		switch opts[0] {
		case optSEC, optESEC, optCIPSO, optRTRALT, optSDB:
			// Immutable: covered as is.
		case optLSRR, optSSRR:
			if l < 7 { // type, length, pointer, one address
				return false
			}
			if outbound {
				copy(hdr[ipDst:ipDst+4], opts[l-4:l])
			}
			clear(opts[:l])
		default:
			clear(opts[:l])
		}
		opts = opts[l:]
	}
	return true
}

// icv computes the ICV of pkt, an IPv4 packet of hl header bytes whose AH
// header (ahLen bytes, ICV included) follows the IP header; the ICV field's
// content is ignored and hashed as zeros. The result aliases sa.sum. It
// reports false for malformed IPv4 options. The caller holds sa.mu.
func (sa *SA) icv(pkt []byte, hl, ahLen int, seq uint64) ([]byte, bool) {
	hdr := sa.hdr[:hl]
	copy(hdr, pkt[:hl])
	if !zeroMutable(hdr, sa.dir == esp.Outbound) {
		return nil, false
	}
	sa.mac.Reset()
	sa.mac.Write(hdr)
	sa.mac.Write(pkt[hl : hl+HeaderLen])
	sa.mac.Write(sa.zeros[:ahLen-HeaderLen])
	sa.mac.Write(pkt[hl+ahLen:])
	if sa.esn {
		// RFC 4302 section 2.5.1: the high-order 32 bits of the ESN are
		// part of the ICV computation, after the packet.
		binary.BigEndian.PutUint32(sa.esnHi[:], uint32(seq>>32))
		sa.mac.Write(sa.esnHi[:])
	}
	return sa.mac.Sum(sa.sum[:0])[:sa.icvLen], true
}
