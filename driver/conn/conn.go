// Package conn is the wire side of the ESP data path: the boundary between
// the driver and the network, in the batch shape of wireguard-go's
// conn.Bind. Two kinds of packet cross it:
//
//   - KindUDP: UDP datagrams on the NAT-T port 4500 (RFC 3948). Their
//     payload is an ESP packet (SPI first), an IKE message behind the
//     4-byte zero Non-ESP Marker, or a one-byte 0xFF NAT-keepalive. The
//     wire moves payloads only; the system builds the IP and UDP headers.
//   - KindIP: whole IPv4 packets, header first: ESP (protocol 50), AH
//     (51), and the cleartext packets the policy permits.
//
// Sorting a datagram into ESP, IKE and keepalive is the driver's work, not
// the wire's (esp.ClassifyUDPPayload).
//
// # Linux implementation
//
// NewLinux (linux.go) needs no UDP_ENCAP socket option and no kernel XFRM
// state. A plain UDP socket bound to port 4500 with IP_PKTINFO, IP_RECVTOS
// and IP_RECVTTL (and IP_PKTINFO, IP_TOS, IP_TTL as control messages on
// sendmsg) carries the KindUDP side; raw sockets carry the KindIP side:
// IPPROTO_ESP and IPPROTO_AH sockets to receive (the kernel hands them the
// whole IPv4 packet), an IPPROTO_RAW socket (IP_HDRINCL implied) to send
// ESP, AH and permitted cleartext. All of them may set SO_MARK so that an
// `ip rule fwmark` sends the driver's own packets out of the physical
// interface instead of back into the TUN device the policy routes
// protected prefixes to (transport mode needs that; a tunnel whose
// endpoints are outside the protected prefixes does not). Cleartext
// packets arriving on the physical interface do not pass through a raw
// socket (it only sees copies); their enforcement needs a netfilter hook
// and is outside this interface.
//
// Every socket moves batches: sendmmsg(2) out, recvmmsg(2) in
// (mmsg_linux.go). On the UDP socket consecutive datagrams of one Send
// with the same endpoint and size leave as one UDP_SEGMENT (GSO) message,
// and a UDP_GRO aggregate received is cut into its datagrams again; a
// kernel without them gets one datagram per message.
package conn

import (
	"errors"
	"fmt"
	"net/netip"
)

// NATTPort is the UDP port of UDP-encapsulated ESP and of IKE after NAT
// detection (RFC 3948 section 2.1).
const NATTPort = 4500

// Kind says how a packet travels on the wire.
type Kind uint8

// Packet kinds. The zero value is invalid.
const (
	KindIP  Kind = iota + 1 // a whole IPv4 packet, header first
	KindUDP                 // the payload of a UDP datagram on port 4500
)

// String returns "ip" or "udp".
func (k Kind) String() string {
	switch k {
	case KindIP:
		return "ip"
	case KindUDP:
		return "udp"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Endpoint says where one packet comes from or goes to. It is a small
// comparable value: passing it never allocates.
type Endpoint struct {
	Kind Kind

	// Local and Remote are the addresses of a KindUDP datagram. On
	// receipt: the local address and port it arrived at (IP_PKTINFO) and
	// its sender, who may sit behind a NAT. On Send: the source (an
	// invalid address lets the system choose; port 0 means NATTPort) and
	// the destination. KindIP packets carry their addresses in their
	// header and leave both zero.
	Local, Remote netip.AddrPort

	// TOS and TTL are those of the outer IPv4 header of a KindUDP
	// datagram: as received, or to be sent (0 means the system default).
	// They let a transport-mode packet keep its DSCP/ECN and TTL across
	// UDP encapsulation, where the driver never sees the outer header.
	TOS, TTL uint8
}

// ReceiveFunc receives up to len(bufs) packets, at most BatchSize, into
// bufs[i][:sizes[i]] with their endpoints in eps[i]. It blocks until at
// least one packet is available or the wire is closed, and returns the
// number of packets received; len(sizes) and len(eps) must be at least
// len(bufs).
//
// The caller owns bufs, sizes and eps; the wire keeps no reference after
// the call returns. Each bufs[i] should have room for the largest packet
// (65535 bytes); a packet that does not fit is dropped and reported as
// io.ErrShortBuffer. n > 0 and err != nil may come together: the first n
// packets are valid. After Close it returns an error satisfying
// errors.Is(err, net.ErrClosed).
//
// A ReceiveFunc is not safe for concurrent use with itself; the different
// functions of one Open are independent.
type ReceiveFunc func(bufs [][]byte, sizes []int, eps []Endpoint) (n int, err error)

// Wire is the network side of the driver.
//
// Send may be called concurrently with itself and with the receive
// functions. Close may be called at any time, from any goroutine, any
// number of times.
type Wire interface {
	// Open starts reception and returns the receive functions, one per
	// source (for the Linux wire: the UDP socket and the raw sockets);
	// the caller runs each in a goroutine of its own until it returns
	// net.ErrClosed. Open may be called once; later calls fail with
	// ErrOpen, calls after Close with net.ErrClosed.
	Open() ([]ReceiveFunc, error)

	// Send sends bufs[i] as described by eps[i] and returns how many
	// were sent; on error, bufs[n] is the packet that failed and the
	// rest were not attempted. Each bufs[i] is exactly one packet: a
	// KindIP packet with a complete IPv4 header (a zero ID is filled in,
	// as raw(7) does), or a KindUDP payload whose eps[i].Remote is valid.
	// len(eps) must be at least len(bufs). Send does not keep or modify
	// the buffers. After Close it returns net.ErrClosed.
	Send(bufs [][]byte, eps []Endpoint) (int, error)

	// BatchSize is the largest number of packets one ReceiveFunc call
	// returns and the number of buffers a caller should pass. It is
	// constant and at least 1.
	BatchSize() int

	// Close stops reception and releases the sockets; it unblocks the
	// receive functions. The first call returns the release error, later
	// calls nil.
	Close() error
}

// Errors.
var (
	ErrOpen        = errors.New("conn: wire already open")
	ErrEndpoint    = errors.New("conn: invalid endpoint")
	ErrPacket      = errors.New("conn: not a whole IPv4 packet")
	ErrConfig      = errors.New("conn: invalid configuration")
	ErrUnsupported = errors.New("conn: not supported on this platform")
)

// LinuxConfig is what NewLinux needs.
type LinuxConfig struct {
	// Local is the IPv4 address the sockets are bound to: the UDP socket
	// on Local:Port, the raw ESP and AH sockets on Local (they receive
	// only packets addressed to it). 0.0.0.0 binds every address; each
	// received datagram then reports its own destination (IP_PKTINFO),
	// and Send picks the source from Endpoint.Local. An invalid Local is
	// an error.
	Local netip.Addr

	// Port is the UDP port; 0 means NATTPort.
	Port uint16

	// Mark is set as SO_MARK on every socket when non-zero, for policy
	// routing of the driver's own packets (needs CAP_NET_ADMIN).
	Mark uint32

	// NoOffload turns UDP GSO and GRO off: every datagram then crosses
	// the system boundary on its own, as a packet capture on a virtual
	// link (which sees GSO packets unsegmented) needs.
	NoOffload bool
}
