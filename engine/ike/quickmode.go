package ike

// Quick mode (RFC 2409 section 5.5):
//
//	Initiator                        Responder
//	HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr] [, NAT-OAi, NAT-OAr] -->
//	     <-- HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr] [, NAT-OAi, NAT-OAr]
//	HDR*, HASH(3)                     -->
//
// Inbound SAs go in before outbound ones, each as soon as the peer may
// use it: the initiator installs both after sending HASH(3); the
// responder installs its inbound SAs when it sends QM2 (it has the keys
// then, and the initiator may send ESP as soon as it sent HASH(3), which
// can overtake HASH(3) on the way in) and its outbound ones after checking
// HASH(3). A responder exchange that never completes takes its inbound
// SAs with it.

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
)

// qmRequest is a quick mode to start: an acquire, or the rekey of an
// installed SA pair (rekeyOf; the acquire then has Ref 0).
type qmRequest struct {
	acq     Acquire
	rekeyOf *qmSA
}

// qmExchange is one quick mode in progress, or just finished and kept
// to answer duplicates. Guarded by Negotiator.mu.
type qmExchange struct {
	mid       uint32
	initiator bool
	done      bool
	iv        []byte
	req       qmRequest

	sel    ipsec.Selector // outbound: local to remote
	tunnel netip.Addr     // the peer's tunnel endpoint; invalid: transport
	policy ipsec.QMPolicy
	offers []ipsec.QMOffer // initiator: the offer of each proposal number

	ni, nr        []byte // Ni_b and Nr_b, whatever this host's role
	dh            *dhKey
	gqm           []byte // g(qm)^xy with PFS
	params        qmParams
	chosen        ipsec.QMOffer
	inAH, inESP   uint32 // SPIs this host chose
	outAH, outESP uint32 // the peer's
	idci, idcr    []byte

	lastIn, lastOut []byte
	rx              retx
	touched         time.Time

	// early are the inbound SAs a responder installed with QM2 (keys
	// wiped), removed if the exchange fails.
	early []ipsec.SAParams
	// soft and hard are the SAs' lifetimes, fixed at the first install.
	soft, hard time.Duration
	// joined are acquires for traffic this responder exchange carries:
	// its outbound SA serves them (Kernel resolves the Ref by selector);
	// they fail with it.
	joined []Acquire
}

func (q *qmExchange) close() {
	q.dh.close()
	wipe(q.gqm)
}

// dropEarly removes the inbound SAs of a responder exchange that did not
// complete.
func (n *Negotiator) dropEarly(q *qmExchange) {
	for _, sa := range q.early {
		_ = n.cfg.Kernel.DeleteSA(sa.Direction, sa.SPI, sa.Dst)
	}
	q.early = nil
	for _, a := range q.joined {
		n.failAcquire(a)
	}
	q.joined = nil
}

// qmSA is an installed SA pair (with AH+ESP, two pairs). Guarded by
// Negotiator.mu.
type qmSA struct {
	info          ipsec.QMSA
	mm            [8]byte // initiator cookie of the main mode SA
	local, remote netip.Addr
	inAH, inESP   uint32
	outAH, outESP uint32
	initiator     bool
	req           qmRequest
	softAt        time.Time
	hardAt        time.Time
	rekeying      bool
	retireAt      time.Time // a rekeyed pair: deleted (with notification) then
}

// Acquire starts a negotiation for an outbound negotiate filter. When it
// fails, Kernel.FailAcquire gets a.Ref.
func (n *Negotiator) Acquire(a Acquire) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.stats.TotalAcquire++
	n.stats.ActiveAcquire++
	if q := n.joinable(a); q != nil {
		// The peer is negotiating this traffic with us right now (our
		// answer to its first packet, say): wait for its outbound SA
		// instead of a second quick mode in the other direction.
		q.joined = append(q.joined, a)
	} else if n.served(a) {
		// That exchange finished between the data path's acquire and
		// this call: its outbound SA already carries the traffic.
		n.stats.ActiveAcquire--
	} else {
		n.request(qmRequest{acq: a})
	}
	out := n.takeOutbox()
	n.mu.Unlock()
	n.send(out)
}

// joinable returns the unfinished responder quick mode with a's peer
// whose traffic covers a's filter, if any.
func (n *Negotiator) joinable(a Acquire) *qmExchange {
	for _, mm := range n.mms {
		if mm.remote.Addr() != a.Remote {
			continue
		}
		for _, q := range mm.qms {
			if !q.initiator && !q.done && q.tunnel == a.Filter.Tunnel && q.sel.Covers(a.Filter.Selector) {
				return q
			}
		}
	}
	return nil
}

// served reports whether an SA pair this host installed as a responder
// within the last servedWindow carries a's traffic: the data path raised
// a just before that pair's outbound SA went in.
func (n *Negotiator) served(a Acquire) bool {
	since := n.now().Add(-servedWindow)
	for _, q := range n.qsas {
		if !q.initiator && q.info.Created.After(since) && q.remote == a.Remote &&
			q.info.Tunnel == a.Filter.Tunnel && q.info.Selector.Covers(a.Filter.Selector) {
			return true
		}
	}
	return false
}

// RetireAfter is how long a rekeyed SA pair outlives the quick mode that
// replaced it.
const RetireAfter = 2 * time.Second

// servedWindow bounds served: an acquire later than that is for traffic
// the data path really has no SA for (deleted, expired).
const servedWindow = 2 * time.Second

// request runs a quick mode under a usable main mode SA with the peer,
// or queues it on one being negotiated, or starts one.
func (n *Negotiator) request(r qmRequest) {
	a := r.acq
	sel := a.Filter.Selector
	if !a.Local.Is4() || !a.Remote.Is4() || !sel.Src.IsValid() || !sel.Dst.IsValid() || !sel.Src.Addr().Is4() || !sel.Dst.Addr().Is4() {
		n.log.Warn("acquire refused: IPv4 peers and concrete IPv4 selectors only", "remote", a.Remote, "selector", sel.String())
		n.stats.NegotiationFailures++
		n.failRequest(r)
		return
	}
	var pendingOn *mmState
	for _, mm := range n.mms {
		if mm.remote.Addr() != a.Remote {
			continue
		}
		if mm.established && n.mmUsable(mm) {
			n.startQM(mm, r)
			return
		}
		if !mm.established && mm.initiator {
			pendingOn = mm
		}
	}
	if pendingOn != nil {
		pendingOn.pending = append(pendingOn.pending, r)
		return
	}
	f, p, ok := n.cfg.Policy.MainMode(a.Local, a.Remote)
	if !ok {
		n.log.Info("no main mode policy for acquire", "remote", a.Remote)
		n.stats.NegotiationFailures++
		n.failRequest(r)
		return
	}
	mm, err := n.startMM(a.Local, a.Remote, f, p)
	if err != nil {
		n.log.Warn("cannot start main mode", "remote", a.Remote, "err", err)
		n.stats.NegotiationFailures++
		n.failRequest(r)
		return
	}
	mm.pending = append(mm.pending, r)
}

func (n *Negotiator) failRequest(r qmRequest) {
	if r.rekeyOf != nil {
		r.rekeyOf.rekeying = false
		return
	}
	n.failAcquire(r.acq)
}

// mmUsable applies the quick mode limits of the main mode policy
// (QMPerMM, MasterPFS) and the SA's lifetime.
func (n *Negotiator) mmUsable(mm *mmState) bool {
	lim := mm.policy.QMPerMM
	if mm.policy.MasterPFS {
		lim = 1
	}
	running := uint32(0)
	for _, q := range mm.qms {
		if !q.done {
			running++
		}
	}
	if lim != 0 && mm.quickModes+running >= lim {
		return false
	}
	return n.now().Before(mm.expires)
}

func lifeOr(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}

// startQM sends QM1 for r under mm.
func (n *Negotiator) startQM(mm *mmState, r qmRequest) {
	a := r.acq
	q := &qmExchange{initiator: true, req: r, sel: a.Filter.Selector, tunnel: a.Filter.Tunnel,
		policy: a.Policy, touched: n.now()}
	for q.mid == 0 || mm.qms[q.mid] != nil {
		q.mid = n.randomU32()
	}
	udp := n.useEncap(mm)
	q.params.encap = encapMode(q.tunnel.IsValid(), udp, mm.nattDraft)
	if a.Policy.PFS {
		q.params.group = a.Policy.PFSGroup
		if q.params.group == ipsec.DHNone {
			q.params.group = mm.offer.Group
		}
	}
	var needAH, needESP bool
	for _, o := range a.Policy.Offers {
		needAH = needAH || o.AH != ipsec.HashNone
		needESP = needESP || o.ESP
	}
	if needAH {
		q.inAH = n.newSPI()
	}
	if needESP {
		q.inESP = n.newSPI()
	}
	sa := SA{DOI: doiIPsec, Situation: sitIdentityOnly}
	for i, o := range a.Policy.Offers {
		p := q.params
		p.lifeSec = lifeOr(o.LifeSec, ipsec.DefaultQMLifeSec)
		p.lifeKB = lifeOr(o.LifeKB, ipsec.DefaultQMLifeKB)
		num := uint8(i + 1)
		if o.AH != ipsec.HashNone {
			sa.Proposals = append(sa.Proposals, Proposal{Num: num, Protocol: protoAH, SPI: spiBytes(q.inAH),
				Transforms: []Transform{{Num: 1, ID: ahID(o.AH), Attrs: p2Attrs(p, o.AH, 0)}}})
		}
		if o.ESP {
			id, kl := espID(o.ESPCipher)
			sa.Proposals = append(sa.Proposals, Proposal{Num: num, Protocol: protoESP, SPI: spiBytes(q.inESP),
				Transforms: []Transform{{Num: 1, ID: id, Attrs: p2Attrs(p, o.ESPAuth, kl)}}})
		}
		q.offers = append(q.offers, o)
	}
	if len(sa.Proposals) == 0 {
		n.log.Warn("quick mode policy has no offers", "policy", a.Policy.Name)
		n.stats.NegotiationFailures++
		n.failRequest(r)
		return
	}
	q.ni = make([]byte, 32)
	n.random(q.ni)
	ps := []payload{{plSA, sa.Encode()}, {plNonce, q.ni}}
	if q.params.group != ipsec.DHNone {
		dh, err := newDH(q.params.group, n.cfg.Rand)
		if err != nil {
			n.stats.NegotiationFailures++
			n.failRequest(r)
			return
		}
		q.dh = dh
		ps = append(ps, payload{plKE, dh.public})
	}
	sel := q.sel
	q.idci = idFromPrefix(sel.Src, uint8(sel.Protocol), sel.SrcPort).Encode()
	q.idcr = idFromPrefix(sel.Dst, uint8(sel.Protocol), sel.DstPort).Encode()
	ps = append(ps, payload{plID, q.idci}, payload{plID, q.idcr})
	ps = append(ps, n.natoaPayloads(mm, q)...)
	h1 := qmHash1(mm.keys, q.mid, encodeChain(ps))
	body := hashedBody(h1, ps)
	out, iv, err := buildEncrypted(mm.keys, mm.header(exchQuick, 0, q.mid), plHash, body,
		phase2IV(mm.keys, mm.iv, q.mid))
	if err != nil {
		n.failRequest(r)
		return
	}
	q.iv = iv
	mm.qms[q.mid] = q
	n.arm(&q.rx, mm.local, mm.remote, out)
	n.queue(mm.local, mm.remote, out, "[ HASH "+chainSummary(ps)[2:])
}

// natoaPayloads are NAT-OAi and NAT-OAr (RFC 3947 section 5.2) for
// UDP-encapsulated transport mode.
func (n *Negotiator) natoaPayloads(mm *mmState, q *qmExchange) []payload {
	m := q.params.encap
	if !encapIsUDP(m) || encapIsTunnel(m) {
		return nil
	}
	t := plNATOA
	if mm.nattDraft {
		t = plNATOAd
	}
	i, r := mm.local.Addr(), mm.remote.Addr()
	if !q.initiator {
		i, r = r, i
	}
	return []payload{
		{t, ID{Type: idIPv4Addr, Data: i.AsSlice()}.Encode()},
		{t, ID{Type: idIPv4Addr, Data: r.AsSlice()}.Encode()},
	}
}

func spiBytes(s uint32) []byte { return msgIDBytes(s) }

// openHashed decrypts a quick mode message and returns it with the bytes
// after its leading HASH payload.
func (n *Negotiator) openHashed(k *phase1Keys, h Header, msg, iv []byte) (*Message, []byte, []byte, error) {
	m, next, err := n.open(k, h, msg, iv)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(m.Payloads) == 0 || m.Payloads[0].Type != plHash {
		return nil, nil, nil, malformed("message does not start with HASH")
	}
	last := m.Payloads[len(m.Payloads)-1]
	rest := m.Body[m.Payloads[0].End:last.End]
	if len(m.Payloads) == 1 {
		rest = nil
	}
	return m, rest, next, nil
}

// quickModeReceive dispatches a quick mode message under mm.
func (n *Negotiator) quickModeReceive(mm *mmState, local, remote netip.AddrPort, h Header, msg []byte) {
	if !mm.established || h.MsgID == 0 {
		n.stats.InvalidPacketsReceived++
		return
	}
	mm.dpd.last = n.now()
	q := mm.qms[h.MsgID]
	if q != nil && bytes.Equal(msg, q.lastIn) {
		if q.lastOut != nil {
			n.queue(local, remote, q.lastOut, "replay")
		}
		return
	}
	var err error
	switch {
	case q == nil:
		err = n.respondQM1(mm, local, remote, h, msg)
	case q.done:
		return
	case q.initiator:
		err = n.initiatorQM2(mm, q, h, msg)
	default:
		err = n.responderQM3(mm, q, h, msg)
	}
	if err != nil {
		if e, ok := err.(*mmErr); ok && e.kind != "packet" {
			n.log.Warn("quick mode failed", "remote", mm.remote, "mid", h.MsgID, "err", err)
			if q == nil {
				n.stats.ReceiveFailures++
				n.stats.NegotiationFailures++
				// RFC 2408 section 5.6: the initiator learns of the
				// refusal instead of retransmitting into the void.
				nt := Notify{DOI: doiIPsec, Protocol: protoESP, Type: nNoProposalChosen}
				n.sendInformational(mm, []payload{{plNotify, nt.Encode()}})
			} else {
				n.failQM(mm, q, err.Error())
			}
			return
		}
		n.stats.InvalidPacketsReceived++
		n.log.Debug("quick mode message dropped", "remote", remote, "err", err)
	}
}

func (n *Negotiator) failQM(mm *mmState, q *qmExchange, why string) {
	delete(mm.qms, q.mid)
	n.dropEarly(q)
	q.close()
	n.stats.NegotiationFailures++
	if q.initiator {
		n.failRequest(q.req)
	} else {
		n.stats.ReceiveFailures++
	}
}

// respondQM1 chooses a proposal and sends QM2.
func (n *Negotiator) respondQM1(mm *mmState, local, remote netip.AddrPort, h Header, msg []byte) error {
	m, rest, iv, err := n.openHashed(mm.keys, h, msg, phase2IV(mm.keys, mm.iv, h.MsgID))
	if err != nil {
		return err
	}
	if !hmacEqual(m.Payloads[0].Body, qmHash1(mm.keys, h.MsgID, rest)) {
		return malformed("HASH(1) invalid")
	}
	sab, ni := m.first(plSA), m.first(plNonce)
	if sab == nil || ni == nil {
		return malformed("QM1 without SA or nonce")
	}
	ids := m.all(plID)
	if len(ids) != 0 && len(ids) != 2 {
		return malformed("QM1 with %d IDs", len(ids))
	}
	q := &qmExchange{mid: h.MsgID, iv: iv, ni: bytes.Clone(ni), touched: n.now()}
	sa, _ := DecodeSA(sab)
	var ci, cr ID
	if len(ids) == 2 {
		ci, _ = DecodeID(ids[0])
		cr, _ = DecodeID(ids[1])
		q.idci, q.idcr = bytes.Clone(ids[0]), bytes.Clone(ids[1])
	} else {
		ci = ID{Type: idIPv4Addr, Data: remote.Addr().AsSlice()}
		cr = ID{Type: idIPv4Addr, Data: local.Addr().AsSlice()}
	}
	pi, ok1 := ci.Prefix()
	pr, ok2 := cr.Prefix()
	if !ok1 || !ok2 || ci.Protocol != cr.Protocol {
		return propErr("unsupported quick mode IDs")
	}
	q.sel = ipsec.Selector{Src: pr, Dst: pi, Protocol: ipsec.Protocol(ci.Protocol), SrcPort: cr.Port, DstPort: ci.Port}

	// The encapsulation mode of the first proposal names tunnel or
	// transport for the policy lookup.
	mode := uint32(0)
	if len(sa.Proposals) > 0 && len(sa.Proposals[0].Transforms) > 0 {
		p, _ := parseP2(sa.Proposals[0].Protocol, sa.Proposals[0].Transforms[0])
		mode = p.params.encap
	}
	if encapIsTunnel(mode) {
		q.tunnel = remote.Addr()
	}
	f, pol, ok := n.cfg.Policy.QuickMode(local.Addr(), remote.Addr(), q.sel, q.tunnel)
	if !ok {
		return propErr("no quick mode policy for %v", q.sel)
	}
	q.policy = pol
	q.req.acq = Acquire{Local: local.Addr(), Remote: remote.Addr(), Filter: f, Policy: pol}
	chosen, err := n.selectQM(q, sa, pol)
	if err != nil {
		return err
	}
	if pol.PFS && q.params.group == ipsec.DHNone {
		return propErr("policy %q requires PFS", pol.Name)
	}
	var ke []byte
	if q.params.group != ipsec.DHNone {
		peerKE := m.first(plKE)
		if peerKE == nil {
			return propErr("PFS group without KE")
		}
		if q.dh, err = newDH(q.params.group, n.cfg.Rand); err != nil {
			return propErr("%v", err)
		}
		if q.gqm, err = q.dh.shared(peerKE); err != nil {
			return propErr("%v", err)
		}
		ke = q.dh.public
	}
	q.nr = make([]byte, 32)
	n.random(q.nr)
	ps := []payload{{plSA, chosen.Encode()}, {plNonce, q.nr}}
	if ke != nil {
		ps = append(ps, payload{plKE, ke})
	}
	if len(ids) == 2 {
		ps = append(ps, payload{plID, q.idci}, payload{plID, q.idcr})
	}
	ps = append(ps, n.natoaPayloads(mm, q)...)
	h2 := qmHash2(mm.keys, q.mid, q.ni, encodeChain(ps))
	out, iv2, err := buildEncrypted(mm.keys, mm.header(exchQuick, 0, q.mid), plHash, hashedBody(h2, ps), q.iv)
	if err != nil {
		return err
	}
	q.iv = iv2
	q.lastIn, q.lastOut = msg, out
	if q.early, err = n.addSAs(mm, q, ipsec.Inbound); err != nil {
		n.stats.KeyAdditionFailures++
		return fmt.Errorf("inbound SAs: %w", err)
	}
	mm.qms[q.mid] = q
	n.queue(local, remote, out, "[ HASH "+chainSummary(ps)[2:])
	return nil
}

// selectQM picks the first of the initiator's proposals (and, within
// one, the first transform combination) that matches an offer of pol;
// it sets q's SPIs, parameters and chosen offer and returns the SA
// payload of the answer.
func (n *Negotiator) selectQM(q *qmExchange, sa *SA, pol ipsec.QMPolicy) (*SA, error) {
	for i := 0; i < len(sa.Proposals); {
		j := i
		var ah, esp *Proposal
		bad := false
		for ; j < len(sa.Proposals) && sa.Proposals[j].Num == sa.Proposals[i].Num; j++ {
			p := &sa.Proposals[j]
			switch {
			case p.Protocol == protoAH && ah == nil && len(p.SPI) == 4:
				ah = p
			case p.Protocol == protoESP && esp == nil && len(p.SPI) == 4:
				esp = p
			default:
				bad = true
			}
		}
		i = j
		if bad || ah == nil && esp == nil {
			continue
		}
		ahTs, espTs := []Transform{{}}, []Transform{{}}
		if ah != nil {
			ahTs = ah.Transforms
		}
		if esp != nil {
			espTs = esp.Transforms
		}
		for _, ta := range ahTs {
			for _, te := range espTs {
				var cand ipsec.QMOffer
				var params qmParams
				if ah != nil {
					pa, ok := parseP2(protoAH, ta)
					if !ok {
						continue
					}
					cand.AH, params = pa.auth, pa.params
				}
				if esp != nil {
					pe, ok := parseP2(protoESP, te)
					if !ok || ah != nil && pe.params.encap != params.encap {
						continue
					}
					cand.ESP, cand.ESPCipher, cand.ESPAuth, params = true, pe.cipher, pe.auth, pe.params
				}
				if !validEncap(params.encap) {
					continue
				}
				for _, o := range pol.Offers {
					if o.AH != cand.AH || o.ESP != cand.ESP || o.ESP && (o.ESPCipher != cand.ESPCipher || o.ESPAuth != cand.ESPAuth) {
						continue
					}
					params.lifeSec = minLife(params.lifeSec, lifeOr(o.LifeSec, ipsec.DefaultQMLifeSec))
					params.lifeKB = minLife(params.lifeKB, lifeOr(o.LifeKB, ipsec.DefaultQMLifeKB))
					cand.LifeSec, cand.LifeKB = params.lifeSec, params.lifeKB
					q.params, q.chosen = params, cand
					out := &SA{DOI: doiIPsec, Situation: sitIdentityOnly}
					if ah != nil {
						q.inAH, q.outAH = n.newSPI(), be32(ah.SPI)
						out.Proposals = append(out.Proposals, Proposal{Num: ah.Num, Protocol: protoAH, SPI: spiBytes(q.inAH), Transforms: []Transform{ta}})
					}
					if esp != nil {
						q.inESP, q.outESP = n.newSPI(), be32(esp.SPI)
						out.Proposals = append(out.Proposals, Proposal{Num: esp.Num, Protocol: protoESP, SPI: spiBytes(q.inESP), Transforms: []Transform{te}})
					}
					return out, nil
				}
			}
		}
	}
	return nil, propErr("no acceptable quick mode proposal for policy %q", pol.Name)
}

func minLife(peer, ours uint32) uint32 {
	if peer == 0 || ours < peer {
		return ours
	}
	return peer
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// initiatorQM2 checks the responder's choice, sends QM3 and installs.
func (n *Negotiator) initiatorQM2(mm *mmState, q *qmExchange, h Header, msg []byte) error {
	m, rest, iv, err := n.openHashed(mm.keys, h, msg, q.iv)
	if err != nil {
		return err
	}
	if !hmacEqual(m.Payloads[0].Body, qmHash2(mm.keys, q.mid, q.ni, rest)) {
		return malformed("HASH(2) invalid")
	}
	sab, nr := m.first(plSA), m.first(plNonce)
	if sab == nil || nr == nil {
		return malformed("QM2 without SA or nonce")
	}
	sa, _ := DecodeSA(sab)
	num := sa.Proposals[0].Num
	if num == 0 || int(num) > len(q.offers) {
		return propErr("responder chose proposal %d", num)
	}
	o := q.offers[num-1]
	var params qmParams
	var gotAH, gotESP bool
	for _, p := range sa.Proposals {
		if p.Num != num || len(p.SPI) != 4 || len(p.Transforms) != 1 {
			return propErr("bad proposal in QM2")
		}
		pp, ok := parseP2(p.Protocol, p.Transforms[0])
		if !ok {
			return propErr("bad transform in QM2")
		}
		switch p.Protocol {
		case protoAH:
			if pp.auth != o.AH || gotAH {
				return propErr("AH transform not offered")
			}
			gotAH, q.outAH = true, be32(p.SPI)
		case protoESP:
			if !o.ESP || pp.cipher != o.ESPCipher || pp.auth != o.ESPAuth || gotESP {
				return propErr("ESP transform not offered")
			}
			gotESP, q.outESP = true, be32(p.SPI)
		}
		params = pp.params
	}
	if gotAH != (o.AH != ipsec.HashNone) || gotESP != o.ESP {
		return propErr("responder changed the protocols of proposal %d", num)
	}
	if params.encap != q.params.encap || params.group != q.params.group {
		return propErr("responder changed the encapsulation or PFS group")
	}
	q.params.lifeSec = lifeOr(params.lifeSec, lifeOr(o.LifeSec, ipsec.DefaultQMLifeSec))
	q.params.lifeKB = lifeOr(params.lifeKB, lifeOr(o.LifeKB, ipsec.DefaultQMLifeKB))
	q.chosen = o
	q.chosen.LifeSec, q.chosen.LifeKB = q.params.lifeSec, q.params.lifeKB
	if q.dh != nil {
		ke := m.first(plKE)
		if ke == nil {
			return propErr("QM2 without KE")
		}
		if q.gqm, err = q.dh.shared(ke); err != nil {
			return propErr("%v", err)
		}
	}
	q.nr = bytes.Clone(nr)
	q.iv = iv
	h3 := qmHash3(mm.keys, q.mid, q.ni, q.nr)
	out, _, err := buildEncrypted(mm.keys, mm.header(exchQuick, 0, q.mid), plHash,
		encodeChain([]payload{{plHash, h3}}), q.iv)
	if err != nil {
		return err
	}
	q.rx = retx{}
	q.lastIn, q.lastOut = msg, out
	q.done = true
	q.touched = n.now()
	n.queue(mm.local, mm.remote, out, "[ HASH ]")
	n.installQM(mm, q)
	return nil
}

// responderQM3 checks HASH(3) and installs.
func (n *Negotiator) responderQM3(mm *mmState, q *qmExchange, h Header, msg []byte) error {
	m, _, _, err := n.openHashed(mm.keys, h, msg, q.iv)
	if err != nil {
		return err
	}
	if !hmacEqual(m.Payloads[0].Body, qmHash3(mm.keys, q.mid, q.ni, q.nr)) {
		return malformed("HASH(3) invalid")
	}
	q.done = true
	q.lastIn, q.lastOut = msg, nil
	q.touched = n.now()
	n.installQM(mm, q)
	return nil
}

// saKeys returns the encryption and authentication keys of one SA
// (RFC 2409 section 5.5: the encryption key first, then the
// authentication key).
func saKeys(k *phase1Keys, q *qmExchange, proto uint8, spi uint32) (enc, auth []byte) {
	var el, al int
	if proto == protoESP {
		el, al = espEncKeyLen(q.chosen.ESPCipher), authKeyLen(q.chosen.ESPAuth)
	} else {
		al = authKeyLen(q.chosen.AH)
	}
	km := keymat(k, q.gqm, proto, spi, q.ni, q.nr, el+al)
	enc, auth = km[:el:el], km[el:]
	if el == 0 {
		enc = nil
	}
	return enc, auth
}

// lifetimes returns the soft and hard lifetimes of q's SAs: the
// initiator rekeys first; the responder's soft expiry is a fallback for
// when it does not.
func (n *Negotiator) lifetimes(q *qmExchange) (soft, hard time.Duration) {
	hard = time.Duration(q.params.lifeSec) * time.Second
	jitter := time.Duration(n.randomU32()%1000) * hard / 20000 // up to 5%
	soft = hard*9/10 - jitter
	if !q.initiator {
		soft = hard*97/100 - jitter
	}
	return soft, hard
}

// addSAs installs q's SAs of direction dir (AH and ESP) and returns them
// with their keys wiped; on error it removes those it added.
func (n *Negotiator) addSAs(mm *mmState, q *qmExchange, dir ipsec.Direction) ([]ipsec.SAParams, error) {
	soft, hard := q.soft, q.hard
	if hard == 0 {
		soft, hard = n.lifetimes(q)
		q.soft, q.hard = soft, hard
	}
	udp := encapIsUDP(q.params.encap)
	mode := ipsec.ModeTransport
	if encapIsTunnel(q.params.encap) {
		mode = ipsec.ModeTunnel
	}
	local, remote := mm.local, mm.remote
	var ref uint64
	if q.initiator && q.req.rekeyOf == nil {
		ref = q.req.acq.Ref
	} else if len(q.joined) > 0 {
		ref = q.joined[0].Ref
	}
	type half struct {
		proto    uint8
		in, out  uint32
		cipher   ipsec.Cipher
		hash     ipsec.Hash
		protocol ipsec.SAProtocol
	}
	var hs []half
	if q.chosen.AH != ipsec.HashNone {
		hs = append(hs, half{protoAH, q.inAH, q.outAH, ipsec.CipherNone, q.chosen.AH, ipsec.SAAH})
	}
	if q.chosen.ESP {
		hs = append(hs, half{protoESP, q.inESP, q.outESP, q.chosen.ESPCipher, q.chosen.ESPAuth, ipsec.SAESP})
	}
	base := ipsec.SAParams{Mode: mode, Encap: udp, SoftKB: uint64(q.params.lifeKB) * 9 / 10,
		HardKB: uint64(q.params.lifeKB), SoftLife: soft, HardLife: hard}
	var added []ipsec.SAParams
	for _, h := range hs {
		sa := base
		sa.Direction, sa.Protocol, sa.Cipher, sa.Hash = dir, h.protocol, h.cipher, h.hash
		if dir == ipsec.Inbound {
			sa.SPI, sa.Src, sa.Dst = h.in, remote.Addr(), local.Addr()
			sa.SrcPort, sa.DstPort = remote.Port(), local.Port()
			sa.Selector = q.sel.Reverse()
		} else {
			sa.SPI, sa.Src, sa.Dst = h.out, local.Addr(), remote.Addr()
			sa.SrcPort, sa.DstPort = local.Port(), remote.Port()
			sa.Selector, sa.Ref = q.sel, ref
		}
		if !udp {
			sa.SrcPort, sa.DstPort = 0, 0
		}
		if len(hs) == 2 { // AH+ESP: each SA names the other (RFC 4301 section 4.5)
			other := hs[1-slices.IndexFunc(hs, func(x half) bool { return x.proto == h.proto })]
			sa.BundleSPI = other.out
			if dir == ipsec.Inbound {
				sa.BundleSPI = other.in
			}
		}
		sa.EncKey, sa.AuthKey = saKeys(mm.keys, q, h.proto, sa.SPI)
		err := n.cfg.Kernel.AddSA(sa)
		wipe(sa.EncKey, sa.AuthKey)
		sa.EncKey, sa.AuthKey = nil, nil
		if err != nil {
			for _, a := range added {
				_ = n.cfg.Kernel.DeleteSA(a.Direction, a.SPI, a.Dst)
			}
			return nil, fmt.Errorf("AddSA %v %v SPI %#x: %w", dir, sa.Protocol, sa.SPI, err)
		}
		n.stats.KeyAdditions++
		added = append(added, sa)
	}
	return added, nil
}

// installQM installs the SAs of a finished quick mode, inbound first
// (a responder's inbound ones are in already: q.early).
func (n *Negotiator) installQM(mm *mmState, q *qmExchange) {
	local, remote := mm.local, mm.remote
	udp := encapIsUDP(q.params.encap)
	soft, hard := q.soft, q.hard
	added := q.early
	q.early = nil
	fail := func(err error) {
		n.stats.KeyAdditionFailures++
		n.log.Warn("SA install failed", "remote", remote, "err", err)
		for _, sa := range added {
			_ = n.cfg.Kernel.DeleteSA(sa.Direction, sa.SPI, sa.Dst)
		}
		n.failQM(mm, q, err.Error())
	}
	if len(added) == 0 {
		in, err := n.addSAs(mm, q, ipsec.Inbound)
		if err != nil {
			fail(err)
			return
		}
		added = in
		soft, hard = q.soft, q.hard
	}
	out, err := n.addSAs(mm, q, ipsec.Outbound)
	if err != nil {
		fail(err)
		return
	}
	added = append(added, out...)
	now := n.now()
	rec := &qmSA{mm: mm.ckyI, local: local.Addr(), remote: remote.Addr(), inAH: q.inAH, inESP: q.inESP,
		outAH: q.outAH, outESP: q.outESP, initiator: q.initiator, req: q.req,
		softAt: now.Add(soft), hardAt: now.Add(hard)}
	if q.chosen.AH == ipsec.HashNone {
		rec.inAH, rec.outAH = 0, 0
	}
	if !q.chosen.ESP {
		rec.inESP, rec.outESP = 0, 0
	}
	// A rekey proposes the negotiated traffic, not the whole filter.
	rec.req.rekeyOf = nil
	rec.req.acq.Filter.Selector, rec.req.acq.Filter.Tunnel = q.sel, q.tunnel
	rec.info = ipsec.QMSA{Selector: q.sel, Tunnel: q.tunnel, Local: local, Remote: remote, Encap: udp,
		Offer: q.chosen, PFS: q.params.group != ipsec.DHNone, PFSGroup: q.params.group,
		SPIIn: firstNZ(rec.inESP, rec.inAH), SPIOut: firstNZ(rec.outESP, rec.outAH),
		CookieI: mm.ckyI, CookieR: mm.ckyR, Created: now}
	n.qsas = append(n.qsas, rec)
	mm.quickModes++
	n.stats.IKEQuickMode++
	if q.initiator && q.req.rekeyOf == nil && n.stats.ActiveAcquire > 0 {
		n.stats.ActiveAcquire--
	}
	for range q.joined {
		if n.stats.ActiveAcquire > 0 {
			n.stats.ActiveAcquire--
		}
	}
	q.joined = nil
	n.log.Info("quick mode SAs installed", "remote", remote, "selector", q.sel.String(),
		"offer", q.chosen.String(), "spi_in", fmt.Sprintf("%#x", rec.info.SPIIn),
		"spi_out", fmt.Sprintf("%#x", rec.info.SPIOut), "pfs", rec.info.PFS, "encap", udp)
	if old := q.req.rekeyOf; old != nil {
		// The old pair stays RetireAfter: the peer may still send on it
		// (its DELETE handling can overtake HASH(3)); new traffic goes out
		// on the new outbound SA, the newest for its Ref.
		n.stats.KeyUpdates++
		old.rekeying, old.retireAt = true, n.now().Add(RetireAfter)
	}
	q.dh.close()
	wipe(q.gqm)
	q.gqm = nil
}

func firstNZ(a, b uint32) uint32 {
	if a != 0 {
		return a
	}
	return b
}

// housekeepQM expires and rekeys an installed SA pair.
func (n *Negotiator) housekeepQM(q *qmSA, now time.Time) {
	if !q.retireAt.IsZero() && !now.Before(q.retireAt) {
		n.log.Info("rekeyed quick mode SAs retired", "remote", q.remote, "spi_in", fmt.Sprintf("%#x", q.info.SPIIn))
		n.deleteQMSA(q, true)
		return
	}
	if !now.Before(q.hardAt) {
		n.log.Info("quick mode SAs expired", "remote", q.remote, "spi_in", fmt.Sprintf("%#x", q.info.SPIIn))
		n.deleteQMSA(q, true)
		return
	}
	if !now.Before(q.softAt) && !q.rekeying && !n.superseded(q) {
		n.rekey(q)
	}
}

// superseded reports whether a newer SA pair carries q's traffic (the
// peer rekeyed and keeps the old pair until it expires).
func (n *Negotiator) superseded(q *qmSA) bool {
	for _, o := range n.qsas {
		if o != q && o.remote == q.remote && o.info.Selector == q.info.Selector && o.info.Created.After(q.info.Created) {
			return true
		}
	}
	return false
}

func (n *Negotiator) rekey(q *qmSA) {
	q.rekeying = true
	r := q.req
	r.acq.Ref = 0
	r.rekeyOf = q
	n.log.Info("rekeying quick mode SAs", "remote", q.remote, "spi_in", fmt.Sprintf("%#x", q.info.SPIIn))
	n.request(r)
}

// Expire reports a data-path lifetime event of the SA named by dir, spi
// and dst: soft starts a rekey, hard deletes the pair and tells the
// peer.
func (n *Negotiator) Expire(dir ipsec.Direction, spi uint32, dst netip.Addr, hard bool) {
	n.mu.Lock()
	defer func() {
		out := n.takeOutbox()
		n.mu.Unlock()
		n.send(out)
	}()
	for _, q := range n.qsas {
		match := false
		if dir == ipsec.Inbound {
			match = (spi == q.inESP || spi == q.inAH) && dst == q.local
		} else {
			match = (spi == q.outESP || spi == q.outAH) && dst == q.remote
		}
		if !match {
			continue
		}
		if hard {
			n.deleteQMSA(q, true)
		} else if !q.rekeying {
			n.rekey(q)
		}
		return
	}
}

// deleteQMSA removes an SA pair from the kernel and, when notify is
// set, sends the peer a DELETE for the inbound SPIs (RFC 2408 section
// 3.15).
func (n *Negotiator) deleteQMSA(q *qmSA, notify bool) {
	for i, o := range n.qsas {
		if o == q {
			n.qsas = append(n.qsas[:i], n.qsas[i+1:]...)
			break
		}
	}
	for _, s := range []struct {
		dir ipsec.Direction
		spi uint32
		dst netip.Addr
	}{{ipsec.Inbound, q.inAH, q.local}, {ipsec.Inbound, q.inESP, q.local},
		{ipsec.Outbound, q.outAH, q.remote}, {ipsec.Outbound, q.outESP, q.remote}} {
		if s.spi != 0 {
			_ = n.cfg.Kernel.DeleteSA(s.dir, s.spi, s.dst)
		}
	}
	if !notify {
		return
	}
	mm := n.mms[q.mm]
	if mm == nil || !mm.established {
		mm = nil
		for _, o := range n.mms {
			if o.established && o.remote.Addr() == q.remote {
				mm = o
				break
			}
		}
	}
	if mm == nil {
		return
	}
	var ps []payload
	if q.inAH != 0 {
		ps = append(ps, payload{plDelete, Delete{DOI: doiIPsec, Protocol: protoAH, SPISize: 4, SPIs: [][]byte{spiBytes(q.inAH)}}.Encode()})
	}
	if q.inESP != 0 {
		ps = append(ps, payload{plDelete, Delete{DOI: doiIPsec, Protocol: protoESP, SPISize: 4, SPIs: [][]byte{spiBytes(q.inESP)}}.Encode()})
	}
	n.sendInformational(mm, ps)
}
