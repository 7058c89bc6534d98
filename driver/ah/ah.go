// Package ah implements the IP Authentication Header (RFC 4302) for IPv4
// in transport and tunnel mode: per-direction SAs that insert and verify
// AH with HMAC-MD5-96 (RFC 2403), HMAC-SHA1-96 (RFC 2404) or
// HMAC-SHA-256-128 (RFC 4868), with an anti-replay window and optional
// Extended Sequence Numbers, and no allocation per packet.
//
// The ICV covers (RFC 4302 section 3.3.3) the IPv4 header with its mutable
// fields zeroed (TOS, flags and fragment offset, TTL, checksum, and the
// mutable options of Appendix A.1), the AH header with a zero ICV field,
// the payload, and with ESN the high 32 bits of the sequence number.
//
// On receipt (RFC 4302 section 3.4): SPI, sequence number against the
// replay window (Check), ICV in constant time, and only then the window
// update (Commit).
package ah

import "errors"

// Errors returned by the SA methods. Per-packet errors are returned as is
// (never wrapped) so that the hot path does not allocate.
var (
	ErrShort       = errors.New("ah: packet too short")
	ErrMalformed   = errors.New("ah: malformed packet")
	ErrSPI         = errors.New("ah: SPI does not match the SA")
	ErrReplay      = errors.New("ah: replayed or out-of-window sequence number")
	ErrAuth        = errors.New("ah: integrity check failed")
	ErrSeqOverflow = errors.New("ah: sequence number space exhausted, rekey")
	ErrDirection   = errors.New("ah: operation not valid for the SA direction")
	ErrWiped       = errors.New("ah: SA keys wiped")
	ErrFragment    = errors.New("ah: IPv4 fragment")
	ErrProtocol    = errors.New("ah: unexpected protocol")
	ErrTooBig      = errors.New("ah: packet exceeds the IPv4 maximum")
	ErrNotIPv4     = errors.New("ah: address is not IPv4")
	ErrAlgorithm   = errors.New("ah: unsupported algorithm")
	ErrKeyLen      = errors.New("ah: wrong key length")
)
