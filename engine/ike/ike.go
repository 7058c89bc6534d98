// Package ike is gonetsh's IKEv1 negotiator (RFC 2408, RFC 2409): main
// mode and quick mode, initiator and responder, NAT traversal (RFC 3947,
// RFC 3948), informational exchanges and dead peer detection (RFC 3706).
//
// The package imports only the leaf types of package ipsec. It reaches the
// rest of the system through the interfaces declared here:
//
//   - Kernel: the SA database of the data path (install, delete, SPIs);
//   - Policy: the SPD of the policy agent (which main mode policy and
//     authentication apply to a peer, which quick mode policy to traffic);
//   - Transport: sending IKE datagrams on UDP 500 and 4500.
//
// Received datagrams come in through Negotiator.Receive; the engine turns
// the data path's acquires into Negotiator.Acquire calls. The live state
// is read with MMSAs, QMSAs and Stats.
package ike

import (
	"net/netip"

	"github.com/gonetsh/gonetsh/ipsec"
)

// Kernel is the data path's SA database as the negotiator needs it.
type Kernel interface {
	// AddSA installs one unidirectional SA. The inbound SA of a pair is
	// installed before the outbound one.
	AddSA(sa ipsec.SAParams) error
	// DeleteSA removes the SA named by its direction, SPI and
	// destination; deleting an unknown SA is not an error.
	DeleteSA(dir ipsec.Direction, spi uint32, dst netip.Addr) error
	// FailAcquire reports that the acquire with ref could not be served
	// (the held packets are dropped).
	FailAcquire(ref uint64)
}

// Policy answers the negotiator's questions from the applied SPD. The
// answers are copies the negotiator may keep.
type Policy interface {
	// MainMode returns the specific main mode filter that covers the
	// peer pair and its main mode policy; ok is false when none does
	// (the negotiation is refused).
	MainMode(local, remote netip.Addr) (f ipsec.MMFilter, p ipsec.MMPolicy, ok bool)
	// QuickMode returns, for a responder, the negotiate filter (outbound
	// direction: local to remote) that covers the traffic the initiator
	// proposed, with its quick mode policy; tunnel is the initiator's
	// tunnel endpoint (invalid in transport mode).
	QuickMode(local, remote netip.Addr, sel ipsec.Selector, tunnel netip.Addr) (f ipsec.QMFilter, p ipsec.QMPolicy, ok bool)
}

// Transport sends one IKE datagram. A message to port 4500 is sent
// behind the Non-ESP Marker (RFC 3948 section 2.2), which the transport
// adds; msg is not kept.
type Transport interface {
	Send(local, remote netip.AddrPort, msg []byte) error
}

// Acquire asks for SAs for an outbound negotiate filter.
type Acquire struct {
	// Ref names the request toward the Kernel: the outbound SA carries it
	// (SAParams.Ref) and FailAcquire gets it back.
	Ref uint64
	// Local and Remote are the IKE peers: this host's address and the
	// peer (the tunnel endpoint of a tunnel filter).
	Local, Remote netip.Addr
	// Filter is the outbound negotiate filter; its Selector is what the
	// quick mode proposes (its ID payloads), its Tunnel the tunnel
	// endpoint. Policy is its quick mode policy.
	Filter ipsec.QMFilter
	Policy ipsec.QMPolicy
}
