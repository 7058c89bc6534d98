package driver

// Outbound pipeline: packets the host routed into the TUN device, to the
// wire. One goroutine, routineReadFromTUN, runs every stage in order for a
// batch; nothing is parallel (an esp.SA serializes its packets anyway, so
// parallel sealing would pay only across SAs, and keeping one goroutine
// keeps each SA's packets in order on the wire). The batch is where the
// system calls are saved: with tun.CreateOffload one read returns the
// segments of a 64 KiB TCP packet, and the Linux wire sends the sealed
// batch with sendmmsg, same-size datagrams to one peer as one UDP GSO
// message.
//
//  1. Read a batch from the TUN device into buffers with headroom bytes in
//     front of each packet (the buffers live as long as the routine).
//  2. Per packet (outbound):
//     a. sadb.ParseIPv4; a malformed packet is dropped.
//     b. Exempt traffic (ipsecexempt) goes out in clear.
//     c. SPD Lookup(Outbound): no entry or permit: out in clear; block:
//        dropped; negotiate: the outbound SA of the entry (SAD.Outbound
//        by Entry.ID).
//     d. No SA: the packet is copied into a pooled buffer and held for
//        the entry (pending.go); the first one raises an Acquire.
//     e. SA: its byte lifetime is charged (a hard limit drops the packet
//        and expires the SA), then the packet is protected in place:
//        outer header and ESP/AH header written over the headroom, the
//        payload moved by at most a few bytes (seal); an AH+ESP bundle
//        then puts its AH in front of the ESP packet (bundle.go).
//  3. Send the batch of wire packets; their buffers are reused for the
//     next Read once Send returns.
//
// Stage 2 does not allocate (TestOutboundAllocs), nor do the batch reads
// and sends of the Linux devices (driver/tun TestOffloadAllocs, driver/conn
// TestLinuxGSOAllocs).

import (
	"net/netip"

	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/esp"
	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// Buffer layout. A packet from the TUN device sits at buf[headroom:]; its
// protected form is written from buf[0]. headroom covers the largest
// prefix, outer IPv4 (20) + UDP (8) + ESP header (8) + IV (16) = 52 or
// outer IPv4 + AH (12 + ICV 16) = 48; tailroom covers ESP padding,
// trailer and ICV (15 + 2 + 16).
const (
	headroom  = 64
	tailroom  = 64
	maxPacket = 0xffff // the largest IPv4 datagram
	bufSize   = headroom + maxPacket + tailroom
)

// clearEndpoint is the endpoint of every KindIP packet.
var clearEndpoint = conn.Endpoint{Kind: conn.KindIP}

// outbound runs stage 2 for the packet buf[headroom:headroom+n]. ok
// reports a packet to send, which aliases buf.
func (d *Driver) outbound(buf []byte, n int) (wire []byte, ep conn.Endpoint, ok bool) {
	pkt := buf[headroom : headroom+n]
	f, err := sadb.ParseIPv4(pkt)
	if err != nil {
		d.drop(&d.stats.MalformedPackets, "outbound: not an IPv4 packet", err)
		return nil, ep, false
	}
	pkt = pkt[:esp.IPv4(pkt).TotalLength()]
	if d.exempted(&f) {
		d.stats.ClearPacketsSent.Add(1)
		return pkt, clearEndpoint, true
	}
	e, found := d.spd.Load().Lookup(sadb.Outbound, f)
	switch {
	case !found || e.Action == ipsec.ActionPermit:
		d.stats.ClearPacketsSent.Add(1)
		return pkt, clearEndpoint, true
	case e.Action == ipsec.ActionBlock:
		d.drop(&d.stats.BlockedOutbound, "outbound: block", nil)
		return nil, ep, false
	}
	s, found := d.sad.OutboundFunc(e.ID, sendable)
	if !found {
		if s = d.hold(&e, &f, pkt); s == nil {
			return nil, ep, false
		}
	}
	return d.seal(s, buf, pkt)
}

// seal protects pkt, which lies in buf's spare capacity, with the SA s
// and returns the wire packet written from buf[0].
func (d *Driver) seal(s *sadb.SA[*xform], buf, pkt []byte) ([]byte, conn.Endpoint, bool) {
	x := s.Value()
	ip := esp.IPv4(pkt)
	hl := ip.HeaderLength()
	protected := len(pkt)
	if x.mode == ModeTransport {
		protected -= hl
	}
	if !s.Count(protected) {
		d.drop(&d.stats.ExpiredSADrops, "outbound: SA expired", nil)
		return nil, conn.Endpoint{}, false
	}
	ep := clearEndpoint
	var out []byte
	var err error
	switch {
	case x.ah != nil && x.mode == ModeTunnel:
		out, err = x.ah.SealTunnel(buf[:0], x.outer(ip), pkt)
	case x.ah != nil:
		out, err = x.ah.SealTransport(buf[:0], pkt)
	case !x.encap && x.mode == ModeTunnel:
		out, err = x.esp.SealTunnel(buf[:0], x.outer(ip), pkt)
	case !x.encap:
		out, err = x.esp.SealTransport(buf[:0], pkt)
	default:
		out, ep, err = x.sealUDP(buf, ip)
	}
	if err == nil {
		out, err = d.sealBundle(x, buf, out, protected) // AH+ESP: AH outermost
	}
	if err != nil {
		d.drop(&d.stats.SealFailures, "outbound: seal", err)
		return nil, conn.Endpoint{}, false
	}
	d.stats.protected(x, protected, true)
	return out, ep, true
}

// outer returns the tunnel header for inner: DSCP/ECN and DF copied from
// it (RFC 4301 section 5.1.2.1), default TTL, ID left to the sender.
func (x *xform) outer(inner esp.IPv4) esp.IPv4Fields {
	return esp.IPv4Fields{
		TOS:   inner.TOS(),
		Flags: inner.FlagsFragment() & esp.IPv4FlagDF,
		Src:   x.local,
		Dst:   x.peer.Addr(),
	}
}

// sealUDP protects ip as the payload of a UDP datagram (RFC 3948 section
// 3): the whole packet in tunnel mode, the transport payload otherwise.
// The system writes the outer IPv4 and UDP headers, so only the ESP
// packet goes into buf; the endpoint carries the addresses, ports, and
// in transport mode the TOS and TTL the receiver restores.
func (x *xform) sealUDP(buf []byte, ip esp.IPv4) ([]byte, conn.Endpoint, error) {
	payload, nh := []byte(ip), byte(esp.ProtocolIPv4)
	src := x.local
	ep := conn.Endpoint{Kind: conn.KindUDP, Remote: x.peer, TOS: ip.TOS()}
	if x.mode == ModeTransport {
		if ip.IsFragment() {
			return nil, ep, esp.ErrFragment
		}
		payload, nh = ip.Payload(), ip.Protocol()
		ep.TTL = ip.TTL()
		if !src.IsValid() {
			src = ip.Src()
		}
	}
	if esp.IPv4MinimumSize+esp.UDPHeaderLen+x.esp.SealedLen(len(payload)) > maxPacket {
		return nil, ep, esp.ErrTooBig
	}
	ep.Local = netip.AddrPortFrom(src, x.lport)
	out, err := x.esp.Seal(buf[:0], payload, nh)
	return out, ep, err
}
