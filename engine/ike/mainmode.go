package ike

// Main mode (RFC 2409 section 5, identity protection exchange of RFC
// 2408 section 4.5):
//
//	Initiator                          Responder
//	HDR, SA                      -->                     (MM1)
//	                             <--   HDR, SA           (MM2)
//	HDR, KE, Ni [, NAT-D, NAT-D] -->                     (MM3)
//	                             <--   HDR, KE, Nr [, NAT-D, NAT-D] (MM4)
//	HDR*, IDii, [CERT,] HASH_I|SIG_I [, N(INITIAL-CONTACT)] --> (MM5)
//	                             <--   HDR*, IDir, [CERT,] HASH_R|SIG_R (MM6)

import (
	"bytes"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/netip"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
)

// Vendor IDs: NAT-T (RFC 3947 section 3.1 and draft-02), DPD (RFC 3706
// section 5.1).
var (
	vidNATT       = mustHex("4a131c81070358455c5728f20e95452f")
	vidNATTDraft2 = mustHex("90cb80913ebb696e086381b5ec427b1f")
	vidDPD        = mustHex("afcad71368a1f1c96b8696fc77570100")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

type mmPhase uint8

const (
	mmSentSA   mmPhase = iota + 1 // initiator: MM1 sent
	mmSentKE                      // initiator: MM3 sent; responder: MM2 sent
	mmSentAuth                    // initiator: MM5 sent; responder: MM4 sent
	mmDone
)

func (p mmPhase) String() string {
	return [...]string{"?", "sa", "ke", "auth", "done"}[p]
}

// mmState is one main mode SA, negotiating or established. Guarded by
// Negotiator.mu.
type mmState struct {
	ckyI, ckyR    [8]byte
	initiator     bool
	local, remote netip.AddrPort
	state         mmPhase
	established   bool
	filter        ipsec.MMFilter
	policy        ipsec.MMPolicy
	authKind      ipsec.AuthKind
	psk           []byte

	offer    ipsec.MMOffer
	authAttr uint32
	lifetime time.Duration
	saib     []byte // SAi_b: the initiator's SA payload body
	dh       *dhKey
	gxi, gxr []byte
	ni, nr   []byte
	keys     *phase1Keys
	iv       []byte // the IV of the next phase 1 message; after MM6 the last phase 1 block

	natt, nattDraft, dpdPeer bool
	natLocal, natPeer        bool
	floated                  bool

	lastIn  []byte // the last message received, for duplicate detection
	lastOut []byte // the reply to lastIn (responder), replayed on a duplicate
	rx      retx   // initiator: the message awaiting an answer

	created, touched, expires time.Time
	pending                   []qmRequest
	qms                       map[uint32]*qmExchange
	quickModes                uint32
	dpd                       dpdState
}

func (mm *mmState) info() ipsec.MMSA {
	return ipsec.MMSA{
		CookieI: mm.ckyI, CookieR: mm.ckyR, Local: mm.local, Remote: mm.remote,
		Offer: mm.offer, Lifetime: mm.lifetime, Auth: mm.authKind, Initiator: mm.initiator,
		NATT: mm.natt, NATBehindPeer: mm.natPeer, NATBehindLocal: mm.natLocal,
		Created: mm.created, QuickModes: mm.quickModes,
	}
}

func (mm *mmState) wipe() {
	mm.keys.wipe()
	mm.dh.close()
	wipe(mm.psk)
}

func (mm *mmState) header(exch, flags uint8, mid uint32) Header {
	return Header{CookieI: mm.ckyI, CookieR: mm.ckyR, Exchange: exch, Flags: flags, MsgID: mid}
}

// buildPlain returns an unencrypted message of payloads ps.
func buildPlain(h Header, ps []payload) []byte {
	body := encodeChain(ps)
	if len(ps) > 0 {
		h.Next = ps[0].typ
	}
	msg := make([]byte, headerLen+len(body))
	h.Length = uint32(len(msg))
	h.encode(msg)
	copy(msg[headerLen:], body)
	return msg
}

// buildEncrypted returns a message of the payload chain body (first
// payload type first) encrypted under iv, and the cipher text's last
// block.
func buildEncrypted(k *phase1Keys, h Header, first uint8, body, iv []byte) ([]byte, []byte, error) {
	ct, err := encrypt(k, iv, body)
	if err != nil {
		return nil, nil, err
	}
	h.Next, h.Flags = first, h.Flags|flagEncryption
	msg := make([]byte, headerLen+len(ct))
	h.Length = uint32(len(msg))
	h.encode(msg)
	copy(msg[headerLen:], ct)
	return msg, lastBlock(k, ct), nil
}

// openEncrypted decrypts and decodes msg under iv; it returns the message
// and the IV that follows it.
func openEncrypted(k *phase1Keys, h Header, msg, iv []byte) (*Message, []byte, error) {
	if h.Flags&flagEncryption == 0 {
		return nil, nil, malformed("expected an encrypted message")
	}
	ct := msg[headerLen:]
	pt, err := decrypt(k, iv, ct)
	if err != nil {
		return nil, nil, err
	}
	ps, err := DecodePayloads(h.Next, pt)
	if err != nil {
		return nil, nil, err
	}
	if err := decodeTyped(ps); err != nil {
		return nil, nil, err
	}
	return &Message{Header: h, Body: pt, Payloads: ps}, lastBlock(k, ct), nil
}

// authMethods returns the rule's authentication methods this
// implementation can do, in the rule's order of preference, one per
// kind (the first pre-shared key, certificates if configured).
func (n *Negotiator) authMethods(f ipsec.MMFilter) []ipsec.AuthMethod {
	var out []ipsec.AuthMethod
	seen := map[ipsec.AuthKind]bool{}
	for _, a := range f.Auth {
		usable := a.Kind == ipsec.AuthPSK || a.Kind == ipsec.AuthRootCA && n.certReady()
		if usable && !seen[a.Kind] {
			seen[a.Kind] = true
			out = append(out, a)
		}
	}
	return out
}

func authAttrOf(k ipsec.AuthKind) uint32 {
	if k == ipsec.AuthRootCA {
		return authRSASig
	}
	return authPSK
}

func lifetimeOf(p ipsec.MMPolicy) uint32 {
	if p.Lifetime == 0 {
		return 28800
	}
	return p.Lifetime
}

// startMM begins a main mode as initiator (MM1).
func (n *Negotiator) startMM(local, remote netip.Addr, f ipsec.MMFilter, p ipsec.MMPolicy) (*mmState, error) {
	methods := n.authMethods(f)
	if len(methods) == 0 {
		n.stats.AuthenticationFailures++
		return nil, fmt.Errorf("no usable authentication method for %v (kerberos is not supported)", remote)
	}
	now := n.now()
	mm := &mmState{
		initiator: true, local: netip.AddrPortFrom(local, PortIKE), remote: netip.AddrPortFrom(remote, PortIKE),
		state: mmSentSA, filter: f, policy: p, authKind: methods[0].Kind, psk: []byte(methods[0].PSK),
		created: now, touched: now, qms: map[uint32]*qmExchange{},
	}
	n.random(mm.ckyI[:])
	sa := SA{DOI: doiIPsec, Situation: sitIdentityOnly}
	prop := Proposal{Num: 1, Protocol: protoISAKMP}
	// One transform per method and offer, methods in the rule's order
	// of preference (netsh lists them so), offers in the policy's.
	for _, am := range methods {
		for _, o := range p.Offers {
			prop.Transforms = append(prop.Transforms, mmTransform(len(prop.Transforms)+1, o, authAttrOf(am.Kind), lifetimeOf(p)))
		}
	}
	if len(prop.Transforms) == 0 {
		return nil, fmt.Errorf("main mode policy %q has no offers", p.Name)
	}
	sa.Proposals = []Proposal{prop}
	mm.saib = sa.Encode()
	msg := buildPlain(mm.header(exchIdentity, 0, 0), []payload{
		{plSA, mm.saib}, {plVendor, vidNATT}, {plVendor, vidNATTDraft2}, {plVendor, vidDPD},
	})
	n.mms[mm.ckyI] = mm
	n.arm(&mm.rx, mm.local, mm.remote, msg)
	n.queue(mm.local, mm.remote, msg, "[ SA V V V ]")
	n.log.Info("main mode started", "remote", remote, "policy", p.Name)
	return mm, nil
}

// halfOpen counts the responder main modes not yet authenticated.
func (n *Negotiator) halfOpen(peer netip.Addr) (perPeer, total int) {
	for _, mm := range n.mms {
		if !mm.initiator && !mm.established {
			total++
			if mm.remote.Addr() == peer {
				perPeer++
			}
		}
	}
	return
}

// respondMM1 handles a main mode's first message (responder) and sends
// MM2.
func (n *Negotiator) respondMM1(local, remote netip.AddrPort, h Header, msg []byte) {
	m, err := Decode(msg)
	if err == nil {
		err = decodeTyped(m.Payloads)
	}
	if err != nil {
		n.stats.InvalidPacketsReceived++
		return
	}
	if pp, tot := n.halfOpen(remote.Addr()); pp >= n.cfg.HalfOpenPerPeer || tot >= n.cfg.HalfOpenTotal {
		n.stats.ReceiveFailures++
		n.log.Warn("half-open main mode limit reached; MM1 dropped", "remote", remote)
		return
	}
	f, p, ok := n.cfg.Policy.MainMode(local.Addr(), remote.Addr())
	if !ok {
		n.stats.ReceiveFailures++
		n.log.Info("no main mode policy for peer", "remote", remote)
		return
	}
	sab := m.first(plSA)
	if sab == nil {
		n.stats.InvalidPacketsReceived++
		return
	}
	sa, _ := DecodeSA(sab)
	var chosen *Transform
	var parsed mmParsed
	var am ipsec.AuthMethod
	if len(sa.Proposals) == 1 && sa.Proposals[0].Protocol == protoISAKMP {
	search:
		for _, t := range sa.Proposals[0].Transforms {
			pt, ok := parseMMTransform(t)
			if !ok {
				continue
			}
			for _, a := range f.Auth {
				if authAttrOf(a.Kind) != pt.auth || a.Kind == ipsec.AuthKerberos || a.Kind == ipsec.AuthRootCA && !n.certReady() {
					continue
				}
				for _, o := range p.Offers {
					if o == pt.offer {
						chosen, parsed, am = &t, pt, a
						break search
					}
				}
			}
		}
	}
	if chosen == nil {
		n.stats.ReceiveFailures++
		n.stats.NegotiationFailures++
		if onlyKerberos(f.Auth) {
			n.stats.AuthenticationFailures++
			n.log.Warn("peer's rule allows kerberos only, which is not supported", "remote", remote)
		}
		n.log.Info("no acceptable main mode proposal", "remote", remote)
		n.sendPlainNotify(local, remote, h, nNoProposalChosen)
		return
	}
	now := n.now()
	mm := &mmState{
		ckyI: h.CookieI, local: local, remote: remote, state: mmSentKE, filter: f, policy: p,
		authKind: am.Kind, psk: []byte(am.PSK), offer: parsed.offer, authAttr: parsed.auth,
		saib: bytes.Clone(sab), created: now, touched: now, qms: map[uint32]*qmExchange{},
	}
	life := lifetimeOf(p)
	if parsed.lifetime != 0 && parsed.lifetime < life {
		life = parsed.lifetime
	}
	mm.lifetime = time.Duration(life) * time.Second
	n.random(mm.ckyR[:])
	ps := []payload{{plSA, (&SA{DOI: doiIPsec, Situation: sitIdentityOnly,
		Proposals: []Proposal{{Num: sa.Proposals[0].Num, Protocol: protoISAKMP, Transforms: []Transform{*chosen}}}}).Encode()}}
	n.vendorIDs(mm, m)
	if mm.natt {
		v := vidNATT
		if mm.nattDraft {
			v = vidNATTDraft2
		}
		ps = append(ps, payload{plVendor, v})
	}
	ps = append(ps, payload{plVendor, vidDPD})
	out := buildPlain(mm.header(exchIdentity, 0, 0), ps)
	mm.lastIn, mm.lastOut = msg, out
	n.mms[mm.ckyI] = mm
	n.queue(local, remote, out, chainSummary(ps))
}

func onlyKerberos(as []ipsec.AuthMethod) bool {
	for _, a := range as {
		if a.Kind != ipsec.AuthKerberos {
			return false
		}
	}
	return len(as) > 0
}

// vendorIDs records what the peer's vendor IDs announce.
func (n *Negotiator) vendorIDs(mm *mmState, m *Message) {
	for _, v := range m.all(plVendor) {
		switch {
		case bytes.Equal(v, vidNATT):
			mm.natt, mm.nattDraft = true, false
		case bytes.Equal(v, vidNATTDraft2):
			if !mm.natt {
				mm.natt, mm.nattDraft = true, true
			}
		case bytes.Equal(v, vidDPD):
			mm.dpdPeer = true
		}
	}
}

// sendPlainNotify answers a message that set up no state with an
// unprotected informational (RFC 2408 section 4.8).
func (n *Negotiator) sendPlainNotify(local, remote netip.AddrPort, h Header, typ uint16) {
	nt := Notify{DOI: doiIPsec, Protocol: protoISAKMP, Type: typ, SPI: append(h.CookieI[:], h.CookieR[:]...)}
	out := buildPlain(Header{CookieI: h.CookieI, CookieR: h.CookieR, Exchange: exchInformational},
		[]payload{{plNotify, nt.Encode()}})
	n.queue(local, remote, out, "[ N ]")
}

// mainModeReceive handles MM2 to MM6 for mm.
func (n *Negotiator) mainModeReceive(mm *mmState, local, remote netip.AddrPort, h Header, msg []byte) {
	if bytes.Equal(msg, mm.lastIn) {
		if mm.lastOut != nil {
			n.queue(local, remote, mm.lastOut, "replay")
		}
		return
	}
	if mm.established {
		return
	}
	var err error
	switch {
	case mm.initiator && mm.state == mmSentSA:
		err = n.initiatorMM2(mm, h, msg)
	case mm.initiator && mm.state == mmSentKE:
		err = n.initiatorMM4(mm, h, msg)
	case mm.initiator && mm.state == mmSentAuth:
		err = n.initiatorMM6(mm, h, msg)
	case !mm.initiator && mm.state == mmSentKE:
		err = n.responderMM3(mm, local, remote, h, msg)
	case !mm.initiator && mm.state == mmSentAuth:
		err = n.responderMM5(mm, local, remote, h, msg)
	default:
		n.stats.InvalidPacketsReceived++
		return
	}
	if err != nil {
		n.mmError(mm, err)
		return
	}
	mm.lastIn = msg
	mm.touched = n.now()
}

// errAuth marks authentication failures; errProposal proposal failures.
type mmErr struct {
	kind  string // "auth", "proposal", "packet"
	cause error
}

func (e *mmErr) Error() string { return e.kind + ": " + e.cause.Error() }

func authErr(format string, args ...any) error {
	return &mmErr{"auth", fmt.Errorf(format, args...)}
}

func propErr(format string, args ...any) error {
	return &mmErr{"proposal", fmt.Errorf(format, args...)}
}

// mmError handles a failed main mode step: a malformed message is
// dropped (the exchange goes on); authentication and proposal failures
// end the main mode.
func (n *Negotiator) mmError(mm *mmState, err error) {
	e, ok := err.(*mmErr)
	if !ok {
		n.stats.InvalidPacketsReceived++
		n.log.Debug("main mode message dropped", "remote", mm.remote, "err", err)
		return
	}
	if e.kind == "auth" {
		n.stats.AuthenticationFailures++
	}
	n.log.Warn("main mode failed", "remote", mm.remote, "err", err)
	n.failMM(mm, err.Error())
}

// failMM ends a main mode that did not complete.
func (n *Negotiator) failMM(mm *mmState, why string) {
	n.stats.NegotiationFailures++
	if !mm.initiator {
		n.stats.ReceiveFailures++
	}
	for _, r := range mm.pending {
		n.failRequest(r)
	}
	mm.pending = nil
	delete(n.mms, mm.ckyI)
	mm.wipe()
	n.log.Debug("main mode state removed", "remote", mm.remote, "why", why)
}

func (n *Negotiator) failAcquire(a Acquire) {
	n.stats.AcquireFailures++
	if n.stats.ActiveAcquire > 0 {
		n.stats.ActiveAcquire--
	}
	if a.Ref != 0 {
		n.cfg.Kernel.FailAcquire(a.Ref)
	}
}

// initiatorMM2 processes the responder's SA choice and sends MM3.
func (n *Negotiator) initiatorMM2(mm *mmState, h Header, msg []byte) error {
	m, err := Decode(msg)
	if err == nil {
		err = decodeTyped(m.Payloads)
	}
	if err != nil {
		return err
	}
	if nb := m.first(plNotify); nb != nil {
		nt, _ := DecodeNotify(nb)
		return propErr("peer refused main mode: notify %d", nt.Type)
	}
	sab := m.first(plSA)
	if sab == nil || h.CookieR == ([8]byte{}) {
		return malformed("MM2 without SA or responder cookie")
	}
	sa, _ := DecodeSA(sab)
	if len(sa.Proposals) != 1 || len(sa.Proposals[0].Transforms) != 1 {
		return propErr("MM2 must choose one transform")
	}
	pt, ok := parseMMTransform(sa.Proposals[0].Transforms[0])
	offered := false
	for _, o := range mm.policy.Offers {
		offered = offered || o == pt.offer
	}
	var am *ipsec.AuthMethod
	for _, a := range n.authMethods(mm.filter) {
		if authAttrOf(a.Kind) == pt.auth {
			am = &a
			break
		}
	}
	if !ok || !offered || am == nil {
		return propErr("responder chose a transform not offered")
	}
	mm.authKind, mm.psk = am.Kind, []byte(am.PSK)
	mm.ckyR = h.CookieR
	mm.offer, mm.authAttr = pt.offer, pt.auth
	life := lifetimeOf(mm.policy)
	if pt.lifetime != 0 && pt.lifetime < life {
		life = pt.lifetime
	}
	mm.lifetime = time.Duration(life) * time.Second
	n.vendorIDs(mm, m)
	if mm.dh, err = newDH(mm.offer.Group, n.cfg.Rand); err != nil {
		return propErr("%v", err)
	}
	mm.gxi = mm.dh.public
	mm.ni = make([]byte, 32)
	n.random(mm.ni)
	ps := []payload{{plKE, mm.gxi}, {plNonce, mm.ni}}
	ps = append(ps, n.natdPayloads(mm)...)
	ps = append(ps, n.certReqPayloads(mm)...)
	out := buildPlain(mm.header(exchIdentity, 0, 0), ps)
	mm.state = mmSentKE
	n.arm(&mm.rx, mm.local, mm.remote, out)
	n.queue(mm.local, mm.remote, out, chainSummary(ps))
	return nil
}

// natdPayloads are the NAT-D payloads (RFC 3947 section 3.2): the peer's
// address and port as this host sees them first, then this host's.
func (n *Negotiator) natdPayloads(mm *mmState) []payload {
	if !mm.natt {
		return nil
	}
	t := plNATD
	if mm.nattDraft {
		t = plNATDd
	}
	h := mm.offer.Hash
	return []payload{
		{t, natdHash(h, mm.ckyI, mm.ckyR, mm.remote.Addr(), mm.remote.Port())},
		{t, natdHash(h, mm.ckyI, mm.ckyR, mm.local.Addr(), mm.local.Port())},
	}
}

// checkNATD compares the peer's NAT-D payloads with the addresses seen
// (RFC 3947 section 3.2): the first must hash this host's address and
// port (else this host is behind a NAT), one of the others the peer's
// (else the peer is).
func (n *Negotiator) checkNATD(mm *mmState, m *Message) {
	if !mm.natt {
		return
	}
	t := plNATD
	if mm.nattDraft {
		t = plNATDd
	}
	ds := m.all(t)
	if len(ds) < 2 {
		mm.natt = false
		return
	}
	h := mm.offer.Hash
	mm.natLocal = !bytes.Equal(ds[0], natdHash(h, mm.ckyI, mm.ckyR, mm.local.Addr(), mm.local.Port()))
	mine := natdHash(h, mm.ckyI, mm.ckyR, mm.remote.Addr(), mm.remote.Port())
	mm.natPeer = true
	for _, d := range ds[1:] {
		if bytes.Equal(d, mine) {
			mm.natPeer = false
		}
	}
}

// useEncap reports whether quick modes under mm use UDP encapsulation.
func (n *Negotiator) useEncap(mm *mmState) bool {
	return mm.natt && (mm.natLocal || mm.natPeer || n.cfg.ForceEncap)
}

// computeKeys derives the phase 1 keys once both KE and nonces are known.
func (n *Negotiator) computeKeys(mm *mmState, gy []byte) error {
	gxy, err := mm.dh.shared(gy)
	if err != nil {
		return propErr("%v", err)
	}
	defer wipe(gxy)
	var skeyid []byte
	switch mm.authKind {
	case ipsec.AuthPSK:
		skeyid = skeyidPSK(mm.offer.Hash, mm.psk, mm.ni, mm.nr)
	default:
		skeyid = skeyidSig(mm.offer.Hash, mm.ni, mm.nr, gxy)
	}
	mm.keys = derivePhase1(mm.offer.Hash, mm.offer.Cipher, skeyid, gxy, mm.ckyI, mm.ckyR)
	mm.iv = firstIV(mm.keys, mm.gxi, mm.gxr)
	mm.dh.close()
	return nil
}

// initiatorMM4 processes KE/Nr, derives the keys and sends MM5.
func (n *Negotiator) initiatorMM4(mm *mmState, h Header, msg []byte) error {
	m, err := Decode(msg)
	if err == nil {
		err = decodeTyped(m.Payloads)
	}
	if err != nil {
		return err
	}
	ke, nr := m.first(plKE), m.first(plNonce)
	if ke == nil || nr == nil || len(nr) < 8 || len(nr) > 256 {
		return malformed("MM4 without KE or nonce")
	}
	mm.gxr, mm.nr = bytes.Clone(ke), bytes.Clone(nr)
	n.checkNATD(mm, m)
	n.processCertReq(mm, m)
	if err := n.computeKeys(mm, mm.gxr); err != nil {
		return err
	}
	if n.useEncap(mm) {
		mm.floated = true
		mm.local = netip.AddrPortFrom(mm.local.Addr(), PortNATT)
		mm.remote = netip.AddrPortFrom(mm.remote.Addr(), PortNATT)
	}
	idb := n.localID(mm).Encode()
	ps := []payload{{plID, idb}}
	auth, err := n.authPayloads(mm, idb, true)
	if err != nil {
		return authErr("%v", err)
	}
	ps = append(ps, auth...)
	if !n.hasEstablished(mm.remote.Addr()) {
		ic := Notify{DOI: doiIPsec, Protocol: protoISAKMP, Type: nInitialContact, SPI: append(mm.ckyI[:], mm.ckyR[:]...)}
		ps = append(ps, payload{plNotify, ic.Encode()})
	}
	out, iv, err := buildEncrypted(mm.keys, mm.header(exchIdentity, 0, 0), ps[0].typ, encodeChain(ps), mm.iv)
	if err != nil {
		return err
	}
	mm.iv = iv
	mm.state = mmSentAuth
	n.arm(&mm.rx, mm.local, mm.remote, out)
	n.queue(mm.local, mm.remote, out, chainSummary(ps))
	return nil
}

func (n *Negotiator) hasEstablished(peer netip.Addr) bool {
	for _, o := range n.mms {
		if o.established && o.remote.Addr() == peer {
			return true
		}
	}
	return false
}

// authPayloads are [CERT,] HASH or SIG of MM5/MM6 (RFC 2409 section 5).
func (n *Negotiator) authPayloads(mm *mmState, idb []byte, initiator bool) ([]payload, error) {
	var hs []byte
	if initiator {
		hs = hashI(mm.keys, mm.gxi, mm.gxr, mm.ckyI, mm.ckyR, mm.saib, idb)
	} else {
		hs = hashR(mm.keys, mm.gxi, mm.gxr, mm.ckyI, mm.ckyR, mm.saib, idb)
	}
	if mm.authKind == ipsec.AuthPSK {
		return []payload{{plHash, hs}}, nil
	}
	return n.signaturePayloads(mm, hs)
}

// verifyAuth checks the peer's ID and HASH or SIG.
func (n *Negotiator) verifyAuth(mm *mmState, m *Message, peerInitiator bool) error {
	var idb []byte
	for _, p := range m.Payloads {
		if p.Type == plID {
			idb = p.Body
			break
		}
	}
	if idb == nil {
		return authErr("no ID payload")
	}
	var want []byte
	if peerInitiator {
		want = hashI(mm.keys, mm.gxi, mm.gxr, mm.ckyI, mm.ckyR, mm.saib, idb)
	} else {
		want = hashR(mm.keys, mm.gxi, mm.gxr, mm.ckyI, mm.ckyR, mm.saib, idb)
	}
	if mm.authKind == ipsec.AuthPSK {
		got := m.first(plHash)
		if got == nil || !hmacEqual(got, want) {
			return authErr("HASH payload invalid (pre-shared key mismatch?)")
		}
		return nil
	}
	return n.verifySignature(mm, m, idb, want)
}

// responderMM3 processes KE/Ni and sends MM4.
func (n *Negotiator) responderMM3(mm *mmState, local, remote netip.AddrPort, h Header, msg []byte) error {
	m, err := Decode(msg)
	if err == nil {
		err = decodeTyped(m.Payloads)
	}
	if err != nil {
		return err
	}
	ke, ni := m.first(plKE), m.first(plNonce)
	if ke == nil || ni == nil || len(ni) < 8 || len(ni) > 256 {
		return malformed("MM3 without KE or nonce")
	}
	mm.gxi, mm.ni = bytes.Clone(ke), bytes.Clone(ni)
	if mm.dh, err = newDH(mm.offer.Group, n.cfg.Rand); err != nil {
		return propErr("%v", err)
	}
	mm.gxr = mm.dh.public
	mm.nr = make([]byte, 32)
	n.random(mm.nr)
	n.checkNATD(mm, m)
	n.processCertReq(mm, m)
	if err := n.computeKeys(mm, mm.gxi); err != nil {
		return err
	}
	ps := []payload{{plKE, mm.gxr}, {plNonce, mm.nr}}
	ps = append(ps, n.natdPayloads(mm)...)
	ps = append(ps, n.certReqPayloads(mm)...)
	out := buildPlain(mm.header(exchIdentity, 0, 0), ps)
	mm.state = mmSentAuth
	mm.lastOut = out
	n.queue(local, remote, out, chainSummary(ps))
	return nil
}

// responderMM5 authenticates the initiator and sends MM6.
func (n *Negotiator) responderMM5(mm *mmState, local, remote netip.AddrPort, h Header, msg []byte) error {
	m, iv, err := n.open(mm.keys, h, msg, mm.iv)
	if err != nil {
		n.authFailNotify(mm, local, remote)
		return authErr("MM5 undecodable (pre-shared key mismatch?): %v", err)
	}
	if err := n.verifyAuth(mm, m, true); err != nil {
		n.authFailNotify(mm, local, remote)
		return err
	}
	mm.iv = iv
	mm.local, mm.remote = local, remote
	mm.floated = local.Port() == PortNATT
	idb := n.localID(mm).Encode()
	ps := []payload{{plID, idb}}
	auth, err := n.authPayloads(mm, idb, false)
	if err != nil {
		return authErr("%v", err)
	}
	ps = append(ps, auth...)
	out, iv, err := buildEncrypted(mm.keys, mm.header(exchIdentity, 0, 0), ps[0].typ, encodeChain(ps), mm.iv)
	if err != nil {
		return err
	}
	mm.iv = iv
	mm.lastOut = out
	n.queue(local, remote, out, chainSummary(ps))
	initialContact := false
	for _, b := range m.all(plNotify) {
		if nt, _ := DecodeNotify(b); nt.Type == nInitialContact {
			initialContact = true
		}
	}
	n.established(mm, initialContact)
	return nil
}

// authFailNotify tells the peer, under the phase 1 keys as this host has
// them, that its authentication failed.
func (n *Negotiator) authFailNotify(mm *mmState, local, remote netip.AddrPort) {
	nt := Notify{DOI: doiIPsec, Protocol: protoISAKMP, Type: nAuthFailed, SPI: append(mm.ckyI[:], mm.ckyR[:]...)}
	mid := n.randomU32()
	rest := encodeChain([]payload{{plNotify, nt.Encode()}})
	hb := infoHash(mm.keys, mid, rest)
	body := hashedBody(hb, []payload{{plNotify, nt.Encode()}})
	out, _, err := buildEncrypted(mm.keys, mm.header(exchInformational, 0, mid), plHash, body, phase2IV(mm.keys, mm.iv, mid))
	if err == nil {
		n.queue(local, remote, out, "[ HASH N(AUTH_FAILED) ]")
	}
}

// initiatorMM6 authenticates the responder.
func (n *Negotiator) initiatorMM6(mm *mmState, h Header, msg []byte) error {
	m, iv, err := n.open(mm.keys, h, msg, mm.iv)
	if err != nil {
		return err
	}
	if err := n.verifyAuth(mm, m, false); err != nil {
		return err
	}
	mm.iv = iv
	mm.rx = retx{}
	n.established(mm, false)
	return nil
}

// established completes a main mode: the SA counts, INITIAL-CONTACT
// clears the peer's old state (RFC 2407 section 4.6.3.3), and the
// waiting quick modes start.
func (n *Negotiator) established(mm *mmState, initialContact bool) {
	mm.established, mm.state = true, mmDone
	now := n.now()
	mm.created = now
	mm.expires = now.Add(mm.lifetime)
	mm.dpd.last = now
	n.stats.IKEMainMode++
	n.log.Info("main mode established", "local", mm.local, "remote", mm.remote,
		"offer", mm.offer.String(), "auth", mm.authKind.String(), "natt", mm.natt,
		"nat_local", mm.natLocal, "nat_peer", mm.natPeer)
	if initialContact {
		n.initialContact(mm)
	}
	pend := mm.pending
	mm.pending = nil
	for _, r := range pend {
		n.startQM(mm, r)
	}
}

func hmacEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// hashedBody is HASH followed by ps: encoding ps alone gives the same
// bytes as the tail, which is what the HASH covers.
func hashedBody(hb []byte, ps []payload) []byte {
	return encodeChain(append([]payload{{plHash, hb}}, ps...))
}
