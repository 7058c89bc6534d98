package esp

import (
	"encoding/binary"
	"net/netip"
)

// Header views in the style of gVisor's tcpip/header package: a named
// []byte with getters and setters at named offsets. A view never copies and
// never allocates; call IsValid before any accessor, which otherwise may
// panic on a short slice like any slice expression.
//
// References:
//   - RFC 791 (IPv4 header), RFC 1071 (Internet checksum)
//   - RFC 4303 section 2 (ESP packet format)
//   - RFC 768 (UDP header), RFC 3948 section 2 (UDP-encapsulated ESP)

// IP protocol numbers used by the data path (IANA "Assigned Internet
// Protocol Numbers").
const (
	ProtocolICMP   = 1
	ProtocolIPv4   = 4 // IP in IP: the Next Header of a tunnel-mode SA
	ProtocolTCP    = 6
	ProtocolUDP    = 17 // UDP, also the outer protocol of RFC 3948 NAT-T
	ProtocolESP    = 50 // RFC 4303
	ProtocolAH     = 51 // RFC 4302
	ProtocolNoNext = 59 // RFC 4303 section 2.6: dummy packet, to be dropped
)

// DefaultTTL is the TTL IPv4.Encode writes when IPv4Fields.TTL is 0.
const DefaultTTL = 64

const (
	ipv4Version      = 4
	ipv4MaxTotalSize = 0xffff
)

// ESP header offsets (RFC 4303 section 2).
const (
	espSPI    = 0
	espSeqNum = 4

	// HeaderLen is the length of the fixed ESP header: SPI and Sequence
	// Number. The IV, when the cipher has one, follows it.
	HeaderLen = 8

	// TrailerLen is the minimum ESP trailer: Pad Length and Next Header.
	TrailerLen = 2
)

// Header is a view of the start of an ESP packet.
type Header []byte

// IsValid reports whether the view is long enough for the fixed header.
func (b Header) IsValid() bool { return len(b) >= HeaderLen }

// SPI returns the Security Parameters Index.
func (b Header) SPI() uint32 { return binary.BigEndian.Uint32(b[espSPI:]) }

// SeqNum returns the (low 32 bits of the) sequence number.
func (b Header) SeqNum() uint32 { return binary.BigEndian.Uint32(b[espSeqNum:]) }

// SetSPI sets the Security Parameters Index.
func (b Header) SetSPI(spi uint32) { binary.BigEndian.PutUint32(b[espSPI:], spi) }

// SetSeqNum sets the sequence number field.
func (b Header) SetSeqNum(seq uint32) { binary.BigEndian.PutUint32(b[espSeqNum:], seq) }

// IPv4 header offsets (RFC 791 section 3.1).
const (
	ipv4VersIHL   = 0
	ipv4TOS       = 1
	ipv4TotalLen  = 2
	ipv4ID        = 4
	ipv4FlagsFrag = 6
	ipv4TTL       = 8
	ipv4Protocol  = 9
	ipv4Checksum  = 10
	ipv4SrcAddr   = 12
	ipv4DstAddr   = 16

	// IPv4MinimumSize is the length of an IPv4 header without options.
	IPv4MinimumSize = 20
	// IPv4MaximumHeaderSize is the length of an IPv4 header with 40 bytes of
	// options (IHL 15).
	IPv4MaximumHeaderSize = 60

	ipv4FlagMF     = 0x2000 // more fragments
	ipv4FragOffset = 0x1fff // fragment offset mask
	// IPv4FlagDF is the Don't Fragment flag in the flags/fragment word.
	IPv4FlagDF = 0x4000
)

// IPv4 is a view of an IPv4 packet, header first.
type IPv4 []byte

// IPv4Fields are the values IPv4.Encode writes. IHL is always 5 (no
// options) and the checksum is computed.
type IPv4Fields struct {
	TOS         uint8
	TotalLength uint16
	ID          uint16
	Flags       uint16 // the flags/fragment word: IPv4FlagDF or 0
	TTL         uint8  // 0 means DefaultTTL
	Protocol    uint8
	Src, Dst    netip.Addr // must be IPv4
}

// IsValid reports whether b holds a well-formed IPv4 header whose total
// length fits in b: version 4, IHL >= 5, IHL*4 <= TotalLength <= len(b).
// Bytes after TotalLength (link-layer padding) are allowed.
func (b IPv4) IsValid() bool {
	if len(b) < IPv4MinimumSize || b[ipv4VersIHL]>>4 != ipv4Version {
		return false
	}
	hl := b.HeaderLength()
	tl := int(b.TotalLength())
	return hl >= IPv4MinimumSize && hl <= tl && tl <= len(b)
}

// HeaderLength returns the header length in bytes (IHL*4).
func (b IPv4) HeaderLength() int { return int(b[ipv4VersIHL]&0xf) * 4 }

// TOS returns the type of service (DSCP/ECN) byte.
func (b IPv4) TOS() uint8 { return b[ipv4TOS] }

// TotalLength returns the total length field.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[ipv4TotalLen:]) }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[ipv4ID:]) }

// FlagsFragment returns the flags/fragment-offset word.
func (b IPv4) FlagsFragment() uint16 { return binary.BigEndian.Uint16(b[ipv4FlagsFrag:]) }

// IsFragment reports whether the packet is a fragment: MF set or a non-zero
// fragment offset.
func (b IPv4) IsFragment() bool { return b.FlagsFragment()&(ipv4FlagMF|ipv4FragOffset) != 0 }

// TTL returns the time to live.
func (b IPv4) TTL() uint8 { return b[ipv4TTL] }

// Protocol returns the protocol (next header) field.
func (b IPv4) Protocol() uint8 { return b[ipv4Protocol] }

// Checksum returns the header checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[ipv4Checksum:]) }

// Src returns the source address.
func (b IPv4) Src() netip.Addr { return netip.AddrFrom4([4]byte(b[ipv4SrcAddr : ipv4SrcAddr+4])) }

// Dst returns the destination address.
func (b IPv4) Dst() netip.Addr { return netip.AddrFrom4([4]byte(b[ipv4DstAddr : ipv4DstAddr+4])) }

// Payload returns the bytes after the header up to TotalLength.
func (b IPv4) Payload() []byte { return b[b.HeaderLength():b.TotalLength()] }

// SetTotalLength sets the total length field.
func (b IPv4) SetTotalLength(n uint16) { binary.BigEndian.PutUint16(b[ipv4TotalLen:], n) }

// SetProtocol sets the protocol field.
func (b IPv4) SetProtocol(p uint8) { b[ipv4Protocol] = p }

// SetChecksum sets the header checksum field.
func (b IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[ipv4Checksum:], c) }

// SetSrc sets the source address; a is an IPv4 address.
func (b IPv4) SetSrc(a netip.Addr) { s := a.As4(); copy(b[ipv4SrcAddr:], s[:]) }

// SetDst sets the destination address; a is an IPv4 address.
func (b IPv4) SetDst(a netip.Addr) { d := a.As4(); copy(b[ipv4DstAddr:], d[:]) }

// CalculateChecksum returns the RFC 1071 checksum of the header with the
// checksum field taken as zero.
func (b IPv4) CalculateChecksum() uint16 {
	hl := b.HeaderLength()
	sum := checksumAdd(0, b[:ipv4Checksum])
	sum = checksumAdd(sum, b[ipv4Checksum+2:hl])
	return ^checksumFold(sum)
}

// UpdateChecksum recomputes and stores the header checksum.
func (b IPv4) UpdateChecksum() { b.SetChecksum(b.CalculateChecksum()) }

// Encode writes a 20-byte header (IHL 5) from f into b[:IPv4MinimumSize],
// including its checksum. f.Src and f.Dst must be IPv4 addresses.
func (b IPv4) Encode(f *IPv4Fields) {
	ttl := f.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	b[ipv4VersIHL] = ipv4Version<<4 | IPv4MinimumSize/4
	b[ipv4TOS] = f.TOS
	binary.BigEndian.PutUint16(b[ipv4TotalLen:], f.TotalLength)
	binary.BigEndian.PutUint16(b[ipv4ID:], f.ID)
	binary.BigEndian.PutUint16(b[ipv4FlagsFrag:], f.Flags)
	b[ipv4TTL] = ttl
	b[ipv4Protocol] = f.Protocol
	b.SetSrc(f.Src)
	b.SetDst(f.Dst)
	b.SetChecksum(0)
	b.UpdateChecksum()
}

// checksumAdd adds b to the running one's-complement sum (RFC 1071),
// treating an odd trailing byte as padded with zero.
func checksumAdd(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func checksumFold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// Checksum returns the RFC 1071 Internet checksum of b.
func Checksum(b []byte) uint16 { return ^checksumFold(checksumAdd(0, b)) }

// UDP header offsets (RFC 768).
const (
	udpSrcPort  = 0
	udpDstPort  = 2
	udpLength   = 4
	udpChecksum = 6

	// UDPHeaderLen is the length of a UDP header.
	UDPHeaderLen = 8
)

// UDP is a view of a UDP datagram, header first.
type UDP []byte

// IsValid reports whether b holds a UDP header whose length field covers
// the header and fits in b.
func (b UDP) IsValid() bool {
	if len(b) < UDPHeaderLen {
		return false
	}
	n := int(b.Length())
	return n >= UDPHeaderLen && n <= len(b)
}

// SrcPort returns the source port.
func (b UDP) SrcPort() uint16 { return binary.BigEndian.Uint16(b[udpSrcPort:]) }

// DstPort returns the destination port.
func (b UDP) DstPort() uint16 { return binary.BigEndian.Uint16(b[udpDstPort:]) }

// Length returns the length field (header plus payload).
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[udpLength:]) }

// Checksum returns the checksum field.
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[udpChecksum:]) }

// Payload returns the bytes after the header up to Length.
func (b UDP) Payload() []byte { return b[UDPHeaderLen:b.Length()] }

// SetSrcPort sets the source port.
func (b UDP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(b[udpSrcPort:], p) }

// SetDstPort sets the destination port.
func (b UDP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(b[udpDstPort:], p) }

// SetLength sets the length field.
func (b UDP) SetLength(n uint16) { binary.BigEndian.PutUint16(b[udpLength:], n) }

// SetChecksum sets the checksum field.
func (b UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[udpChecksum:], c) }

// UDPFields are the values UDP.Encode writes.
type UDPFields struct {
	SrcPort, DstPort uint16
	Length           uint16
	Checksum         uint16
}

// Encode writes the 8-byte header from f into b[:UDPHeaderLen].
func (b UDP) Encode(f *UDPFields) {
	b.SetSrcPort(f.SrcPort)
	b.SetDstPort(f.DstPort)
	b.SetLength(f.Length)
	b.SetChecksum(f.Checksum)
}
