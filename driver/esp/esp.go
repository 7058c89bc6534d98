// Package esp implements IP Encapsulating Security Payload packet
// protection (RFC 4303) for the TUN data path: per-direction security
// associations that seal and open ESP packets with zero allocations per
// packet, IPv4 tunnel- and transport-mode framing, and UDP encapsulation for
// NAT traversal (RFC 3948).
//
// Algorithms:
//   - DES-CBC, 3DES-CBC (RFC 2451) and AES-CBC 128/192/256 (RFC 3602), with
//     HMAC-MD5-96 (RFC 2403), HMAC-SHA1-96 (RFC 2404) or HMAC-SHA-256-128
//     (RFC 4868), or with no integrity (confidentiality only, which
//     RFC 4303 section 3.2 permits but which disables anti-replay
//     protection in practice and exists here for the RFC 3602 vectors);
//   - NULL encryption (RFC 2410) with one of the HMACs;
//   - AES-GCM 128/256 with a 16-byte ICV (RFC 4106).
//
// Processing order on receipt (RFC 4303 section 3.4): SPI, sequence number
// against the replay window (Check), ICV in constant time, decryption,
// padding, and only then the window update (Commit), so a packet that fails
// its ICV never moves the window.
//
// Tunnel and transport mode differ only in the Next Header value and in
// what the caller wraps: a whole inner IPv4 packet with Next Header 4 for
// tunnel mode, the upper-layer payload with its protocol number for
// transport mode. SA.SealTunnel, SA.SealTransport and their Open
// counterparts do that framing for IPv4.
package esp

import (
	"errors"
	"fmt"
)

// Errors returned by Seal and Open. Per-packet errors are returned as is
// (never wrapped) so that the hot path does not allocate; compare with ==
// or errors.Is.
var (
	ErrShort        = errors.New("esp: packet too short")
	ErrMalformed    = errors.New("esp: malformed packet")
	ErrSPI          = errors.New("esp: SPI does not match the SA")
	ErrReplay       = errors.New("esp: replayed or out-of-window sequence number")
	ErrAuth         = errors.New("esp: integrity check failed")
	ErrPadding      = errors.New("esp: invalid padding")
	ErrSeqOverflow  = errors.New("esp: sequence number space exhausted, rekey")
	ErrDirection    = errors.New("esp: operation not valid for the SA direction")
	ErrWiped        = errors.New("esp: SA keys wiped")
	ErrFragment     = errors.New("esp: IPv4 fragment")
	ErrProtocol     = errors.New("esp: unexpected protocol")
	ErrTooBig       = errors.New("esp: packet exceeds the IPv4 maximum")
	ErrNoNextHeader = errors.New("esp: dummy packet (next header 59)")
	ErrNotIPv4      = errors.New("esp: address is not IPv4")
	ErrAlgorithm    = errors.New("esp: unsupported algorithm")
	ErrKeyLen       = errors.New("esp: wrong key length")
)

// Direction says which way an SA protects traffic.
type Direction uint8

// Directions. The zero value is invalid.
const (
	Outbound Direction = iota + 1 // Seal only
	Inbound                       // Open only
)

// String returns "outbound" or "inbound".
func (d Direction) String() string {
	switch d {
	case Outbound:
		return "outbound"
	case Inbound:
		return "inbound"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// Stats are an SA's counters.
type Stats struct {
	Packets      uint64 // packets sealed (outbound) or accepted by ESP processing (inbound)
	Bytes        uint64 // payload bytes before ESP framing, sealed or accepted
	ReplayDrops  uint64 // inbound: duplicates and packets older than the window
	AuthFailures uint64 // inbound: ICV mismatches
	Invalid      uint64 // inbound: short, malformed, wrong SPI, bad padding; bad outer or inner IPv4 in the framing helpers
	Seq          uint64 // outbound: last sequence number sent; inbound: highest accepted
}
