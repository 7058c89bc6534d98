// Package sadb holds the two IPsec databases of RFC 4301 section 4.4 as
// separate types, in the manner of strongSwan libipsec's policy and SA
// managers:
//
//   - SPD, the Security Policy Database (RFC 4301 section 4.4.1): an
//     immutable, compiled snapshot of filter entries ordered from most to
//     least specific, as the Windows IPsec service orders its filters. A
//     packet's selector fields (Fields, from ParseIPv4) find the first
//     matching entry with Lookup, which takes no lock and does not
//     allocate. The owner swaps snapshots with an atomic.Pointer.
//   - SAD, the Security Association Database (RFC 4301 section 4.4.2):
//     SAs found by (SPI, destination) inbound and by a flow reference
//     outbound, with soft and hard lifetimes in bytes and time reported
//     through a callback.
//
// Exempt implements the default exemptions of the ipsecexempt setting
// (NoDefaultExempt), which are checked before the SPD.
//
// The package is IPv4-only, like netsh ipsec on Windows Server 2003. It
// imports no engine package: events go up through the callback given to
// NewSAD.
package sadb

import (
	"errors"
	"fmt"
)

// Direction is the direction of traffic a policy or SA applies to, seen
// from this host.
type Direction uint8

// Directions. The zero value is invalid.
const (
	Outbound Direction = iota + 1 // leaving the host: read from the TUN device
	Inbound                       // arriving at the host: delivered to the TUN device
)

func (d Direction) String() string {
	switch d {
	case Outbound:
		return "outbound"
	case Inbound:
		return "inbound"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// valid reports whether d is Outbound or Inbound.
func (d Direction) valid() bool { return d == Outbound || d == Inbound }

// Errors. Compile and SAD methods wrap them with the offending value.
var (
	ErrTruncated  = errors.New("sadb: truncated packet")
	ErrNotIPv4    = errors.New("sadb: not an IPv4 packet")
	ErrHeader     = errors.New("sadb: malformed IPv4 header")
	ErrSelector   = errors.New("sadb: invalid selector")
	ErrEntry      = errors.New("sadb: invalid policy entry")
	ErrSPI        = errors.New("sadb: invalid SPI")
	ErrLifetime   = errors.New("sadb: invalid lifetime")
	ErrExists     = errors.New("sadb: SA already exists")
	ErrNotFound   = errors.New("sadb: SA not found")
	ErrBadAddress = errors.New("sadb: invalid address")
	ErrDirection  = errors.New("sadb: invalid direction")

	ErrBootExemption = errors.New("sadb: invalid boot exemption")
)
