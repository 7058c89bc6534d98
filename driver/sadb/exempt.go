package sadb

// Default exemptions from IPsec filtering: the ipsecexempt setting of
// `netsh ipsec dynamic set config`, registry value NoDefaultExempt
// (reference section 4.5, KB 810207 and 811832).

import (
	"fmt"
	"net/netip"

	"github.com/gonetsh/gonetsh/ipsec"
)

// ExemptLevel is the ipsecexempt value 0-3.
type ExemptLevel uint8

// Exemption levels. Every level exempts IKE.
const (
	ExemptAll          ExemptLevel = 0 // multicast, broadcast, RSVP, Kerberos, IKE (Windows 2000/XP)
	ExemptMulticastIKE ExemptLevel = 1 // multicast, broadcast, IKE
	ExemptKerberosIKE  ExemptLevel = 2 // RSVP, Kerberos, IKE
	ExemptIKEOnly      ExemptLevel = 3 // IKE only (Windows Server 2003 default)

	DefaultExemptLevel = ExemptIKEOnly
)

// Exempted traffic classes.
const (
	protoRSVP    = ipsec.Protocol(46)
	portIKE      = 500
	portNATT     = 4500 // RFC 3947/3948 NAT traversal
	portKerberos = 88
)

// String returns the number netsh shows, or ExemptLevel(n) out of range.
func (l ExemptLevel) String() string {
	if l <= ExemptIKEOnly {
		return fmt.Sprintf("%d", uint8(l))
	}
	return fmt.Sprintf("ExemptLevel(%d)", uint8(l))
}

// Exempt reports whether a packet with fields f bypasses the SPD at the
// given level:
//
//   - IKE, UDP with source or destination port 500 or 4500 (NAT-T): at
//     every level;
//   - Kerberos, TCP or UDP with source or destination port 88, and RSVP,
//     IP protocol 46: at levels 0 and 2;
//   - multicast, a destination in 224.0.0.0/4, and broadcast, destination
//     255.255.255.255 or the directed broadcast address of one of the
//     local prefixes (those of length 30 or less): at levels 0 and 1.
//
// local are the host's interface prefixes, e.g. 192.168.1.10/24; non-IPv4
// entries are ignored. A level above 3 behaves as 3, the default. Fields
// without IPv4 addresses, and the ports of non-initial fragments, are
// never exempt. Exempt does not allocate.
func Exempt(f Fields, level ExemptLevel, local []netip.Prefix) bool {
	if !f.Src.Is4() || !f.Dst.Is4() {
		return false
	}
	if level > ExemptIKEOnly {
		level = ExemptIKEOnly
	}
	ports := !f.NonInitialFragment && f.Protocol.HasPorts()
	either := func(p uint16) bool { return f.SrcPort == p || f.DstPort == p }

	if ports && f.Protocol == ipsec.ProtoUDP && (either(portIKE) || either(portNATT)) {
		return true
	}
	if level == ExemptAll || level == ExemptKerberosIKE {
		if f.Protocol == protoRSVP || ports && either(portKerberos) {
			return true
		}
	}
	if level == ExemptAll || level == ExemptMulticastIKE {
		return f.Dst.IsMulticast() || isBroadcast(f.Dst, local)
	}
	return false
}

// isBroadcast reports whether dst is the limited broadcast address or the
// directed broadcast address of an IPv4 prefix in local.
func isBroadcast(dst netip.Addr, local []netip.Prefix) bool {
	d := be32(dst.As4())
	if d == 0xffffffff {
		return true
	}
	for _, p := range local {
		if !p.IsValid() || !p.Addr().Is4() || p.Bits() > 30 {
			continue
		}
		bcast := be32(p.Addr().As4()) | ^mask(p.Bits())
		if d == bcast {
			return true
		}
	}
	return false
}
