package tuntest

// Packet builders and views for tests. References:
//   RFC 791  Internet Protocol (header layout)
//   RFC 792  ICMP (echo)
//   RFC 768  UDP
//   RFC 9293 TCP
//   RFC 1071 Internet checksum

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// IPv4 header offsets and sizes (RFC 791 section 3.1).
const (
	ipVersIHL  = 0
	ipTotalLen = 2
	ipID       = 4
	ipFragOff  = 6
	ipTTL      = 8
	ipProtocol = 9
	ipChecksum = 10
	ipSrc      = 12
	ipDst      = 16

	IPv4MinSize = 20
	UDPSize     = 8
	TCPMinSize  = 20
	ICMPEchoLen = 8

	// DefaultTTL is the TTL of built packets.
	DefaultTTL = 64
)

// IP protocol numbers of the built packets.
const (
	ProtoICMP = 1
	ProtoTCP  = 6
	ProtoUDP  = 17
)

// ErrNotIPv4 is returned by the builders for an address that is not IPv4.
var ErrNotIPv4 = errors.New("tuntest: address is not IPv4")

// IPv4 is a view of a packet that starts with an IPv4 header. Call IsValid
// before any other method; the getters assume it returned true.
type IPv4 []byte

// IsValid reports whether b holds a whole IPv4 header and the total length
// it claims.
func (b IPv4) IsValid() bool {
	if len(b) < IPv4MinSize || b[ipVersIHL]>>4 != 4 {
		return false
	}
	hl := b.HeaderLen()
	tl := b.TotalLen()
	return hl >= IPv4MinSize && hl <= tl && tl <= len(b)
}

// HeaderLen is the header length in bytes (IHL * 4).
func (b IPv4) HeaderLen() int { return int(b[ipVersIHL]&0x0f) * 4 }

// TotalLen is the datagram length the header claims.
func (b IPv4) TotalLen() int { return int(binary.BigEndian.Uint16(b[ipTotalLen:])) }

// ID is the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipID:]) }

// TTL is the time-to-live field.
func (b IPv4) TTL() uint8 { return b[ipTTL] }

// Protocol is the next protocol number.
func (b IPv4) Protocol() uint8 { return b[ipProtocol] }

// Src is the source address.
func (b IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(b[ipSrc : ipSrc+4])) }

// Dst is the destination address.
func (b IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(b[ipDst : ipDst+4])) }

// Payload is the data after the header, up to the total length.
func (b IPv4) Payload() []byte { return b[b.HeaderLen():b.TotalLen()] }

// ChecksumValid reports whether the header checksum is correct.
func (b IPv4) ChecksumValid() bool { return Checksum(b[:b.HeaderLen()], 0) == 0 }

// SetTTL sets the TTL and updates the header checksum.
func (b IPv4) SetTTL(ttl uint8) {
	b[ipTTL] = ttl
	b.updateChecksum()
}

// FragOffset is the fragment offset in 8-byte units.
func (b IPv4) FragOffset() uint16 { return binary.BigEndian.Uint16(b[ipFragOff:]) & 0x1fff }

// MoreFragments reports the MF flag.
func (b IPv4) MoreFragments() bool { return b[ipFragOff]&0x20 != 0 }

// SetFragment sets the fragment offset (in 8-byte units, at most 0x1fff)
// and the MF flag, keeps DF, and updates the header checksum. It turns a
// built packet into a fake fragment for parser tests; the payload is not
// changed.
func (b IPv4) SetFragment(offset uint16, more bool) {
	v := binary.BigEndian.Uint16(b[ipFragOff:])&0x4000 | offset&0x1fff
	if more {
		v |= 0x2000
	}
	binary.BigEndian.PutUint16(b[ipFragOff:], v)
	b.updateChecksum()
}

func (b IPv4) updateChecksum() {
	binary.BigEndian.PutUint16(b[ipChecksum:], 0)
	binary.BigEndian.PutUint16(b[ipChecksum:], Checksum(b[:b.HeaderLen()], 0))
}

// TransportChecksumValid reports whether the UDP or TCP checksum (with the
// pseudo-header) or the ICMP checksum of the payload is correct. A UDP
// checksum of zero means "none" (RFC 768) and is accepted. Other
// protocols report false.
func (b IPv4) TransportChecksumValid() bool {
	p := b.Payload()
	switch b.Protocol() {
	case ProtoICMP:
		return len(p) >= 4 && Checksum(p, 0) == 0
	case ProtoUDP:
		if len(p) < UDPSize {
			return false
		}
		if binary.BigEndian.Uint16(p[6:]) == 0 {
			return true
		}
		return Checksum(p, b.pseudo()) == 0
	case ProtoTCP:
		return len(p) >= TCPMinSize && Checksum(p, b.pseudo()) == 0
	}
	return false
}

// pseudo returns the unfolded sum of the RFC 768/9293 pseudo-header.
func (b IPv4) pseudo() uint32 {
	return sum(b[ipSrc:ipDst+4], uint32(b.Protocol())+uint32(len(b.Payload())))
}

// Checksum returns the Internet checksum (RFC 1071) of data, starting from
// the unfolded partial sum initial (0, or a pseudo-header sum). Over data
// whose checksum field is filled in correctly it returns 0.
func Checksum(data []byte, initial uint32) uint16 {
	s := sum(data, initial)
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func sum(data []byte, acc uint32) uint32 {
	s := uint64(acc)
	for len(data) >= 2 {
		s += uint64(binary.BigEndian.Uint16(data))
		data = data[2:]
	}
	if len(data) == 1 {
		s += uint64(data[0]) << 8
	}
	for s > 0xffffffff {
		s = s>>32 + s&0xffffffff
	}
	return uint32(s)
}

// ipv4 builds a datagram: an IPv4 header without options, TTL DefaultTTL,
// ID 0, don't-fragment clear, then l4 (whose checksum the caller fills in
// afterwards via fill).
func ipv4(src, dst netip.Addr, proto uint8, l4 []byte) ([]byte, error) {
	if !src.Is4() || !dst.Is4() {
		return nil, fmt.Errorf("%w: %v -> %v", ErrNotIPv4, src, dst)
	}
	total := IPv4MinSize + len(l4)
	if total > 0xffff {
		return nil, fmt.Errorf("tuntest: datagram of %d bytes is too long", total)
	}
	b := make([]byte, total)
	b[ipVersIHL] = 4<<4 | IPv4MinSize/4
	binary.BigEndian.PutUint16(b[ipTotalLen:], uint16(total))
	b[ipTTL] = DefaultTTL
	b[ipProtocol] = proto
	s, d := src.As4(), dst.As4()
	copy(b[ipSrc:], s[:])
	copy(b[ipDst:], d[:])
	copy(b[IPv4MinSize:], l4)
	IPv4(b).updateChecksum()
	return b, nil
}

// ICMPEcho returns an ICMP echo request (type 8, RFC 792) from src to dst.
func ICMPEcho(src, dst netip.Addr, id, seq uint16, payload []byte) ([]byte, error) {
	return icmpEcho(src, dst, 8, id, seq, payload)
}

// ICMPEchoReply returns an ICMP echo reply (type 0, RFC 792).
func ICMPEchoReply(src, dst netip.Addr, id, seq uint16, payload []byte) ([]byte, error) {
	return icmpEcho(src, dst, 0, id, seq, payload)
}

func icmpEcho(src, dst netip.Addr, typ uint8, id, seq uint16, payload []byte) ([]byte, error) {
	l4 := make([]byte, ICMPEchoLen+len(payload))
	l4[0] = typ
	binary.BigEndian.PutUint16(l4[4:], id)
	binary.BigEndian.PutUint16(l4[6:], seq)
	copy(l4[ICMPEchoLen:], payload)
	binary.BigEndian.PutUint16(l4[2:], Checksum(l4, 0))
	return ipv4(src, dst, ProtoICMP, l4)
}

// UDP returns a UDP datagram (RFC 768) with its checksum.
func UDP(src, dst netip.AddrPort, payload []byte) ([]byte, error) {
	l4 := make([]byte, UDPSize+len(payload))
	binary.BigEndian.PutUint16(l4[0:], src.Port())
	binary.BigEndian.PutUint16(l4[2:], dst.Port())
	binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	copy(l4[UDPSize:], payload)
	b, err := ipv4(src.Addr(), dst.Addr(), ProtoUDP, l4)
	if err != nil {
		return nil, err
	}
	p := IPv4(b)
	c := Checksum(p.Payload(), p.pseudo())
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(b[IPv4MinSize+6:], c)
	return b, nil
}

// TCPFlags are the TCP control bits (RFC 9293 section 3.1).
type TCPFlags uint8

// TCP control bits.
const (
	FIN TCPFlags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
)

// String lists the set bits, e.g. "SYN|ACK"; no bits is "none".
func (f TCPFlags) String() string {
	names := []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}
	var parts []string
	for i, n := range names {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

// TCP returns a TCP segment (RFC 9293) without options, window 65535, with
// its checksum.
func TCP(src, dst netip.AddrPort, seq, ack uint32, flags TCPFlags, payload []byte) ([]byte, error) {
	l4 := make([]byte, TCPMinSize+len(payload))
	binary.BigEndian.PutUint16(l4[0:], src.Port())
	binary.BigEndian.PutUint16(l4[2:], dst.Port())
	binary.BigEndian.PutUint32(l4[4:], seq)
	binary.BigEndian.PutUint32(l4[8:], ack)
	l4[12] = TCPMinSize / 4 << 4
	l4[13] = uint8(flags)
	binary.BigEndian.PutUint16(l4[14:], 0xffff)
	copy(l4[TCPMinSize:], payload)
	b, err := ipv4(src.Addr(), dst.Addr(), ProtoTCP, l4)
	if err != nil {
		return nil, err
	}
	p := IPv4(b)
	binary.BigEndian.PutUint16(b[IPv4MinSize+16:], Checksum(p.Payload(), p.pseudo()))
	return b, nil
}
