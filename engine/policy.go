package engine

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/gonetsh/gonetsh/engine/ike"
	"github.com/gonetsh/gonetsh/ipsec"
)

// The engine answers the negotiator's policy questions (ike.Policy) from
// the SPD it serves, static-derived and dynamic entries merged, without
// reading the store: RoutinePoll keeps that SPD current. Both searches
// walk the specific filters in rank order (most specific first) and the
// first filter that covers the question decides.
//
// Covering: a filter's prefix covers a prefix p when it contains p whole
// (it is no longer than p and holds p's address); its protocol covers
// when it is ANY or equal; a port covers when it is 0 (any) or equal.
//
// MainMode(local, remote) takes the specific main mode filters of the
// outbound direction (Src is this host's side, Dst the peer's), which
// every negotiate rule has: the first whose Src covers local/32 and Dst
// covers remote/32.
//
// QuickMode(local, remote, sel, tunnel), asked by a responder: the
// initiator proposes its identity IDci as source and the responder's IDcr
// as destination (RFC 2409 section 5.5), traffic in the initiator's
// outbound direction. Seen from this host that traffic is reversed, and
// sel is given so: the negotiator passes Src = IDcr (this host's side)
// and Dst = IDci (the initiator's side), SrcPort and DstPort likewise (as
// engine/ike's quick mode responder builds it). The engine looks for the
// first specific quick mode filter of the outbound direction whose
// selector covers sel and whose tunnel endpoint equals tunnel (both
// invalid in transport mode). The answer is that filter when its outbound
// action is negotiate, and no answer (refused) when it is permit or
// block. When no filter covers transport-mode traffic, the default
// response rule answers: if MainMode(local, remote) is a respond-only
// filter, the engine returns a filter made for the occasion, named after
// it, with selector sel, both actions negotiate, and the default
// response's quick mode policy (MMFilter.QMPolicy), as Windows' responder
// creates filters for what it accepted under the default response rule.

var _ ike.Policy = (*Engine)(nil)

func covers(f, p netip.Prefix) bool {
	return ipsec.Selector{Src: f, Dst: f}.Covers(ipsec.Selector{Src: p, Dst: p})
}

func host32(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a.Unmap(), 32) }

// MainMode implements ike.Policy; see above.
func (e *Engine) MainMode(local, remote netip.Addr) (ipsec.MMFilter, ipsec.MMPolicy, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != Running {
		return ipsec.MMFilter{}, ipsec.MMPolicy{}, false
	}
	return e.mainModeLocked(local, remote)
}

func (e *Engine) mainModeLocked(local, remote netip.Addr) (ipsec.MMFilter, ipsec.MMPolicy, bool) {
	v := e.viewLocked()
	want := ipsec.Selector{Src: host32(local), Dst: host32(remote)}
	for i := range v.MMSpecific {
		f := &v.MMSpecific[i]
		if f.Direction != ipsec.Outbound || !covers(f.Selector.Src, want.Src) || !covers(f.Selector.Dst, want.Dst) {
			continue
		}
		p, ok := v.MMPolicy(f.MMPolicy)
		if !ok {
			return ipsec.MMFilter{}, ipsec.MMPolicy{}, false
		}
		out := *f
		out.Auth = slices.Clone(f.Auth)
		p.Offers = slices.Clone(p.Offers)
		return out, p, true
	}
	return ipsec.MMFilter{}, ipsec.MMPolicy{}, false
}

// QuickMode implements ike.Policy; see above for the orientation of sel
// (this host's side first).
func (e *Engine) QuickMode(local, remote netip.Addr, sel ipsec.Selector, tunnel netip.Addr) (ipsec.QMFilter, ipsec.QMPolicy, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != Running {
		return ipsec.QMFilter{}, ipsec.QMPolicy{}, false
	}
	v := e.viewLocked()
	tunnel = tunnel.Unmap()
	for i := range v.QMSpecific {
		f := &v.QMSpecific[i]
		if f.Direction != ipsec.Outbound || f.Tunnel != tunnel || !f.Selector.Covers(sel) {
			continue
		}
		if f.OutboundAction != ipsec.ActionNegotiate {
			return ipsec.QMFilter{}, ipsec.QMPolicy{}, false
		}
		p, ok := v.QMPolicy(f.QMPolicy)
		if !ok {
			return ipsec.QMFilter{}, ipsec.QMPolicy{}, false
		}
		p.Offers = slices.Clone(p.Offers)
		return *f, p, true
	}
	if tunnel.IsValid() {
		return ipsec.QMFilter{}, ipsec.QMPolicy{}, false
	}
	mf, _, ok := e.mainModeLocked(local, remote)
	if !ok || !mf.RespondOnly {
		return ipsec.QMFilter{}, ipsec.QMPolicy{}, false
	}
	p, ok := v.QMPolicy(mf.QMPolicy)
	if !ok {
		return ipsec.QMFilter{}, ipsec.QMPolicy{}, false
	}
	p.Offers = slices.Clone(p.Offers)
	f := ipsec.QMFilter{
		Name:           mf.Name,
		Selector:       sel,
		SrcAddr:        ipsec.Address{Kind: ipsec.AddrIP, IP: sel.Src.Addr()},
		DstAddr:        ipsec.Address{Kind: ipsec.AddrIP, IP: sel.Dst.Addr()},
		Direction:      ipsec.Outbound,
		InboundAction:  ipsec.ActionNegotiate,
		OutboundAction: ipsec.ActionNegotiate,
		ConnType:       mf.ConnType,
		QMPolicy:       p.Name,
		Rule:           mf.Rule,
		Weight:         sel.Weight(),
	}
	return f, p, true
}

// Acquire asks the Negotiator for SAs for the outbound negotiate filter f
// on behalf of the data path's acquire ref, local being this host's
// address the packet left from. The peer is f.Tunnel for a tunnel filter,
// else the destination of f.Selector, which must then be a single host
// (/32). It fails, and the caller fails the acquire, when the engine does
// not run, has no negotiator, the filter's quick mode policy is not in the
// SPD (ErrNoQMPolicy) or there is no peer (ErrNoPeer). The Negotiator is
// called without the engine's lock held.
func (e *Engine) Acquire(ref uint64, f ipsec.QMFilter, local netip.Addr) error {
	if e.neg == nil {
		return ErrNoNegotiator
	}
	e.mu.Lock()
	if e.state != Running {
		e.mu.Unlock()
		return ErrNotRunning
	}
	p, ok := e.viewLocked().QMPolicy(f.QMPolicy)
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoQMPolicy, f.QMPolicy)
	}
	remote := f.Tunnel
	if !remote.IsValid() {
		d := f.Selector.Dst
		if !d.IsValid() || d.Bits() != 32 {
			return fmt.Errorf("%w: %v", ErrNoPeer, f.Selector)
		}
		remote = d.Addr()
	}
	p.Offers = slices.Clone(p.Offers)
	e.neg.Acquire(ike.Acquire{Ref: ref, Local: local, Remote: remote, Filter: f, Policy: p})
	return nil
}

// MMSAs returns the live main mode SAs (none without a Negotiator).
func (e *Engine) MMSAs() ([]ipsec.MMSA, error) {
	return liveSAs(e, func(n Negotiator) []ipsec.MMSA { return n.MMSAs() })
}

// QMSAs returns the live quick mode SAs (none without a Negotiator).
func (e *Engine) QMSAs() ([]ipsec.QMSA, error) {
	return liveSAs(e, func(n Negotiator) []ipsec.QMSA { return n.QMSAs() })
}

func liveSAs[T any](e *Engine, get func(Negotiator) []T) ([]T, error) {
	if err := e.running(); err != nil {
		return nil, err
	}
	if e.neg == nil {
		return nil, nil
	}
	return get(e.neg), nil
}
