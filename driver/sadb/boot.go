package sadb

// Boot mode: what the host does with traffic from start-up until the first
// policy is applied, the bootmode and bootexemptions settings of `netsh
// ipsec dynamic set config` (reference sections 3.7 and 4.4).

import (
	"fmt"

	"github.com/gonetsh/gonetsh/ipsec"
)

// BootMode and BootExemption are the leaf types of package ipsec, as
// `set config` stores them.
type (
	BootMode      = ipsec.BootMode
	BootExemption = ipsec.BootExemption
)

// Boot modes.
const (
	BootStateful = ipsec.BootStateful
	BootBlock    = ipsec.BootBlock
	BootPermit   = ipsec.BootPermit
)

// ValidateBootExemption reports why e cannot be enforced, wrapping
// ErrBootExemption, or returns nil.
func ValidateBootExemption(e BootExemption) error {
	if !Direction(e.Direction).valid() {
		return fmt.Errorf("%w: %v: direction", ErrBootExemption, e)
	}
	if (e.SrcPort != 0 || e.DstPort != 0) && !e.Protocol.HasPorts() {
		return fmt.Errorf("%w: %v: ports need TCP or UDP", ErrBootExemption, e)
	}
	return nil
}

// DHCP ports (RFC 2131 section 4.1): the server listens on 67, the client
// on 68. DHCP passes in every boot mode, both ways, so that the host can
// get an address before its policy arrives.
const (
	PortDHCPServer = 67
	PortDHCPClient = 68
)
