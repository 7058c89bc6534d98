package driver

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"

	"github.com/gonetsh/gonetsh/driver/ah"
	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/esp"
	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// Protocol is the IPsec protocol of an SA.
type Protocol uint8

// Protocols. The zero value is invalid.
const (
	ProtocolESP Protocol = iota + 1 // RFC 4303
	ProtocolAH                      // RFC 4302
)

// String returns "ESP" or "AH".
func (p Protocol) String() string {
	switch p {
	case ProtocolESP:
		return "ESP"
	case ProtocolAH:
		return "AH"
	}
	return fmt.Sprintf("Protocol(%d)", uint8(p))
}

// Mode is the IPsec mode of an SA (RFC 4301 section 4.1).
type Mode uint8

// Modes. The zero value is invalid.
const (
	ModeTransport Mode = iota + 1 // the original header kept, its payload protected
	ModeTunnel                    // the whole packet protected inside a new outer header
)

// String returns "transport" or "tunnel".
func (m Mode) String() string {
	switch m {
	case ModeTransport:
		return "transport"
	case ModeTunnel:
		return "tunnel"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// SAParams is the data of one SA; its name is the sadb.ID given beside it
// to AddSA (the id struct and data struct of strongSwan's kernel_ipsec.h).
// ID.Dst is the peer for an outbound SA (the remote tunnel endpoint in
// tunnel mode, its public address behind a NAT) and this host's address
// for an inbound one.
type SAParams struct {
	Protocol Protocol
	Mode     Mode

	// Cipher and Hash are the ESP transform (AES-GCM with HashNone); AH
	// uses Hash only, with CipherNone.
	Cipher ipsec.Cipher
	Hash   ipsec.Hash
	// EncKey and AuthKey are the key material of esp.Config and
	// ah.Config (AuthKey is AH's key). AddSA copies them; the caller
	// wipes its slices.
	EncKey, AuthKey []byte
	// ESN enables 64-bit Extended Sequence Numbers.
	ESN bool

	// Local is this host's end of an outbound SA: the outer source
	// address in tunnel mode (required there) and the UDP source
	// address with Encap. In transport mode an invalid Local means the
	// packet's own source. Inbound SAs ignore it.
	Local netip.Addr

	// Encap selects UDP encapsulation (RFC 3948, ESP only) from
	// LocalPort to PeerPort; zero ports mean 4500. Only outbound SAs use
	// the ports: an inbound SA accepts its packets in UDP and as
	// protocol 50 alike.
	Encap               bool
	LocalPort, PeerPort uint16

	// Ref is the ID of the SPD entry the SA serves. Outbound: the
	// negotiate entry whose packets it protects (Acquire.Entry.ID).
	// Inbound: the inbound negotiate entry that every packet it opens
	// must match first in the SPD; anything else is dropped as a
	// selector mismatch (RFC 4301 section 5.2 step 4).
	Ref uint64

	// Soft and Hard are the lifetimes (sadb.LifetimeKB converts netsh
	// units); bytes count the protected payload.
	Soft, Hard sadb.Lifetime

	// Bundle, if not zero, names the other SA of an AH+ESP bundle
	// (bundle.go): on the ESP SA the AH SA, on the AH SA the ESP SA, in
	// the same direction, toward the same destination, with the same
	// Ref. The AH of a bundle always works in transport mode over the
	// ESP packet: its Mode is ignored (the ESP SA's counts) and it needs
	// no Local. No UDP encapsulation.
	Bundle sadb.ID
}

// xform is an installed SA: the protocol state and what framing needs.
// It is immutable after AddSA, except inside esp.SA and ah.SA, which lock.
type xform struct {
	mode  Mode
	proto Protocol
	esp   *esp.SA // ProtocolESP
	ah    *ah.SA  // ProtocolAH
	ref   uint64

	// Outbound framing.
	encap bool
	local netip.Addr     // tunnel source / UDP source; may be invalid in transport mode
	lport uint16         // UDP source port
	peer  netip.AddrPort // destination (port used with encap)

	// Counter classes (reference section 5.9).
	confidential, authenticated bool

	// AH+ESP bundle (bundle.go): bundled when SAParams.Bundle is set;
	// bundle is the other SA once both are installed.
	bundled  bool
	bundleID sadb.ID
	bundle   atomic.Pointer[sadb.SA[*xform]]
}

// newXform validates p and builds the transform; rand is the CBC IV
// source (nil: crypto/rand).
func newXform(id sadb.ID, p SAParams, rand io.Reader) (*xform, error) {
	if id.Dir != sadb.Inbound && id.Dir != sadb.Outbound {
		return nil, fmt.Errorf("%w: direction %v", ErrSAParams, id.Dir)
	}
	if !id.Dst.Unmap().Is4() {
		return nil, fmt.Errorf("%w: destination %v is not IPv4", ErrSAParams, id.Dst)
	}
	if p.Protocol == ProtocolAH && p.Bundle != (sadb.ID{}) {
		p.Mode = ModeTransport // over the bundle's ESP packet (bundle.go)
	}
	if p.Mode != ModeTransport && p.Mode != ModeTunnel {
		return nil, fmt.Errorf("%w: mode %v", ErrSAParams, p.Mode)
	}
	x := &xform{
		mode:  p.Mode,
		proto: p.Protocol,
		ref:   p.Ref,
		encap: p.Encap,
		local: p.Local.Unmap(),
		lport: cmp.Or(p.LocalPort, conn.NATTPort),
		peer:  netip.AddrPortFrom(id.Dst.Unmap(), cmp.Or(p.PeerPort, conn.NATTPort)),

		bundled:  p.Bundle != sadb.ID{},
		bundleID: sadb.ID{Dir: p.Bundle.Dir, SPI: p.Bundle.SPI, Dst: p.Bundle.Dst.Unmap()},
	}
	if id.Dir == sadb.Outbound && x.local.IsValid() != x.local.Is4() {
		return nil, fmt.Errorf("%w: local address %v is not IPv4", ErrSAParams, p.Local)
	}
	if id.Dir == sadb.Outbound && p.Mode == ModeTunnel && !x.local.Is4() {
		return nil, fmt.Errorf("%w: a tunnel-mode outbound SA needs its local endpoint", ErrSAParams)
	}
	dir := esp.Inbound
	if id.Dir == sadb.Outbound {
		dir = esp.Outbound
	}
	var err error
	switch p.Protocol {
	case ProtocolESP:
		x.esp, err = esp.New(esp.Config{
			SPI: id.SPI, Dir: dir, Cipher: p.Cipher, Hash: p.Hash,
			EncKey: p.EncKey, AuthKey: p.AuthKey, ESN: p.ESN, Rand: rand,
		})
		x.confidential = p.Cipher != ipsec.CipherNone
		x.authenticated = p.Hash != ipsec.HashNone || p.Cipher.AEAD()
	case ProtocolAH:
		if p.Cipher != ipsec.CipherNone || len(p.EncKey) != 0 || p.Encap {
			return nil, fmt.Errorf("%w: AH takes no cipher and no UDP encapsulation", ErrSAParams)
		}
		x.ah, err = ah.New(ah.Config{SPI: id.SPI, Dir: dir, Hash: p.Hash, Key: p.AuthKey, ESN: p.ESN})
		x.authenticated = true
	default:
		return nil, fmt.Errorf("%w: protocol %v", ErrSAParams, p.Protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSAParams, err)
	}
	return x, nil
}

// wipe zeroes the keys; the SA refuses packets afterwards.
func (x *xform) wipe() {
	if x.esp != nil {
		x.esp.Wipe()
	}
	if x.ah != nil {
		x.ah.Wipe()
	}
}

// AddSA installs an SA named id. An outbound SA serves the flow of the
// negotiate entry p.Ref: the packets held for it are protected and sent
// before AddSA returns (a packet read meanwhile may overtake them); for
// an AH+ESP bundle (p.Bundle) that happens when its second SA is added. Errors
// wrap ErrSAParams, ErrClosed or the sadb errors (sadb.ErrExists...).
func (d *Driver) AddSA(id sadb.ID, p SAParams) error {
	id.Dst = id.Dst.Unmap()
	if err := d.checkBundle(id, p); err != nil {
		return err
	}
	x, err := newXform(id, p, d.rand)
	if err != nil {
		return err
	}
	s, err := d.insert(id, p, x)
	if err != nil {
		x.wipe()
		return err
	}
	d.link(s)
	if r := ready(s); r != nil && id.Dir == sadb.Outbound {
		d.flush(p.Ref, r)
	}
	return nil
}

// insert adds x to the SAD unless the driver is closed; Close wipes what
// was inserted before it.
func (d *Driver) insert(id sadb.ID, p SAParams, x *xform) (*sadb.SA[*xform], error) {
	d.lifecycle.mu.Lock()
	defer d.lifecycle.mu.Unlock()
	if d.lifecycle.state == StateClosed {
		return nil, ErrClosed
	}
	d.sas.mu.Lock()
	defer d.sas.mu.Unlock()
	s, err := d.sad.Add(sadb.Config[*xform]{ID: id, Ref: p.Ref, Soft: p.Soft, Hard: p.Hard, Value: x})
	if err != nil {
		return nil, fmt.Errorf("driver: %w", err)
	}
	d.sas.byID[id] = x
	d.stats.KeyAdditions.Add(1)
	return s, nil
}

// DeleteSA removes the SA named id and wipes its keys. It fails with
// sadb.ErrNotFound when there is none.
func (d *Driver) DeleteSA(id sadb.ID) error {
	id.Dst = id.Dst.Unmap()
	if err := d.sad.Delete(id); err != nil {
		return fmt.Errorf("driver: %w", err)
	}
	d.forget(id)
	return nil
}

// forget drops and wipes the transform named id.
func (d *Driver) forget(id sadb.ID) {
	d.sas.mu.Lock()
	x := d.sas.byID[id]
	delete(d.sas.byID, id)
	d.sas.mu.Unlock()
	if x != nil {
		d.stats.KeyDeletions.Add(1)
		x.wipe()
	}
}

// onSADEvent wipes hard-expired SAs, which the SAD has removed already,
// and passes the event up.
func (d *Driver) onSADEvent(e sadb.Event) {
	if e.Kind == sadb.EventHard {
		d.forget(e.ID)
	}
	if d.onExpire != nil {
		d.onExpire(e)
	}
}
