package esp

import "fmt"

// UDP encapsulation of ESP for NAT traversal (RFC 3948).
//
// On port 4500 three kinds of payload share one socket (RFC 3948 section
// 2): ESP packets, whose first four bytes are a non-zero SPI; IKE messages
// behind a four-byte zero Non-ESP Marker; and one-byte 0xFF NAT-keepalives.

// NATTPort is the UDP port of IKE and UDP-encapsulated ESP after NAT
// detection (RFC 3948 section 2.1, RFC 3947).
const NATTPort = 4500

// NonESPMarkerLen is the length of the zero Non-ESP Marker in front of IKE
// messages on port 4500 (RFC 3948 section 2.2).
const NonESPMarkerLen = 4

// Kind classifies a UDP payload received on the NAT-T port.
type Kind uint8

// Payload kinds. The zero value is invalid.
const (
	KindESP       Kind = iota + 1 // an ESP packet, SPI first
	KindIKE                       // an IKE message behind the Non-ESP Marker
	KindKeepalive                 // a NAT-keepalive (RFC 3948 section 2.3)
)

// String returns "esp", "ike" or "keepalive".
func (k Kind) String() string {
	switch k {
	case KindESP:
		return "esp"
	case KindIKE:
		return "ike"
	case KindKeepalive:
		return "keepalive"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ClassifyUDPPayload sorts a UDP payload from port 4500 (the bytes after
// the UDP header, as a UDP socket returns them). For KindESP body is the
// whole ESP packet, for KindIKE the IKE message after the marker, for
// KindKeepalive nil; all alias payload. A payload that is neither a
// keepalive nor long enough for an ESP header or a marker is ErrShort.
func ClassifyUDPPayload(payload []byte) (kind Kind, body []byte, err error) {
	switch {
	case len(payload) == 1 && payload[0] == 0xff:
		return KindKeepalive, nil, nil
	case len(payload) >= NonESPMarkerLen &&
		payload[0]|payload[1]|payload[2]|payload[3] == 0:
		return KindIKE, payload[NonESPMarkerLen:], nil
	case len(payload) >= HeaderLen:
		return KindESP, payload, nil
	}
	return 0, nil, ErrShort
}

// DecodeUDPEncap validates the UDP header of datagram (header first, as a
// raw socket or TUN device delivers it after the IP header) and classifies
// its payload like ClassifyUDPPayload. Ports are not checked: after a NAT
// the source port is arbitrary. The UDP checksum is not verified; RFC 3948
// section 2.1 has senders set it to zero.
func DecodeUDPEncap(datagram []byte) (kind Kind, body []byte, err error) {
	u := UDP(datagram)
	if len(u) < UDPHeaderLen {
		return 0, nil, ErrShort
	}
	if !u.IsValid() {
		return 0, nil, ErrMalformed
	}
	return ClassifyUDPPayload(u.Payload())
}

// EncodeUDPEncap writes the RFC 3948 section 2.1 UDP header into
// b[:UDPHeaderLen] for a datagram of len(b) bytes (header plus ESP packet):
// the given ports, the length, and checksum zero.
func EncodeUDPEncap(b []byte, srcPort, dstPort uint16) error {
	if len(b) < UDPHeaderLen {
		return ErrShort
	}
	if len(b) > ipv4MaxTotalSize-IPv4MinimumSize {
		return ErrTooBig
	}
	UDP(b).Encode(&UDPFields{SrcPort: srcPort, DstPort: dstPort, Length: uint16(len(b))})
	return nil
}

// SealTunnelUDP is SealTunnel with UDP encapsulation (RFC 3948 section
// 3.1.2): outer IPv4 header (protocol 17), UDP header from srcPort to
// dstPort with checksum zero, then the ESP packet protecting inner.
func (sa *SA) SealTunnelUDP(dst []byte, outer IPv4Fields, srcPort, dstPort uint16, inner []byte) ([]byte, error) {
	if !outer.Src.Is4() || !outer.Dst.Is4() {
		return dst, ErrNotIPv4
	}
	in := IPv4(inner)
	if !in.IsValid() {
		return dst, ErrMalformed
	}
	inner = inner[:in.TotalLength()]

	sa.mu.Lock()
	defer sa.mu.Unlock()
	const hdrs = IPv4MinimumSize + UDPHeaderLen
	n := hdrs + sa.SealedLen(len(inner))
	if n > ipv4MaxTotalSize {
		return dst, ErrTooBig
	}
	ret, out := sliceForAppend(dst, n)
	if _, err := sa.sealLocked(out[hdrs:hdrs], inner, ProtocolIPv4); err != nil {
		return dst, err
	}
	UDP(out[IPv4MinimumSize:]).Encode(&UDPFields{SrcPort: srcPort, DstPort: dstPort, Length: uint16(n - IPv4MinimumSize)})
	outer.Protocol = ProtocolUDP
	outer.TotalLength = uint16(n)
	IPv4(out).Encode(&outer)
	return ret, nil
}
