package agent

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

var anyPrefix = netip.PrefixFrom(netip.IPv4Unspecified(), 0)

// hostSets holds the HostInfo addresses as /32 prefixes, IPv4 only, without
// repeats: the expansions of me and the server types.
type hostSets struct {
	me, dns, wins, dhcp, gateway []netip.Prefix
}

func newHostSets(h HostInfo) hostSets {
	return hostSets{
		me:      hostPrefixes(h.Addrs...),
		dns:     hostPrefixes(h.DNSServers...),
		wins:    hostPrefixes(h.WINSServers...),
		dhcp:    hostPrefixes(h.DHCPServer),
		gateway: hostPrefixes(h.Gateway),
	}
}

func hostPrefixes(addrs ...netip.Addr) []netip.Prefix {
	var ps []netip.Prefix
	for _, a := range addrs {
		a = a.Unmap()
		if !a.Is4() {
			continue
		}
		p := netip.PrefixFrom(a, 32)
		if !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	return ps
}

// isMe reports whether a is one of this host's addresses.
func (h *hostSets) isMe(a netip.Addr) bool {
	for _, p := range h.me {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// holdsMe reports whether p holds one of this host's addresses.
func (h *hostSets) holdsMe(p netip.Prefix) bool {
	for _, m := range h.me {
		if p.Contains(m.Addr()) {
			return true
		}
	}
	return false
}

// side is one address of a filter, resolved against the host.
type side struct {
	addr    ipsec.Address
	generic netip.Prefix   // the generic filter's prefix; invalid for me and server types
	one     netip.Prefix   // the specific prefix of a literal, any or DNS name; else invalid
	set     []netip.Prefix // the specific prefixes of me and server types (nil: none)
	me      bool
	local   bool // may hold one of this host's addresses
}

func (s *side) n() int {
	if s.set != nil || !s.one.IsValid() {
		return len(s.set)
	}
	return 1
}

func (s *side) at(i int) netip.Prefix {
	if s.set != nil {
		return s.set[i]
	}
	return s.one
}

// key identifies the side for main mode pair deduplication.
func (s *side) key() sideKey { return sideKey{s.addr, s.generic} }

type sideKey struct {
	addr   ipsec.Address
	prefix netip.Prefix
}

// newSide resolves address a with mask m, other being the opposite address
// of the filter.
func (c *compiler) newSide(a ipsec.Address, m ipsec.Mask, other ipsec.Address) (side, error) {
	s := side{addr: a}
	switch a.Kind {
	case ipsec.AddrMe:
		s.me, s.local, s.set = true, true, c.host.me
	case ipsec.AddrAny:
		s.generic, s.one, s.local = anyPrefix, anyPrefix, true
	case ipsec.AddrIP:
		ip := a.IP.Unmap()
		if !ip.Is4() {
			return s, fmt.Errorf("%w: %v is not an IPv4 address", ErrFilter, a.IP)
		}
		if ip.IsUnspecified() && other.Kind.IsServerType() {
			s.me, s.local, s.set = true, true, c.host.me
			break
		}
		if m > 32 {
			return s, fmt.Errorf("%w: mask /%d", ErrFilter, m)
		}
		s.generic = netip.PrefixFrom(ip, int(m))
		s.one = s.generic.Masked()
		s.local = c.host.holdsMe(s.one)
	case ipsec.AddrDNSName:
		ip := a.IP.Unmap()
		if !ip.IsValid() {
			return s, fmt.Errorf("%w: %q", ErrUnresolved, a.Name)
		}
		if !ip.Is4() {
			return s, fmt.Errorf("%w: %q resolved to %v, not an IPv4 address", ErrFilter, a.Name, a.IP)
		}
		s.generic = netip.PrefixFrom(ip, 32)
		s.one = s.generic
		s.local = c.host.isMe(ip)
	case ipsec.AddrDNS:
		s.set = c.host.dns
	case ipsec.AddrWINS:
		s.set = c.host.wins
	case ipsec.AddrDHCP:
		s.set = c.host.dhcp
	case ipsec.AddrGateway:
		s.set = c.host.gateway
	default:
		return s, fmt.Errorf("%w: address %v", ErrFilter, a)
	}
	return s, nil
}

// endpoint is the IPv4 address of a tunnel endpoint; the invalid Addr for
// transport mode.
func endpoint(t ipsec.Address) (netip.Addr, error) {
	switch t.Kind {
	case 0:
		return netip.Addr{}, nil
	case ipsec.AddrIP, ipsec.AddrDNSName:
		ip := t.IP.Unmap()
		if t.Kind == ipsec.AddrDNSName && !ip.IsValid() {
			return ip, fmt.Errorf("tunnel endpoint: %w: %q", ErrUnresolved, t.Name)
		}
		if ip.Is4() && !ip.IsUnspecified() {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w: tunnel endpoint %v is not an IPv4 address", ErrFilter, t)
}

type mmKey struct{ local, peer sideKey }

// compiler holds the state of one Compile call.
type compiler struct {
	st   *store.State
	pol  *store.Policy
	spd  *SPD
	host hostSets

	lists   map[store.GUID]int // index into st.FilterLists, built on first use
	actions map[store.GUID]int // index into st.FilterActions
	mmUsed  bool
	mmName  string             // dynamic rules: the main mode policy's name (no policy is added)
	mmSeen  map[mmKey]struct{} // main mode pairs of the current rule
	qmPols  []qmPolicyUse      // by first use
}

type qmPolicyUse struct {
	action store.GUID
	name   string
}

// presize reserves room for the filters of the active rules, assuming
// mirrored filters with me on one side and a main mode pair per negotiate
// filter.
func (c *compiler) presize() {
	n, neg := 0, 0
	for i := range c.pol.Rules {
		r := &c.pol.Rules[i]
		if !r.Active {
			continue
		}
		if l := c.filterList(r.FilterList); l != nil {
			n += len(l.Filters)
			if a := c.filterAction(r.FilterAction); a != nil && a.Action == ipsec.ActionNegotiate {
				neg += len(l.Filters)
			}
		}
	}
	if c.pol.DefaultRule.Active {
		neg++
	}
	per := max(1, len(c.host.me))
	c.spd.QMFilters = make([]ipsec.QMFilter, 0, 2*n)
	c.spd.QMSpecific = make([]ipsec.QMFilter, 0, 2*n*per)
	c.spd.MMFilters = make([]ipsec.MMFilter, 0, 2*neg)
	c.spd.MMSpecific = make([]ipsec.MMFilter, 0, 2*neg*per)
}

// filterList returns the filter list with GUID g, or nil. GUIDs compare
// case-insensitively; the index holds them as stored.
func (c *compiler) filterList(g store.GUID) *store.FilterList {
	ls := c.st.FilterLists
	if c.lists == nil {
		c.lists = make(map[store.GUID]int, len(ls))
		for i := range ls {
			c.lists[ls[i].GUID] = i
		}
	}
	if i, ok := c.lists[g]; ok {
		return &ls[i]
	}
	for i := range ls {
		if ls[i].GUID.Equal(g) {
			return &ls[i]
		}
	}
	return nil
}

// filterAction returns the filter action with GUID g, or nil.
func (c *compiler) filterAction(g store.GUID) *store.FilterAction {
	as := c.st.FilterActions
	if c.actions == nil {
		c.actions = make(map[store.GUID]int, len(as))
		for i := range as {
			c.actions[as[i].GUID] = i
		}
	}
	if i, ok := c.actions[g]; ok {
		return &as[i]
	}
	for i := range as {
		if as[i].GUID.Equal(g) {
			return &as[i]
		}
	}
	return nil
}

func ruleLabel(r *store.Rule) string {
	if r.Name != "" {
		return r.Name
	}
	return "Rule " + strconv.Itoa(r.ID)
}

// mmPolicyName returns the name of the main mode policy, adding the policy
// on first use.
func (c *compiler) mmPolicyName() string {
	if c.pol == nil {
		return c.mmName
	}
	if !c.mmUsed {
		c.mmUsed = true
		p := c.pol
		c.spd.MMPolicies = append(c.spd.MMPolicies, ipsec.MMPolicy{
			Name:      p.Name,
			Offers:    p.MMOffers, // p is Compile's own copy
			Lifetime:  uint32(max(p.MMLifetime, 0)) * 60,
			QMPerMM:   uint32(max(p.QMPerMM, 0)),
			MasterPFS: p.MMPFS,
		})
	}
	return c.pol.Name
}

// qmPolicyName returns the name of the quick mode policy of the negotiate
// filter action a, adding the policy on first use.
func (c *compiler) qmPolicyName(a *store.FilterAction) string {
	for _, u := range c.qmPols {
		if u.action.Equal(a.GUID) {
			return u.name
		}
	}
	c.qmPols = append(c.qmPols, qmPolicyUse{a.GUID, a.Name})
	c.spd.QMPolicies = append(c.spd.QMPolicies, ipsec.QMPolicy{
		Name:   a.Name,
		PFS:    a.QMPFS,
		Offers: slices.Clone(a.Offers),
		Soft:   a.Soft,
	})
	return a.Name
}

// rule compiles one active regular rule.
func (c *compiler) rule(r *store.Rule) error {
	fail := func(filter int, err error) error {
		return &RuleError{Policy: c.pol.Name, Rule: ruleLabel(r), Filter: filter, Err: err}
	}
	list, act := c.filterList(r.FilterList), c.filterAction(r.FilterAction)
	if list == nil || act == nil {
		return fail(0, ErrReference)
	}
	if act.Action < ipsec.ActionPermit || act.Action > ipsec.ActionNegotiate {
		return fail(0, fmt.Errorf("%w: filter action %q has action %v", ErrFilter, act.Name, act.Action))
	}
	if len(list.Filters) == 0 {
		return nil
	}
	tunnel, err := endpoint(r.Tunnel)
	if err != nil {
		return fail(0, err)
	}
	var tunnelDir ipsec.Direction
	if tunnel.IsValid() {
		tunnelDir = ipsec.Outbound
		if c.host.isMe(tunnel) {
			tunnelDir = ipsec.Inbound
		}
	}

	label := ruleLabel(r)
	negotiate := act.Action == ipsec.ActionNegotiate
	base := ipsec.QMFilter{
		Generic:        true,
		InboundAction:  act.Action,
		OutboundAction: act.Action,
		Tunnel:         tunnel,
		ConnType:       r.ConnType,
		Rule:           ipsec.RuleRef{Policy: string(c.pol.GUID), Rule: r.ID},
	}
	var mm *mmRule
	if negotiate {
		base.InPass, base.Soft = act.InPass, act.Soft
		base.QMPolicy = c.qmPolicyName(act)
		mm = &mmRule{ref: base.Rule, conn: r.ConnType, auth: r.Auth}
		clear(c.mmSeen)
	}
	for i := range list.Filters {
		f := &list.Filters[i]
		if tunnel.IsValid() && f.Mirrored {
			return fail(i+1, ErrMirroredTunnel)
		}
		if (f.SrcPort != 0 || f.DstPort != 0) && !f.Protocol.HasPorts() {
			return fail(i+1, fmt.Errorf("%w: ports with protocol %v (ports need TCP or UDP)", ErrFilter, f.Protocol))
		}
		src, err := c.newSide(f.Src, f.SrcMask, f.Dst)
		if err != nil {
			return fail(i+1, err)
		}
		dst, err := c.newSide(f.Dst, f.DstMask, f.Src)
		if err != nil {
			return fail(i+1, err)
		}
		g := base
		g.Name = label + " (" + strconv.Itoa(i+1) + ")"
		g.Mirrored = f.Mirrored
		g.Selector = ipsec.Selector{Protocol: f.Protocol, SrcPort: f.SrcPort, DstPort: f.DstPort}
		c.directed(g, &src, &dst, tunnelDir, mm)
		if f.Mirrored && !(f.Src == f.Dst && f.SrcMask == f.DstMask && f.SrcPort == f.DstPort) {
			g.Mirror = true
			g.Selector = g.Selector.Reverse()
			c.directed(g, &dst, &src, tunnelDir, mm)
		}
		if mm != nil && tunnel.IsValid() && i == 0 {
			c.tunnelPair(mm, g.Name, r.Tunnel, tunnel, tunnelDir)
		}
	}
	return nil
}

// directed emits the generic and specific filters of one directed filter
// src -> dst; g has the name, actions, protocol and ports set. When mm is
// not nil, it also records the filter's main mode pair.
func (c *compiler) directed(g ipsec.QMFilter, src, dst *side, tunnelDir ipsec.Direction, mm *mmRule) {
	out, in := tunnelDir == ipsec.Outbound, tunnelDir == ipsec.Inbound
	switch {
	case tunnelDir != 0:
	case src.me:
		out = true
	case dst.me:
		in = true
	case src.local == dst.local:
		out, in = true, true
	default:
		out, in = src.local, dst.local
	}
	g.SrcAddr, g.DstAddr = src.addr, dst.addr
	g.Selector.Src, g.Selector.Dst = src.generic, dst.generic
	for _, d := range [...]struct {
		dir ipsec.Direction
		on  bool
	}{{ipsec.Outbound, out}, {ipsec.Inbound, in}} {
		if !d.on {
			continue
		}
		g.Direction = d.dir
		c.spd.QMFilters = append(c.spd.QMFilters, g)
		s := g
		s.Generic = false
		for i := range src.n() {
			s.Selector.Src = src.at(i)
			for j := range dst.n() {
				s.Selector.Dst = dst.at(j)
				s.Weight = s.Selector.Weight()
				c.spd.QMSpecific = append(c.spd.QMSpecific, s)
			}
		}
		if mm != nil && tunnelDir == 0 {
			if d.dir == ipsec.Outbound {
				c.pair(mm, g.Name, src, dst)
			} else {
				c.pair(mm, g.Name, dst, src)
			}
		}
	}
}

// mmRule is what the main mode filters of a negotiate rule share.
type mmRule struct {
	ref  ipsec.RuleRef
	conn ipsec.ConnType
	auth []ipsec.AuthMethod
	qm   string // RespondOnly: the quick mode policy
	only bool   // RespondOnly
}

// pair emits the main mode filters of the pair local <-> peer unless the
// rule already has them.
func (c *compiler) pair(mm *mmRule, name string, local, peer *side) {
	k := mmKey{local.key(), peer.key()}
	if _, dup := c.mmSeen[k]; dup {
		return
	}
	c.mmSeen[k] = struct{}{}
	g := ipsec.MMFilter{
		Name:        name,
		Generic:     true,
		ConnType:    mm.conn,
		Auth:        mm.auth,
		MMPolicy:    c.mmPolicyName(),
		RespondOnly: mm.only,
		QMPolicy:    mm.qm,
		Rule:        mm.ref,
	}
	for _, d := range [...]struct {
		dir      ipsec.Direction
		src, dst *side
	}{{ipsec.Outbound, local, peer}, {ipsec.Inbound, peer, local}} {
		g.Direction = d.dir
		g.SrcAddr, g.DstAddr = d.src.addr, d.dst.addr
		g.Selector = ipsec.Selector{Src: d.src.generic, Dst: d.dst.generic}
		c.spd.MMFilters = append(c.spd.MMFilters, g)
		s := g
		s.Generic = false
		for i := range d.src.n() {
			s.Selector.Src = d.src.at(i)
			for j := range d.dst.n() {
				s.Selector.Dst = d.dst.at(j)
				s.Weight = s.Selector.Weight()
				c.spd.MMSpecific = append(c.spd.MMSpecific, s)
			}
		}
	}
}

// tunnelPair emits the main mode filters of a tunnel rule: me <-> the
// remote endpoint, or the local endpoint <-> any.
func (c *compiler) tunnelPair(mm *mmRule, name string, addr ipsec.Address, ep netip.Addr, dir ipsec.Direction) {
	me := side{addr: ipsec.Address{Kind: ipsec.AddrMe}, set: c.host.me, me: true}
	p := netip.PrefixFrom(ep, 32)
	end := side{addr: addr, generic: p, one: p}
	if dir == ipsec.Outbound {
		c.pair(mm, name, &me, &end)
		return
	}
	anySide := side{addr: ipsec.Address{Kind: ipsec.AddrAny}, generic: anyPrefix, one: anyPrefix}
	c.pair(mm, name, &end, &anySide)
}

// defaultRule emits the respond-only main mode filters of the default
// response rule and its quick mode policy.
func (c *compiler) defaultRule(r *store.Rule) {
	name := DefaultResponse
	for _, p := range c.spd.QMPolicies {
		if strings.EqualFold(p.Name, name) {
			name += " (default rule)"
			break
		}
	}
	c.spd.QMPolicies = append(c.spd.QMPolicies, ipsec.QMPolicy{
		Name:   name,
		PFS:    r.QMPFS,
		Offers: r.QMOffers, // r belongs to Compile's copy of the policy
	})
	mm := &mmRule{
		ref:  ipsec.RuleRef{Policy: string(c.pol.GUID), Rule: 0},
		conn: r.ConnType,
		auth: r.Auth,
		qm:   name,
		only: true,
	}
	clear(c.mmSeen)
	me := side{addr: ipsec.Address{Kind: ipsec.AddrMe}, set: c.host.me, me: true}
	anySide := side{addr: ipsec.Address{Kind: ipsec.AddrAny}, generic: anyPrefix, one: anyPrefix}
	c.pair(mm, DefaultResponse, &me, &anySide)
}
