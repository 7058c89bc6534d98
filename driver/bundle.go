package driver

// AH+ESP bundles (netsh's AH[..]+ESP[..] offers): two SAs per direction
// applied to the same traffic, RFC 4301 section 4.5 transport adjacency.
// Outbound, ESP protects the packet first (transport or tunnel mode, as
// its SA says), then AH authenticates the whole result, outer header
// included, in transport mode: AH is outermost and there is one IP header
// in either mode. Inbound, AH is verified and removed first, then the ESP
// packet inside is opened as usual.
//
// The two SAs are installed by two AddSA calls, in either order, with the
// same Ref, each naming the other in SAParams.Bundle. Until both are in,
// neither is used outbound (sendable): packets wait for the bundle as for
// any SA. The AH SA of a bundle is never used alone, and an ESP packet for
// the ESP SA of a bundle that did not arrive inside its AH is dropped, so
// that stripping the AH does not downgrade the traffic.
//
// Byte lifetimes are charged to both SAs; the counters of reference 5.9
// count the bundle once, through the ESP SA, with its bytes authenticated.

import (
	"errors"
	"fmt"

	"github.com/gonetsh/gonetsh/driver/esp"
	"github.com/gonetsh/gonetsh/driver/sadb"
)

// errBundle is a per-packet failure of a bundle: its other SA is gone or
// expired. A sentinel, so that the data path does not allocate.
var errBundle = errors.New("driver: bundle incomplete or expired")

// checkBundle validates the Bundle of an SA named id before it is
// inserted: the other SA, if already installed, must be of the other
// protocol, name id in turn and serve the same Ref.
func (d *Driver) checkBundle(id sadb.ID, p SAParams) error {
	b := p.Bundle
	if b == (sadb.ID{}) {
		return nil
	}
	b.Dst = b.Dst.Unmap()
	switch {
	case b.Dir != id.Dir || b.Dst != id.Dst:
		return fmt.Errorf("%w: bundle %v is not in the direction and toward the destination of %v", ErrSAParams, b, id)
	case p.Encap:
		return fmt.Errorf("%w: an AH+ESP bundle cannot be UDP-encapsulated", ErrSAParams)
	}
	o, ok := d.sad.Get(b)
	if !ok {
		return nil
	}
	ox := o.Value()
	if ox.bundleID != id || ox.proto == p.Protocol || o.Ref() != p.Ref {
		return fmt.Errorf("%w: %v is not the other half of a bundle with %v", ErrSAParams, b, id)
	}
	return nil
}

// link joins the SA s with the other SA of its bundle, if installed.
func (d *Driver) link(s *sadb.SA[*xform]) {
	x := s.Value()
	if !x.bundled {
		return
	}
	if o, ok := d.sad.Get(x.bundleID); ok && o.Value().bundleID == s.ID() {
		x.bundle.Store(o)
		o.Value().bundle.Store(s)
	}
}

// ready returns the outbound SA that can carry the packets of s's flow
// now that s is installed: s itself, the ESP SA of the bundle that s
// completed, or nil.
func ready(s *sadb.SA[*xform]) *sadb.SA[*xform] {
	x := s.Value()
	switch {
	case sendable(x):
		return s
	case x.proto == ProtocolAH:
		if o := x.bundle.Load(); o != nil && sendable(o.Value()) {
			return o
		}
	}
	return nil
}

// sendable reports whether an outbound SA can protect packets: any SA
// outside a bundle, and the ESP SA of a complete bundle.
func sendable(x *xform) bool {
	return !x.bundled || x.proto == ProtocolESP && x.bundle.Load() != nil
}

// sealBundle applies the AH of x's bundle to out, the packet x's ESP
// produced in buf; protected is the byte count charged to the AH SA.
func (d *Driver) sealBundle(x *xform, buf, out []byte, protected int) ([]byte, error) {
	if !x.bundled {
		return out, nil
	}
	a := x.bundle.Load()
	if a == nil || !a.Count(protected) {
		return nil, errBundle
	}
	out, err := a.Value().ah.SealTransport(buf[:0], out)
	if err == nil && !x.authenticated {
		d.stats.AuthenticatedBytesSent.Add(uint64(protected))
	}
	return out, err
}

// unbundle runs ahead of the ESP or AH processing of an inbound packet
// for the SA s: outside bundles it returns s and pkt unchanged. For the
// AH SA of a bundle it verifies and removes the AH and returns the ESP SA
// of the bundle with the ESP packet left; an ESP packet for the ESP SA of
// a bundle, which did not come through its AH, is dropped.
func (d *Driver) unbundle(s *sadb.SA[*xform], pkt []byte) (*sadb.SA[*xform], []byte, bool) {
	x := s.Value()
	switch {
	case !x.bundled:
		return s, pkt, true
	case x.proto == ProtocolESP:
		d.drop(&d.stats.PacketsNotAuthenticated, "inbound: ESP of an AH+ESP bundle without its AH", nil)
		return nil, nil, false
	}
	inner, err := x.ah.OpenTransport(pkt)
	if err != nil {
		d.countOpenError(err)
		return nil, nil, false
	}
	ip := esp.IPv4(inner)
	h := esp.Header(ip.Payload())
	es := x.bundle.Load()
	if ip.Protocol() != esp.ProtocolESP || !h.IsValid() || es == nil || es.ID().SPI != h.SPI() {
		d.drop(&d.stats.BadSPIPackets, "inbound: AH of a bundle without the bundle's ESP inside", nil)
		return nil, nil, false
	}
	protected := len(inner) - ip.HeaderLength()
	if !s.Count(protected) {
		d.drop(&d.stats.ExpiredSADrops, "inbound: SA expired", nil)
		return nil, nil, false
	}
	if !es.Value().authenticated {
		d.stats.AuthenticatedBytesReceived.Add(uint64(protected))
	}
	return es, inner, true
}
