package engine

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/gonetsh/gonetsh/engine/agent"
	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

// Dynamic SPD objects (`ipsec dynamic add|set|delete mmpolicy|qmpolicy|rule`,
// reference section 3). They live in the engine only: Stop (or a new
// engine) drops them, as the Windows IPsec service forgets its dynamic
// policy when it stops.
//
// The SPD the engine serves is the static-derived SPD (persistent then
// local, see the package documentation) followed by the dynamic policies
// and the dynamic rules' filters in the order they were added; the
// specific filters of the two are merged by rank (agent.MergeQMSpecific:
// weight, then block, negotiate, permit, static first on a tie).
//
// Names: a dynamic policy's name must differ (case-insensitively) from
// every policy of the SPD, static-derived ones included (13003, 13000).
// The filters of dynamic rule n are all named "Dynamic Rule <n>", n
// counting from 1 over the engine's life; their RuleRef has an empty
// Policy and Rule n.
//
// Errors are *store.Error values printing as `ERR IPsec[<code>] : <text>`
// with the SPD codes of reference 6.3. Choices:
//
//   - a negotiate action without a quick mode policy: 13015 (no default
//     quick mode policy), as the service would fall back on one;
//   - changing or deleting a static-derived policy: 13005 / 13002 (the
//     policy is in use, by the assigned static policy) with a text that
//     says so; a rule whose identifying tags match a static-derived
//     generic filter: 13008 / 13016 (filter exists) with such a text;
//   - `delete mmpolicy|qmpolicy all` deletes every dynamic policy that no
//     rule uses and then fails with 13005 / 13002 if some remained.

// SPD errors (reference 6.3).
var (
	ErrQMPolicyExists    = &store.Error{Code: 13000, Msg: "The specified quick mode policy already exists."}
	ErrQMPolicyNotFound  = &store.Error{Code: 13001, Msg: "The specified quick mode policy was not found."}
	ErrQMPolicyInUse     = &store.Error{Code: 13002, Msg: "The specified quick mode policy is being used."}
	ErrMMPolicyExists    = &store.Error{Code: 13003, Msg: "The specified main mode policy already exists."}
	ErrMMPolicyNotFound  = &store.Error{Code: 13004, Msg: "The specified main mode policy was not found."}
	ErrMMPolicyInUse     = &store.Error{Code: 13005, Msg: "The specified main mode policy is being used."}
	ErrTransportExists   = &store.Error{Code: 13008, Msg: "The specified transport mode filter already exists."}
	ErrTransportNotFound = &store.Error{Code: 13009, Msg: "The specified transport mode filter does not exist."}
	ErrNoDefaultQMPolicy = &store.Error{Code: 13015, Msg: "The specified default quick mode policy was not found."}
	ErrTunnelExists      = &store.Error{Code: 13016, Msg: "The specified tunnel mode filter exists."}
	ErrTunnelNotFound    = &store.Error{Code: 13017, Msg: "The specified tunnel mode filter was not found."}

	ErrStaticMMPolicy = &store.Error{Code: 13005, Msg: "The specified main mode policy is being used by the assigned static policy; change it in the static context."}
	ErrStaticQMPolicy = &store.Error{Code: 13002, Msg: "The specified quick mode policy is being used by the assigned static policy; change it in the static context."}
	ErrStaticFilter   = &store.Error{Code: 13008, Msg: "The specified filter belongs to the assigned static policy; change it in the static context."}
)

// DynamicRulePrefix starts the name of a dynamic rule's filters.
const DynamicRulePrefix = "Dynamic Rule "

// RuleKey identifies a dynamic rule (ipsec.RuleKey).
type RuleKey = ipsec.RuleKey

// DynamicRule is a dynamic rule with its compiled filters.
type DynamicRule struct {
	ipsec.DynamicRule
	SPD *agent.SPD // its generic and specific filters; read-only
}

// dynState is the engine's dynamic SPD objects.
type dynState struct {
	mm    []ipsec.MMPolicy
	qm    []ipsec.QMPolicy
	rules []DynamicRule
	next  int        // ID of the last rule added
	view  *agent.SPD // the served SPD, nil when it must be rebuilt
	base  *agent.SPD // the static-derived SPD view was built from
}

func findName[T any](objs []T, name string, key func(*T) string) int {
	for i := range objs {
		if strings.EqualFold(key(&objs[i]), name) {
			return i
		}
	}
	return -1
}

func mmName(p *ipsec.MMPolicy) string { return p.Name }
func qmName(p *ipsec.QMPolicy) string { return p.Name }

// dynLocked checks that the engine runs and brings its static-derived SPD
// up to date with the store, before a dynamic change or read.
func (e *Engine) dynLocked() error {
	if e.state != Running {
		return ErrNotRunning
	}
	return e.syncLocked()
}

// changed drops the cached view after a dynamic change.
func (e *Engine) changed() { e.dyn.view = nil }

// addPolicy appends p to dyn unless a static-derived or dynamic policy
// already has its name.
func addPolicy[T any](static, dyn []T, p T, key func(*T) string, errExists error) ([]T, error) {
	if findName(static, key(&p), key) >= 0 || findName(dyn, key(&p), key) >= 0 {
		return dyn, errExists
	}
	return append(dyn, p), nil
}

// setPolicy applies fn to a copy of the dynamic policy called name and
// returns a new slice holding it; fn must not rename it (the name is kept).
func setPolicy[T any](static, dyn []T, name string, fn func(*T), key func(*T) string,
	rename func(*T, string), errStatic, errNotFound error) ([]T, error) {
	i := findName(dyn, name, key)
	if i < 0 {
		if findName(static, name, key) >= 0 {
			return dyn, errStatic
		}
		return dyn, errNotFound
	}
	p := dyn[i]
	fn(&p)
	rename(&p, key(&dyn[i]))
	out := slices.Clone(dyn)
	out[i] = p
	return out, nil
}

// AddMMPolicy adds a dynamic main mode policy.
func (e *Engine) AddMMPolicy(p ipsec.MMPolicy) error {
	defer e.publish()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.dynLocked(); err != nil {
		return err
	}
	p.Offers = slices.Clone(p.Offers)
	var err error
	if e.dyn.mm, err = addPolicy(e.spd.MMPolicies, e.dyn.mm, p, mmName, ErrMMPolicyExists); err == nil {
		e.changed()
	}
	return err
}

// SetMMPolicy changes the dynamic main mode policy called name with fn
// (which must not rename it).
func (e *Engine) SetMMPolicy(name string, fn func(*ipsec.MMPolicy)) error {
	defer e.publish()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.dynLocked(); err != nil {
		return err
	}
	clone := func(p *ipsec.MMPolicy) { p.Offers = slices.Clone(p.Offers); fn(p) }
	var err error
	if e.dyn.mm, err = setPolicy(e.spd.MMPolicies, e.dyn.mm, name, clone, mmName,
		func(p *ipsec.MMPolicy, n string) { p.Name = n }, ErrStaticMMPolicy, ErrMMPolicyNotFound); err == nil {
		e.changed()
	}
	return err
}

// AddQMPolicy adds a dynamic quick mode policy.
func (e *Engine) AddQMPolicy(p ipsec.QMPolicy) error {
	defer e.publish()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.dynLocked(); err != nil {
		return err
	}
	p.Offers = slices.Clone(p.Offers)
	var err error
	if e.dyn.qm, err = addPolicy(e.spd.QMPolicies, e.dyn.qm, p, qmName, ErrQMPolicyExists); err == nil {
		e.changed()
	}
	return err
}

// SetQMPolicy changes the dynamic quick mode policy called name with fn.
func (e *Engine) SetQMPolicy(name string, fn func(*ipsec.QMPolicy)) error {
	defer e.publish()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.dynLocked(); err != nil {
		return err
	}
	clone := func(p *ipsec.QMPolicy) { p.Offers = slices.Clone(p.Offers); fn(p) }
	var err error
	if e.dyn.qm, err = setPolicy(e.spd.QMPolicies, e.dyn.qm, name, clone, qmName,
		func(p *ipsec.QMPolicy, n string) { p.Name = n }, ErrStaticQMPolicy, ErrQMPolicyNotFound); err == nil {
		e.changed()
	}
	return err
}

func (e *Engine) mmInUse(name string) bool {
	return slices.ContainsFunc(e.dyn.rules, func(r DynamicRule) bool { return strings.EqualFold(r.MMPolicy, name) })
}

func (e *Engine) qmInUse(name string) bool {
	return slices.ContainsFunc(e.dyn.rules, func(r DynamicRule) bool {
		return r.QMPolicy != "" && strings.EqualFold(r.QMPolicy, name)
	})
}

// deletePolicies deletes the dynamic policy called name, or, when all is
// set, every dynamic policy not in use.
func deletePolicies[T any](objs []T, name string, all bool, key func(*T) string, inUse func(string) bool,
	static bool, errStatic, errNotFound, errInUse error) ([]T, error) {
	if all {
		var kept []T
		for i := range objs {
			if inUse(key(&objs[i])) {
				kept = append(kept, objs[i])
			}
		}
		if len(kept) > 0 {
			return kept, errInUse
		}
		return kept, nil
	}
	i := findName(objs, name, key)
	switch {
	case i < 0 && static:
		return objs, errStatic
	case i < 0:
		return objs, errNotFound
	case inUse(key(&objs[i])):
		return objs, errInUse
	}
	return slices.Delete(slices.Clone(objs), i, i+1), nil
}

// DeleteMMPolicy deletes the dynamic main mode policy called name, or
// every unused one when all is set.
func (e *Engine) DeleteMMPolicy(name string, all bool) error {
	defer e.publish()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.dynLocked(); err != nil {
		return err
	}
	var err error
	e.dyn.mm, err = deletePolicies(e.dyn.mm, name, all, mmName, e.mmInUse,
		findName(e.spd.MMPolicies, name, mmName) >= 0, ErrStaticMMPolicy, ErrMMPolicyNotFound, ErrMMPolicyInUse)
	e.changed()
	return err
}

// DeleteQMPolicy deletes the dynamic quick mode policy called name, or
// every unused one when all is set.
func (e *Engine) DeleteQMPolicy(name string, all bool) error {
	defer e.publish()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.dynLocked(); err != nil {
		return err
	}
	var err error
	e.dyn.qm, err = deletePolicies(e.dyn.qm, name, all, qmName, e.qmInUse,
		findName(e.spd.QMPolicies, name, qmName) >= 0, ErrStaticQMPolicy, ErrQMPolicyNotFound, ErrQMPolicyInUse)
	e.changed()
	return err
}

// staticMatch reports whether a static-derived generic quick mode filter
// (not a mirror image) has the identifying tags of k.
func (e *Engine) staticMatch(k RuleKey) bool {
	for i := range e.spd.QMFilters {
		f := &e.spd.QMFilters[i]
		if f.Mirror {
			continue
		}
		tunnel := k.Tunnel.Kind != 0
		if tunnel != f.Tunnel.IsValid() || (tunnel && k.Tunnel.IP.Unmap() != f.Tunnel) {
			continue
		}
		maskOK := func(a ipsec.Address, p netip.Prefix, m ipsec.Mask) bool {
			return a.Kind != ipsec.AddrIP || (p.IsValid() && p.Bits() == int(m))
		}
		if !maskOK(k.Src, f.Selector.Src, k.SrcMask) || !maskOK(k.Dst, f.Selector.Dst, k.DstMask) {
			continue
		}
		if ipsec.SameAddress(f.SrcAddr, k.Src) && ipsec.SameAddress(f.DstAddr, k.Dst) && f.Selector.Protocol == k.Protocol &&
			f.Selector.SrcPort == k.SrcPort && f.Selector.DstPort == k.DstPort &&
			f.Mirrored == k.Mirrored && f.ConnType == k.ConnType {
			return true
		}
	}
	return false
}

func (e *Engine) findRule(k RuleKey) int {
	for i := range e.dyn.rules {
		if e.dyn.rules[i].Key().Match(k) {
			return i
		}
	}
	return -1
}

func existsErr(k RuleKey) error {
	if k.Tunnel.Kind != 0 {
		return ErrTunnelExists
	}
	return ErrTransportExists
}

func notFoundErr(k RuleKey) error {
	if k.Tunnel.Kind != 0 {
		return ErrTunnelNotFound
	}
	return ErrTransportNotFound
}

// checkPolicies checks that the policies r names exist, and returns them
// with the names as the SPD spells them.
func (e *Engine) checkPolicies(r *ipsec.DynamicRule) error {
	mms := append(slices.Clip(e.spd.MMPolicies), e.dyn.mm...)
	i := findName(mms, r.MMPolicy, mmName)
	if i < 0 {
		return ErrMMPolicyNotFound
	}
	r.MMPolicy = mms[i].Name
	if r.QMPolicy != "" {
		qms := append(slices.Clip(e.spd.QMPolicies), e.dyn.qm...)
		j := findName(qms, r.QMPolicy, qmName)
		if j < 0 {
			return ErrQMPolicyNotFound
		}
		r.QMPolicy = qms[j].Name
	}
	if r.Negotiates() && r.QMPolicy == "" {
		return ErrNoDefaultQMPolicy
	}
	return nil
}

// AddRule adds a dynamic rule; its Name and Ref are assigned here.
func (e *Engine) AddRule(r ipsec.DynamicRule) error {
	defer e.publish()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.dynLocked(); err != nil {
		return err
	}
	k := r.Key()
	if e.findRule(k) >= 0 {
		return existsErr(k)
	}
	if e.staticMatch(k) {
		return existsErr(k)
	}
	if err := e.checkPolicies(&r); err != nil {
		return err
	}
	id := e.dyn.next + 1
	r.Name = fmt.Sprintf("%s%d", DynamicRulePrefix, id)
	r.Ref = ipsec.RuleRef{Rule: id}
	r.Auth = slices.Clone(r.Auth)
	spd, err := agent.CompileDynamic(&r, e.host())
	if err != nil {
		return err
	}
	e.dyn.next = id
	e.dyn.rules = append(slices.Clip(e.dyn.rules), DynamicRule{r, spd})
	e.changed()
	return nil
}

// SetRule changes the dynamic rule identified by k with fn, which may
// change the policies, the actions and the authentication methods only.
func (e *Engine) SetRule(k RuleKey, fn func(*ipsec.DynamicRule)) error {
	defer e.publish()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.dynLocked(); err != nil {
		return err
	}
	i := e.findRule(k)
	if i < 0 {
		if e.staticMatch(k) {
			return ErrStaticFilter
		}
		return notFoundErr(k)
	}
	old := e.dyn.rules[i].DynamicRule
	r := old
	r.Auth = slices.Clone(r.Auth)
	fn(&r)
	// Only the changeable fields are taken.
	nr := old
	nr.MMPolicy, nr.QMPolicy = r.MMPolicy, r.QMPolicy
	nr.InboundAction, nr.OutboundAction, nr.Auth = r.InboundAction, r.OutboundAction, r.Auth
	if err := e.checkPolicies(&nr); err != nil {
		return err
	}
	spd, err := agent.CompileDynamic(&nr, e.host())
	if err != nil {
		return err
	}
	e.dyn.rules = slices.Clone(e.dyn.rules)
	e.dyn.rules[i] = DynamicRule{nr, spd}
	e.changed()
	return nil
}

// DeleteRule deletes the dynamic rule identified by k.
func (e *Engine) DeleteRule(k RuleKey) error {
	defer e.publish()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.dynLocked(); err != nil {
		return err
	}
	i := e.findRule(k)
	if i < 0 {
		if e.staticMatch(k) {
			return ErrStaticFilter
		}
		return notFoundErr(k)
	}
	e.dyn.rules = slices.Delete(slices.Clone(e.dyn.rules), i, i+1)
	e.changed()
	return nil
}

// DeleteAll deletes every dynamic rule and policy, and every SA
// (Negotiator.Flush); the static-derived SPD stays.
func (e *Engine) DeleteAll() error {
	defer e.publish()
	e.mu.Lock()
	if err := e.dynLocked(); err != nil {
		e.mu.Unlock()
		return err
	}
	e.dyn = dynState{next: e.dyn.next}
	e.mu.Unlock()
	if e.neg != nil {
		e.neg.Flush()
	}
	return nil
}

// DynamicRules returns the dynamic rules, with their filters, in the
// order they were added.
func (e *Engine) DynamicRules() ([]DynamicRule, error) {
	defer e.publish()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.dynLocked(); err != nil {
		return nil, err
	}
	return slices.Clip(e.dyn.rules), nil
}

// Rules returns the dynamic rules in the order they were added; their
// filters are those of the SPD whose RuleRef is the rule's Ref.
func (e *Engine) Rules() ([]ipsec.DynamicRule, error) {
	rs, err := e.DynamicRules()
	if err != nil {
		return nil, err
	}
	out := make([]ipsec.DynamicRule, len(rs))
	for i := range rs {
		out[i] = rs[i].DynamicRule
	}
	return out, nil
}

// recompileDynamicLocked re-expands the dynamic rules for the current host.
// A rule that no longer compiles keeps its previous filters.
func (e *Engine) recompileDynamicLocked() {
	if len(e.dyn.rules) == 0 {
		return
	}
	host := e.host()
	rules := slices.Clone(e.dyn.rules)
	for i := range rules {
		spd, err := agent.CompileDynamic(&rules[i].DynamicRule, host)
		if err != nil {
			e.log.Warn("dynamic rule not re-compiled", "rule", rules[i].Name, "err", err)
			continue
		}
		rules[i].SPD = spd
	}
	e.dyn.rules = rules
	e.changed()
}

// viewLocked returns the served SPD: the static-derived one plus the
// dynamic objects.
func (e *Engine) viewLocked() *agent.SPD {
	d := &e.dyn
	if len(d.mm)+len(d.qm)+len(d.rules) == 0 {
		return e.spd
	}
	if d.view != nil && d.base == e.spd {
		return d.view
	}
	s := e.spd
	v := &agent.SPD{PolicyGUID: s.PolicyGUID, PolicyName: s.PolicyName}
	v.MMPolicies = append(slices.Clip(s.MMPolicies), d.mm...)
	v.QMPolicies = append(slices.Clip(s.QMPolicies), d.qm...)
	v.MMFilters, v.QMFilters = slices.Clip(s.MMFilters), slices.Clip(s.QMFilters)
	var mmSpec []ipsec.MMFilter
	var qmSpec []ipsec.QMFilter
	for i := range d.rules {
		r := d.rules[i].SPD
		v.MMFilters = append(v.MMFilters, r.MMFilters...)
		v.QMFilters = append(v.QMFilters, r.QMFilters...)
		mmSpec = agent.MergeMMSpecific(mmSpec, r.MMSpecific)
		qmSpec = agent.MergeQMSpecific(qmSpec, r.QMSpecific)
	}
	v.MMSpecific = agent.MergeMMSpecific(slices.Clip(s.MMSpecific), mmSpec)
	v.QMSpecific = agent.MergeQMSpecific(slices.Clip(s.QMSpecific), qmSpec)
	d.view, d.base = v, e.spd
	return v
}
