package ah

import "encoding/binary"

// AH header offsets (RFC 4302 section 2).
const (
	ahNextHeader = 0
	ahPayloadLen = 1
	ahReserved   = 2
	ahSPI        = 4
	ahSeqNum     = 8
	ahICV        = 12

	// HeaderLen is the length of the fixed AH header before the ICV: Next
	// Header, Payload Len, Reserved, SPI and Sequence Number.
	HeaderLen = 12
)

// Header is a view of an AH header, ICV included. Call IsValid before any
// accessor.
type Header []byte

// HeaderFields are the values Header.Encode writes.
type HeaderFields struct {
	NextHeader uint8
	ICVLen     int // a multiple of 4 for IPv4 (RFC 4302 section 2.6)
	SPI        uint32
	SeqNum     uint32
}

// IsValid reports whether b holds a whole AH header: the fixed part and
// the ICV that Payload Len announces.
func (b Header) IsValid() bool {
	return len(b) >= HeaderLen && b.Len() >= HeaderLen && b.Len() <= len(b)
}

// NextHeader returns the protocol of what follows the AH header.
func (b Header) NextHeader() uint8 { return b[ahNextHeader] }

// PayloadLen returns the Payload Len field: the AH length in 32-bit words
// minus 2 (RFC 4302 section 2.2).
func (b Header) PayloadLen() uint8 { return b[ahPayloadLen] }

// Len returns the AH header length in bytes that Payload Len announces.
func (b Header) Len() int { return (int(b[ahPayloadLen]) + 2) * 4 }

// SPI returns the Security Parameters Index.
func (b Header) SPI() uint32 { return binary.BigEndian.Uint32(b[ahSPI:]) }

// SeqNum returns the (low 32 bits of the) sequence number.
func (b Header) SeqNum() uint32 { return binary.BigEndian.Uint32(b[ahSeqNum:]) }

// ICV returns the Integrity Check Value field; it aliases b.
func (b Header) ICV() []byte { return b[ahICV:b.Len()] }

// Encode writes the header from f into b[:HeaderLen+f.ICVLen] with a zero
// ICV field.
func (b Header) Encode(f *HeaderFields) {
	n := HeaderLen + f.ICVLen
	b[ahNextHeader] = f.NextHeader
	b[ahPayloadLen] = byte(n/4 - 2)
	binary.BigEndian.PutUint16(b[ahReserved:], 0)
	binary.BigEndian.PutUint32(b[ahSPI:], f.SPI)
	binary.BigEndian.PutUint32(b[ahSeqNum:], f.SeqNum)
	clear(b[ahICV:n])
}
