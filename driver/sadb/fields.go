package sadb

// Packet field extraction for SPD lookups. References:
//   RFC 791  section 3.1 (IPv4 header)
//   RFC 768, RFC 9293 (UDP, TCP ports: the first four bytes)
//   RFC 792  (ICMP type and code: the first two bytes)
//   RFC 4301 section 4.4.1.1 (selectors; OPAQUE ports of non-initial
//            fragments) and section 7 (fragments)

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/gonetsh/gonetsh/ipsec"
)

// IPv4 header field offsets (RFC 791 section 3.1).
const (
	offVersIHL  = 0
	offTotalLen = 2
	offFrag     = 6
	offProtocol = 9
	offSrc      = 12
	offDst      = 16

	ipv4MinHeader = 20
	fragOffMask   = 0x1fff // fragment offset, in 8-byte units
)

// Fields are the selector values of one IPv4 packet (RFC 4301 section
// 4.4.1.1). The zero value matches nothing: its addresses are invalid.
type Fields struct {
	Src, Dst netip.Addr
	Protocol ipsec.Protocol

	// SrcPort and DstPort are set for TCP and UDP; zero otherwise.
	SrcPort, DstPort uint16

	// ICMPType and ICMPCode are set for ICMP; zero otherwise.
	ICMPType, ICMPCode uint8

	// NonInitialFragment marks a fragment with a non-zero offset: its
	// ports and ICMP fields are OPAQUE (RFC 4301 section 4.4.1.1) and it
	// matches only selectors that accept any port.
	NonInitialFragment bool
}

// String formats f for logs and test failures.
func (f Fields) String() string {
	s := fmt.Sprintf("%v %v -> %v", f.Protocol, f.Src, f.Dst)
	switch {
	case f.NonInitialFragment:
		s += " (fragment)"
	case f.Protocol.HasPorts():
		s += fmt.Sprintf(" ports %d -> %d", f.SrcPort, f.DstPort)
	case f.Protocol == ipsec.ProtoICMP:
		s += fmt.Sprintf(" type %d code %d", f.ICMPType, f.ICMPCode)
	}
	return s
}

// ParseIPv4 extracts the selector fields of the IPv4 datagram at the start
// of pkt. It checks the version, that the header length (IHL) and total
// length fit in pkt and are consistent, and that an initial fragment
// carries the TCP/UDP ports or the ICMP type and code it claims; it does
// not verify checksums. Bytes after the total length (link padding) are
// ignored. It never panics and does not allocate; errors are ErrTruncated,
// ErrNotIPv4 and ErrHeader.
func ParseIPv4(pkt []byte) (Fields, error) {
	var f Fields
	if len(pkt) < ipv4MinHeader {
		return f, ErrTruncated
	}
	if pkt[offVersIHL]>>4 != 4 {
		return f, ErrNotIPv4
	}
	hl := int(pkt[offVersIHL]&0x0f) * 4
	tl := int(binary.BigEndian.Uint16(pkt[offTotalLen:]))
	if hl < ipv4MinHeader || tl < hl {
		return f, ErrHeader
	}
	if tl > len(pkt) {
		return f, ErrTruncated
	}
	f.Src = netip.AddrFrom4([4]byte(pkt[offSrc : offSrc+4]))
	f.Dst = netip.AddrFrom4([4]byte(pkt[offDst : offDst+4]))
	f.Protocol = ipsec.Protocol(pkt[offProtocol])
	if binary.BigEndian.Uint16(pkt[offFrag:])&fragOffMask != 0 {
		f.NonInitialFragment = true
		return f, nil
	}
	l4 := pkt[hl:tl]
	switch {
	case f.Protocol.HasPorts():
		if len(l4) < 4 {
			return Fields{}, ErrTruncated
		}
		f.SrcPort = binary.BigEndian.Uint16(l4[0:])
		f.DstPort = binary.BigEndian.Uint16(l4[2:])
	case f.Protocol == ipsec.ProtoICMP:
		if len(l4) < 2 {
			return Fields{}, ErrTruncated
		}
		f.ICMPType, f.ICMPCode = l4[0], l4[1]
	}
	return f, nil
}
