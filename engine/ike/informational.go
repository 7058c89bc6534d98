package ike

// Informational exchanges (RFC 2408 section 4.8, RFC 2409 section 5.7):
// HDR*, HASH(1), N/D with HASH(1) = prf(SKEYID_a, M-ID | N/D); DELETE of
// ISAKMP and IPsec SAs, INITIAL-CONTACT (RFC 2407 section 4.6.3.3), dead
// peer detection (RFC 3706).

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// dpdState is the R-U-THERE bookkeeping of a main mode SA.
type dpdState struct {
	last        time.Time // last sign of life from the peer
	seq         uint32
	outstanding bool
	sentAt      time.Time
	tries       int
}

// sendInformational sends ps protected under mm's phase 1 keys.
func (n *Negotiator) sendInformational(mm *mmState, ps []payload) {
	if len(ps) == 0 || mm.keys == nil {
		return
	}
	mid := n.randomU32()
	for mid == 0 {
		mid = n.randomU32()
	}
	hb := infoHash(mm.keys, mid, encodeChain(ps))
	out, _, err := buildEncrypted(mm.keys, mm.header(exchInformational, 0, mid), plHash, hashedBody(hb, ps),
		phase2IV(mm.keys, mm.iv, mid))
	if err != nil {
		return
	}
	n.queue(mm.local, mm.remote, out, "[ HASH "+chainSummary(ps)[2:])
}

// informationalReceive handles an informational message under mm.
func (n *Negotiator) informationalReceive(mm *mmState, local, remote netip.AddrPort, h Header, msg []byte) {
	if h.Flags&flagEncryption == 0 {
		// An unprotected notification can only be an error during main
		// mode; once keys exist it is ignored (RFC 2408 section 5.15).
		m, err := Decode(msg)
		if err != nil || decodeTyped(m.Payloads) != nil {
			n.stats.InvalidPacketsReceived++
			return
		}
		if nb := m.first(plNotify); nb != nil && !mm.established && mm.keys == nil {
			nt, _ := DecodeNotify(nb)
			if nt.Type <= nMaxErrorNotifyValue {
				n.log.Warn("peer refused main mode", "remote", remote, "notify", nt.Type)
				n.failMM(mm, "peer notify")
			}
		}
		return
	}
	if mm.keys == nil {
		n.stats.InvalidPacketsReceived++
		return
	}
	if !mm.established {
		// After MM5 the peer answers an authentication it refused with
		// a notification under its own keys; unreadable or not, the
		// main mode is over.
		if mm.initiator && mm.state == mmSentAuth {
			n.stats.AuthenticationFailures++
			n.log.Warn("main mode failed: peer rejected our authentication", "remote", remote)
			n.failMM(mm, "authentication rejected")
			return
		}
		n.stats.InvalidPacketsReceived++
		return
	}
	m, rest, _, err := n.openHashed(mm.keys, h, msg, phase2IV(mm.keys, mm.iv, h.MsgID))
	if err != nil || !hmacEqual(m.Payloads[0].Body, infoHash(mm.keys, h.MsgID, rest)) {
		n.stats.InvalidPacketsReceived++
		n.log.Debug("informational dropped", "remote", remote, "err", err)
		return
	}
	mm.dpd.last = n.now()
	for _, p := range m.Payloads[1:] {
		switch p.Type {
		case plDelete:
			d, _ := DecodeDelete(p.Body)
			n.peerDelete(mm, d)
		case plNotify:
			nt, _ := DecodeNotify(p.Body)
			n.peerNotify(mm, nt)
		}
	}
}

// peerDelete applies a DELETE: the SPIs of ESP and AH are the peer's
// inbound SAs, this host's outbound ones; the pair goes.
func (n *Negotiator) peerDelete(mm *mmState, d Delete) {
	switch d.Protocol {
	case protoISAKMP:
		if d.SPISize == 16 {
			for _, s := range d.SPIs {
				if [8]byte(s[:8]) == mm.ckyI && [8]byte(s[8:]) == mm.ckyR {
					n.log.Info("peer deleted main mode SA", "remote", mm.remote)
					n.deleteMM(mm, false, "peer delete")
				}
			}
		}
	case protoESP, protoAH:
		if d.SPISize != 4 {
			return
		}
		for _, s := range d.SPIs {
			spi := be32(s)
			for _, q := range append([]*qmSA(nil), n.qsas...) {
				if q.remote == mm.remote.Addr() && (d.Protocol == protoESP && q.outESP == spi || d.Protocol == protoAH && q.outAH == spi) {
					n.log.Info("peer deleted quick mode SAs", "remote", mm.remote, "spi", spi)
					n.deleteQMSA(q, false)
				}
			}
		}
	}
}

func (n *Negotiator) peerNotify(mm *mmState, nt Notify) {
	switch nt.Type {
	case nRUThere:
		ack := Notify{DOI: doiIPsec, Protocol: protoISAKMP, Type: nRUThereAck, SPI: nt.SPI, Data: nt.Data}
		n.sendInformational(mm, []payload{{plNotify, ack.Encode()}})
	case nRUThereAck:
		if len(nt.Data) == 4 && mm.dpd.outstanding && binary.BigEndian.Uint32(nt.Data) == mm.dpd.seq {
			mm.dpd.outstanding = false
		}
	case nInitialContact:
		n.initialContact(mm)
	default:
		n.log.Info("peer notification", "remote", mm.remote, "type", nt.Type)
		if nt.Type > nMaxErrorNotifyValue {
			return
		}
		// An error about a quick mode (RFC 2408 section 3.14.1) ends the
		// ones this host is waiting for: those with the SPI it names, or
		// all of them when it names none.
		for _, q := range mm.qms {
			if q.initiator && !q.done && (len(nt.SPI) != 4 || be32(nt.SPI) == q.inESP || be32(nt.SPI) == q.inAH) {
				n.failQM(mm, q, fmt.Sprintf("peer notify %d", nt.Type))
			}
		}
	}
}

// initialContact removes the state of earlier sessions with mm's peer
// (RFC 2407 section 4.6.3.3): its other main mode SAs and their quick
// mode SAs, without notifying.
func (n *Negotiator) initialContact(mm *mmState) {
	peer := mm.remote.Addr()
	for _, q := range append([]*qmSA(nil), n.qsas...) {
		if q.remote == peer && q.mm != mm.ckyI {
			n.deleteQMSA(q, false)
		}
	}
	for _, o := range n.mms {
		if o != mm && o.established && o.remote.Addr() == peer {
			n.deleteMM(o, false, "initial contact")
		}
	}
}

// deleteMM removes a main mode SA, with a DELETE to the peer when notify
// is set. Quick mode SAs negotiated under it stay until they expire.
func (n *Negotiator) deleteMM(mm *mmState, notify bool, why string) {
	if notify && mm.established {
		d := Delete{DOI: doiIPsec, Protocol: protoISAKMP, SPISize: 16, SPIs: [][]byte{append(mm.ckyI[:], mm.ckyR[:]...)}}
		n.sendInformational(mm, []payload{{plDelete, d.Encode()}})
	}
	for _, r := range mm.pending {
		n.failRequest(r)
	}
	mm.pending = nil
	for _, q := range mm.qms {
		if !q.done && q.initiator {
			n.failRequest(q.req)
		}
		q.close()
	}
	delete(n.mms, mm.ckyI)
	mm.wipe()
	n.log.Debug("main mode SA removed", "remote", mm.remote, "why", why)
}

// dpdTick sends R-U-THERE after DPDDelay of silence and declares the
// peer dead after the retransmissions (RFC 3706 section 5.5).
func (n *Negotiator) dpdTick(mm *mmState, now time.Time) {
	if n.cfg.DPDDelay <= 0 || !mm.dpdPeer {
		return
	}
	d := &mm.dpd
	switch {
	case !d.outstanding && now.Sub(d.last) >= n.cfg.DPDDelay:
		d.seq++
		if d.seq == 0 {
			d.seq = 1
		}
		d.outstanding, d.sentAt, d.tries = true, now, 0
	case d.outstanding && now.Sub(d.sentAt) >= n.cfg.RetransmitInterval<<d.tries:
		d.tries++
		if d.tries > n.cfg.RetransmitTries {
			n.log.Warn("dead peer detected", "remote", mm.remote)
			for _, q := range append([]*qmSA(nil), n.qsas...) {
				if q.remote == mm.remote.Addr() {
					n.deleteQMSA(q, false)
				}
			}
			n.deleteMM(mm, false, "dead peer")
			return
		}
		d.sentAt = now
	default:
		return
	}
	nt := Notify{DOI: doiIPsec, Protocol: protoISAKMP, Type: nRUThere, SPI: append(mm.ckyI[:], mm.ckyR[:]...),
		Data: binary.BigEndian.AppendUint32(nil, d.seq)}
	n.sendInformational(mm, []payload{{plNotify, nt.Encode()}})
}
