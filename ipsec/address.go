package ipsec

import (
	"fmt"
	"net/netip"
)

// AddrKind says what an address selector names.
type AddrKind uint8

// Address selector kinds. The zero value is invalid.
const (
	AddrIP      AddrKind = iota + 1 // a literal address (with a mask beside it)
	AddrMe                          // this computer's addresses
	AddrAny                         // every address
	AddrDNSName                     // a DNS name, resolved when the command ran
	AddrDNS                         // server type: the DNS servers
	AddrWINS                        // server type: the WINS servers
	AddrDHCP                        // server type: the DHCP server
	AddrGateway                     // server type: the default gateway
)

// IsServerType reports whether k is one of DNS, WINS, DHCP, GATEWAY.
func (k AddrKind) IsServerType() bool { return k >= AddrDNS && k <= AddrGateway }

// Address is one side of a filter: a literal IP, me, any, a DNS name with the
// address it resolved to, or a server type.
type Address struct {
	Kind AddrKind
	IP   netip.Addr // AddrIP, and AddrDNSName once resolved
	Name string     // AddrDNSName: the name as typed
}

// IsValid reports whether a is a usable selector.
func (a Address) IsValid() bool { return a.Kind != 0 }

// String returns the netsh input form (for dump and JSON).
func (a Address) String() string {
	switch a.Kind {
	case AddrIP:
		return a.IP.String()
	case AddrMe:
		return "me"
	case AddrAny:
		return "any"
	case AddrDNSName:
		return a.Name
	case AddrDNS:
		return "dns"
	case AddrWINS:
		return "wins"
	case AddrDHCP:
		return "dhcp"
	case AddrGateway:
		return "gateway"
	}
	return fmt.Sprintf("Address(%d)", a.Kind)
}

// Display returns what `show` prints on an "IP Address" line.
func (a Address) Display(mask Mask) string {
	switch a.Kind {
	case AddrIP:
		if mask == 0 && a.IP == netip.IPv4Unspecified() {
			return "<Any IP Address>"
		}
		return a.IP.String()
	case AddrMe:
		return "<My IP Address>"
	case AddrAny:
		return "<Any IP Address>"
	case AddrDNSName:
		if a.IP.IsValid() {
			return a.IP.String()
		}
		return a.Name
	case AddrDNS:
		return "<DNS Servers>"
	case AddrWINS:
		return "<WINS Servers>"
	case AddrDHCP:
		return "<DHCP Server>"
	case AddrGateway:
		return "<Default Gateway>"
	}
	return ""
}

// Mask is an IPv4 prefix length 0-32. netsh accepts dotted masks and
// prefix lengths; only contiguous masks exist in this model.
type Mask uint8

// Dotted returns the mask as a dotted quad.
func (m Mask) Dotted() string {
	v := uint32(0)
	if m > 0 {
		v = ^uint32(0) << (32 - uint32(m))
	}
	return fmt.Sprintf("%d.%d.%d.%d", byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// DefaultMask is the mask netsh assumes when none is given: /32 for a single
// address, /0 for any (and me and server types, whose mask is not used).
func DefaultMask(a Address) Mask {
	if a.Kind == AddrAny {
		return 0
	}
	if a.Kind == AddrIP && a.IP == netip.IPv4Unspecified() {
		return 0
	}
	return 32
}

// AuthKind is an IKE authentication method of a rule.
type AuthKind uint8

// Authentication methods.
const (
	AuthKerberos AuthKind = iota + 1
	AuthPSK
	AuthRootCA
)

func (k AuthKind) String() string {
	switch k {
	case AuthKerberos:
		return "kerberos"
	case AuthPSK:
		return "psk"
	case AuthRootCA:
		return "rootca"
	}
	return fmt.Sprintf("AuthKind(%d)", uint8(k))
}

// AuthMethod is one entry of a rule's ordered authentication list.
type AuthMethod struct {
	Kind          AuthKind
	PSK           string // AuthPSK
	CA            string // AuthRootCA: the CA distinguished name
	CertMap       bool   // AuthRootCA: certmap:yes
	ExcludeCAName bool   // AuthRootCA: excludecaname:yes
}
