package driver

// Inbound pipeline: packets from the wire, to the TUN device. One
// goroutine per receive function of the wire (routineReceiveFromWire) runs
// every stage in order for a batch; TUN writes are serialized between
// them. The Linux wire receives with recvmmsg and cuts UDP GRO aggregates
// into datagrams; tun.CreateOffload merges the batch's consecutive
// segments of a TCP flow into one write. Packets of one SA stay in order
// (one receive function per socket).
//
//  1. Receive a batch from the wire.
//  2. Per packet (inbound):
//     a. KindUDP (port 4500, RFC 3948): a keepalive is counted and
//        dropped, an IKE message goes to OnIKE, an ESP packet to 2c.
//     b. KindIP: protocol 50 (ESP) and 51 (AH) go to 2c with the SPI
//        from their header; anything else is cleartext (2e).
//     c. SAD lookup by (SPI, destination address), the SA's protocol
//        checked; none is a Bad SPI packet. The AH of an AH+ESP bundle
//        is verified and removed first, leaving the bundle's ESP SA and
//        packet (bundle.go). The packet is opened in place
//        (replay window, ICV, decryption: esp.SA and ah.SA), the inner
//        IPv4 packet restored (tunnel: the inner packet; transport: the
//        original header, rebuilt from the endpoint for UDP).
//     d. The inner packet must find, first in the SPD's inbound entries,
//        the negotiate entry the SA was installed for (SAParams.Ref);
//        otherwise it is dropped as a selector mismatch (RFC 4301 section
//        5.2 step 4). The SA's byte lifetime is charged.
//     e. Cleartext: exempt traffic passes; SPD Lookup(Inbound): no entry
//        or permit passes, block drops, negotiate drops unless the entry
//        has InPass.
//  3. Write the batch of plaintext packets to the TUN device.
//
// Stage 2 does not allocate (TestInboundAllocs), nor do the batch
// receipts and writes of the Linux devices.

import (
	"net/netip"

	"github.com/gonetsh/gonetsh/driver/ah"
	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/esp"
	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// inbound runs stage 2 for pkt, received with ep. ok reports a packet for
// the TUN device, which aliases pkt's array: a transport-mode header
// rebuilt for a UDP-encapsulated packet may use 20 bytes of pkt's spare
// capacity (the packet is dropped if there are none).
func (d *Driver) inbound(pkt []byte, ep *conn.Endpoint) (plain []byte, ok bool) {
	switch ep.Kind {
	case conn.KindUDP:
		return d.inboundUDP(pkt, ep)
	case conn.KindIP:
	default:
		d.drop(&d.stats.MalformedPackets, "inbound: unknown endpoint kind", nil)
		return nil, false
	}
	ip := esp.IPv4(pkt)
	if !ip.IsValid() {
		d.drop(&d.stats.MalformedPackets, "inbound: not an IPv4 packet", nil)
		return nil, false
	}
	pkt = pkt[:ip.TotalLength()]
	switch p := ip.Protocol(); {
	case (p == esp.ProtocolESP || p == esp.ProtocolAH) && ip.IsFragment():
		// Raw sockets deliver reassembled packets (RFC 4303 section
		// 3.4.1: reassemble before processing); a fragment here is
		// someone else's mistake.
		d.drop(&d.stats.MalformedPackets, "inbound: ESP or AH fragment", nil)
		return nil, false
	case p == esp.ProtocolESP:
		if h := esp.Header(ip.Payload()); h.IsValid() {
			return d.open(ProtocolESP, h.SPI(), ip.Dst(), pkt, ep)
		}
	case p == esp.ProtocolAH:
		if h := ah.Header(ip.Payload()); len(h) >= ah.HeaderLen {
			return d.open(ProtocolAH, h.SPI(), ip.Dst(), pkt, ep)
		}
	default:
		return d.inboundClear(pkt)
	}
	d.drop(&d.stats.MalformedPackets, "inbound: short ESP or AH header", nil)
	return nil, false
}

// inboundUDP sorts a datagram from the NAT-T port.
func (d *Driver) inboundUDP(pkt []byte, ep *conn.Endpoint) ([]byte, bool) {
	kind, body, err := esp.ClassifyUDPPayload(pkt)
	switch {
	case err != nil:
		d.drop(&d.stats.MalformedPackets, "inbound: short UDP payload", err)
	case kind == esp.KindKeepalive:
		d.stats.KeepalivesReceived.Add(1)
	case kind == esp.KindIKE:
		d.stats.IKEReceived.Add(1)
		if d.onIKE != nil {
			d.onIKE(*ep, body)
		}
	default:
		return d.open(ProtocolESP, esp.Header(body).SPI(), ep.Local.Addr(), body, ep)
	}
	return nil, false
}

// open runs stages 2c and 2d for pkt: the whole IPv4 packet for KindIP,
// the ESP packet for KindUDP.
func (d *Driver) open(proto Protocol, spi uint32, dst netip.Addr, pkt []byte, ep *conn.Endpoint) ([]byte, bool) {
	s, found := d.sad.Inbound(spi, dst)
	if !found || s.Value().proto != proto {
		d.drop(&d.stats.BadSPIPackets, "inbound: no SA for SPI", nil)
		return nil, false
	}
	s, pkt, found = d.unbundle(s, pkt) // AH+ESP: AH first (bundle.go)
	if !found {
		return nil, false
	}
	x := s.Value()
	var inner []byte
	var err error
	switch {
	case x.ah != nil && x.mode == ModeTunnel:
		inner, err = x.ah.OpenTunnel(pkt)
	case x.ah != nil:
		inner, err = x.ah.OpenTransport(pkt)
	case ep.Kind == conn.KindUDP:
		inner, err = x.openUDP(pkt, ep)
	case x.mode == ModeTunnel:
		inner, err = x.esp.OpenTunnel(pkt)
	default:
		inner, err = x.esp.OpenTransport(pkt)
	}
	if err != nil {
		d.countOpenError(err)
		return nil, false
	}
	f, err := sadb.ParseIPv4(inner)
	if err != nil {
		d.drop(&d.stats.PacketsNotDecrypted, "inbound: bad inner packet", err)
		return nil, false
	}
	// RFC 4301 section 5.2 step 4, with one allowance: a packet the SPD
	// permits in clear may also arrive protected (a peer whose quick mode
	// covered all protocols answers in ESP what this host permits, e.g.
	// ICMP beside the built-in policies' All IP Traffic): accepting it
	// grants nothing clear text would not.
	e, found := d.spd.Load().Lookup(sadb.Inbound, f)
	permitted := found && e.Action == ipsec.ActionPermit
	if !permitted && (!found || e.Action != ipsec.ActionNegotiate || e.ID != x.ref) {
		d.drop(&d.stats.SelectorMismatches, "inbound: packet does not match its SA's entry", nil)
		return nil, false
	}
	protected := len(inner)
	if x.mode == ModeTransport {
		protected -= esp.IPv4(inner).HeaderLength()
	}
	if !s.Count(protected) {
		d.drop(&d.stats.ExpiredSADrops, "inbound: SA expired", nil)
		return nil, false
	}
	d.stats.protected(x, protected, false)
	return inner, true
}

// countOpenError files an Open failure under its reference 5.9 counter.
func (d *Driver) countOpenError(err error) {
	switch err {
	case esp.ErrReplay, ah.ErrReplay:
		d.drop(&d.stats.PacketsWithReplayDetection, "inbound: replay", err)
	case esp.ErrAuth, ah.ErrAuth:
		d.drop(&d.stats.PacketsNotAuthenticated, "inbound: ICV", err)
	case esp.ErrNoNextHeader:
		d.drop(&d.stats.DummyPackets, "inbound: dummy packet", err)
	default:
		d.drop(&d.stats.PacketsNotDecrypted, "inbound: open", err)
	}
}

// openUDP opens a UDP-encapsulated ESP packet in place. In transport mode
// the system has consumed the outer header, so the original one is
// rebuilt in front of the payload from the endpoint: its addresses, TOS
// and TTL; ID, flags and options are lost (the ID only matters for
// fragments, which the system has reassembled).
func (x *xform) openUDP(body []byte, ep *conn.Endpoint) ([]byte, error) {
	src, dst := ep.Remote.Addr(), ep.Local.Addr()
	if x.mode == ModeTransport && (!src.Is4() || !dst.Is4()) {
		return nil, esp.ErrNotIPv4
	}
	payload, nh, err := x.esp.Open(body)
	switch {
	case err != nil:
		return nil, err
	case nh == esp.ProtocolNoNext:
		return nil, esp.ErrNoNextHeader
	case x.mode == ModeTunnel:
		if nh != esp.ProtocolIPv4 {
			return nil, esp.ErrProtocol
		}
		in := esp.IPv4(payload)
		if !in.IsValid() {
			return nil, esp.ErrMalformed
		}
		return payload[:in.TotalLength()], nil
	}
	n := esp.IPv4MinimumSize + len(payload)
	if n > maxPacket || n > cap(body) {
		return nil, esp.ErrTooBig
	}
	out := body[:n]
	copy(out[esp.IPv4MinimumSize:], payload)
	esp.IPv4(out).Encode(&esp.IPv4Fields{
		TOS:         ep.TOS,
		TotalLength: uint16(n),
		TTL:         ep.TTL,
		Protocol:    nh,
		Src:         src,
		Dst:         dst,
	})
	return out, nil
}

// inboundClear runs stage 2e.
func (d *Driver) inboundClear(pkt []byte) ([]byte, bool) {
	f, err := sadb.ParseIPv4(pkt)
	if err != nil {
		d.drop(&d.stats.MalformedPackets, "inbound: not an IPv4 packet", err)
		return nil, false
	}
	if d.exempted(&f) {
		d.stats.ClearPacketsReceived.Add(1)
		return pkt, true
	}
	e, found := d.spd.Load().Lookup(sadb.Inbound, f)
	switch {
	case !found || e.Action == ipsec.ActionPermit:
	case e.Action == ipsec.ActionBlock:
		d.drop(&d.stats.BlockedInbound, "inbound: block", nil)
		return nil, false
	case e.InPass:
		d.stats.InPassAccepted.Add(1)
	default:
		d.drop(&d.stats.ClearNegotiateDrops, "inbound: cleartext for a negotiate entry", nil)
		return nil, false
	}
	d.stats.ClearPacketsReceived.Add(1)
	return pkt, true
}
