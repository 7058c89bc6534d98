package ipsec

import (
	"fmt"
	"net/netip"
	"time"
)

// The SA types that cross package lines: the negotiator (engine/ike)
// produces SAParams for the data path, and MMSA and QMSA for `ipsec dynamic
// show mmsas|qmsas` (reference 5.8). The data path has its own SA types;
// cmd/netsh converts.

// SAProtocol is the IPsec protocol of an SA, valued as its IP protocol
// number.
type SAProtocol uint8

// SA protocols.
const (
	SAESP SAProtocol = 50 // RFC 4303
	SAAH  SAProtocol = 51 // RFC 4302
)

func (p SAProtocol) String() string {
	switch p {
	case SAESP:
		return "ESP"
	case SAAH:
		return "AH"
	}
	return fmt.Sprintf("SAProtocol(%d)", uint8(p))
}

// SAMode is an SA's encapsulation mode (RFC 4301 section 4.1).
type SAMode uint8

// SA modes. The zero value is invalid.
const (
	ModeTransport SAMode = iota + 1
	ModeTunnel
)

func (m SAMode) String() string {
	switch m {
	case ModeTransport:
		return "transport"
	case ModeTunnel:
		return "tunnel"
	}
	return fmt.Sprintf("SAMode(%d)", uint8(m))
}

// SAParams is one unidirectional SA as a negotiator installs it in the
// data path. An ESP+AH bundle is two SAParams with the same Selector.
type SAParams struct {
	Direction Direction
	SPI       uint32
	Protocol  SAProtocol
	Mode      SAMode

	// Src and Dst are the outer addresses: this host and the peer's
	// public address (the tunnel endpoints in tunnel mode, the hosts in
	// transport mode), Src first in the SA's direction: for an inbound SA
	// Dst is this host.
	Src, Dst netip.Addr

	// Encap is UDP encapsulation (RFC 3948) from SrcPort to DstPort, in
	// the SA's direction; zero ports mean 4500.
	Encap            bool
	SrcPort, DstPort uint16

	// Cipher and Hash are the transform: ESP uses both (AES-GCM with
	// HashNone), AH uses Hash only. EncKey and AuthKey are the keys of
	// RFC 2409 section 5.5 split per RFC 4303/4302 (for AES-GCM, EncKey
	// includes the 4-byte salt). The receiver copies them; the caller
	// wipes its slices.
	Cipher             Cipher
	Hash               Hash
	EncKey, AuthKey    []byte
	Selector           Selector // the traffic the SA carries, in its direction
	Ref                uint64   // the acquire's Ref for the outbound SA of an initiator; 0: resolve by Selector
	BundleSPI          uint32   // the SPI of the other SA of an AH+ESP bundle (same direction and Dst); 0: none
	SoftKB, HardKB     uint64   // lifetime in kilobytes; 0: none
	SoftLife, HardLife time.Duration
}

// MMSA is one live main mode (ISAKMP) SA: a line block of `show mmsas`.
type MMSA struct {
	CookieI, CookieR [8]byte
	Local, Remote    netip.AddrPort // the ports are 4500 after a NAT-T float
	Offer            MMOffer        // the chosen transform
	Lifetime         time.Duration
	Auth             AuthKind
	Initiator        bool
	NATT             bool // NAT traversal negotiated (RFC 3947)
	NATBehindPeer    bool // a NAT was detected in front of the peer
	NATBehindLocal   bool // a NAT was detected in front of this host
	Created          time.Time
	QuickModes       uint32 // quick modes done under this SA
}

// QMSA is one live quick mode SA pair: a line block of `show qmsas`.
type QMSA struct {
	// Selector is the traffic, seen outbound from this host; Tunnel the
	// peer's tunnel endpoint (invalid: a transport filter).
	Selector Selector
	Tunnel   netip.Addr

	Local, Remote    netip.AddrPort // outer addresses; ports with Encap
	Encap            bool
	Offer            QMOffer // the chosen offer, with its lifetimes
	PFS              bool
	PFSGroup         DHGroup
	SPIIn, SPIOut    uint32
	CookieI, CookieR [8]byte // the main mode SA it was negotiated under
	Created          time.Time
}
