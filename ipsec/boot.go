package ipsec

import "fmt"

// BootMode is the bootmode property of `set config` (reference 3.7):
// what the data path does with traffic from start-up until the first
// policy is applied. The store keeps it, the driver enforces it.
type BootMode uint8

// Boot modes. The zero value is invalid.
const (
	// BootStateful allows outbound traffic and the inbound packets of
	// the connections it started, plus the boot exemptions and DHCP. The
	// default.
	BootStateful BootMode = iota + 1
	// BootBlock drops everything in both directions except loopback,
	// the boot exemptions and DHCP.
	BootBlock
	// BootPermit passes everything.
	BootPermit
)

// String returns the netsh word in lower case.
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

// MarshalText writes the netsh word.
func (m BootMode) MarshalText() ([]byte, error) {
	if !m.Valid() {
		return nil, fmt.Errorf("invalid boot mode %d", uint8(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText reads the netsh word.
func (m *BootMode) UnmarshalText(b []byte) error {
	for v := BootStateful; v <= BootPermit; v++ {
		if v.String() == string(b) {
			*m = v
			return nil
		}
	}
	return fmt.Errorf("invalid boot mode %q", b)
}

// BootExemption is one entry of bootexemptions: traffic the data path lets
// through in block and stateful boot mode, netsh's
// Protocol:SrcPort:DstPort:Direction. Protocol ProtoAny is every protocol,
// a zero port any port (ports only with TCP and UDP). The data path
// mirrors it: an inbound exemption also lets its replies out.
type BootExemption struct {
	Protocol  Protocol  `json:"protocol"`
	SrcPort   uint16    `json:"srcport"`
	DstPort   uint16    `json:"dstport"`
	Direction Direction `json:"direction"`
}

// String returns the entry as netsh writes it, e.g. TCP:0:22:inbound.
func (e BootExemption) String() string {
	return fmt.Sprintf("%s:%d:%d:%s", e.Protocol, e.SrcPort, e.DstPort, e.Direction)
}
