package sadb

// Boot mode: what the host does with traffic from start-up until the first
// policy is applied, the bootmode and bootexemptions settings of `netsh
// ipsec dynamic set config` (reference sections 3.7 and 4.4).

import (
	"fmt"

	"github.com/gonetsh/gonetsh/ipsec"
)

// BootMode is the bootmode setting. Its values equal those of
// store.BootMode, so a conversion carries it over.
type BootMode uint8

// Boot modes. The zero value is invalid.
const (
	// BootStateful allows outbound traffic and the inbound packets of
	// the connections it started (conntrack established or related),
	// plus the boot exemptions and DHCP; other inbound traffic is
	// dropped. The default.
	BootStateful BootMode = iota + 1
	// BootBlock drops everything in both directions except loopback,
	// the boot exemptions and DHCP.
	BootBlock
	// BootPermit passes everything.
	BootPermit
)

// String returns the netsh word: "stateful", "block" or "permit".
func (m BootMode) String() string {
	switch m {
	case BootStateful:
		return "stateful"
	case BootBlock:
		return "block"
	case BootPermit:
		return "permit"
	}
	return fmt.Sprintf("BootMode(%d)", uint8(m))
}

// Valid reports whether m is one of the three modes.
func (m BootMode) Valid() bool { return m >= BootStateful && m <= BootPermit }

// BootExemption is one entry of bootexemptions, netsh's
// Protocol:SrcPort:DstPort:Direction, as store.BootExemption keeps it.
//
// An exemption is mirrored: an inbound one lets in the packets it
// describes and lets out the packets going back (addresses and ports
// swapped), an outbound one the other way round, as a mirrored filter
// does. Without the mirror an exempted TCP port could receive a SYN but
// never answer it in block mode.
type BootExemption struct {
	// Protocol is the IP protocol; ipsec.ProtoAny means every one.
	Protocol ipsec.Protocol
	// SrcPort and DstPort are TCP or UDP ports of the packets in Dir; 0
	// means any. They must be 0 for other protocols.
	SrcPort, DstPort uint16
	// Dir is the direction of the packets described, seen from this
	// host.
	Dir Direction
}

// String returns the netsh form, e.g. "TCP:0:22:inbound".
func (e BootExemption) String() string {
	return fmt.Sprintf("%v:%d:%d:%v", e.Protocol, e.SrcPort, e.DstPort, e.Dir)
}

// Validate reports why e cannot be enforced, wrapping ErrBootExemption, or
// returns nil.
func (e BootExemption) Validate() error {
	if !e.Dir.valid() {
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
