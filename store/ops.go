package store

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
)

// Operations on State. Contract shared by every method below:
//
//   - Names compare case-insensitively (strings.EqualFold), GUIDs too.
//   - A mutating method either applies completely or returns a *Error (as an
//     error) and leaves the State exactly as it was.
//   - Inputs are copied: a stored object never shares a slice with the
//     caller, and lookups return deep copies. To change an object, look it up,
//     modify the copy and hand it to the matching Put method, which checks the
//     invariants of State again (unique names, existing references, a single
//     assigned policy).
//   - Identity fields (GUIDs, rule IDs, the Default flag) are set by the State
//     and cannot be changed through Put; Modified is stamped from the State's
//     clock on every change, in UTC.
//   - Zero values that netsh never stores are replaced by the netsh defaults
//     (normalisation): MMLifetime 0 -> 480, PollingInterval 0 -> 180, no MM
//     offers -> ipsec.DefaultMMOffers, ConnType 0 -> all, no auth methods ->
//     Kerberos, Action 0 -> negotiate, a negotiate action (or default rule)
//     without offers -> ipsec.DefaultQMOffers; mmpfs forces QMPerMM to 1.

// Defaults of `add policy` (reference §2.3.1, §4.3).
const (
	DefaultMMLifetime      = 480 // minutes
	DefaultPollingInterval = 180 // minutes
)

// env supplies time stamps and GUIDs to the operations, and counts the
// changes they make.
type env struct {
	clock   func() time.Time
	newGUID func() GUID
	changes int // successful mutating operations; lets batch mode skip rollbacks
}

// SetEnv sets where s takes time stamps and GUIDs for new or changed objects.
// A nil function selects time.Now resp. RandomGUID, which is also what a
// State without SetEnv uses. DB sets its own Options before each callback.
func (s *State) SetEnv(clock func() time.Time, newGUID func() GUID) {
	s.env = &env{clock: clock, newGUID: newGUID}
}

func (s *State) now() time.Time {
	if s.env != nil && s.env.clock != nil {
		return s.env.clock().UTC()
	}
	return time.Now().UTC()
}

// changed records that an operation has modified s. Every mutating method
// calls it once it has applied its change (they never fail after that).
func (s *State) changed() {
	if s.env != nil {
		s.env.changes++
	}
}

func (s *State) guid() GUID {
	if s.env != nil && s.env.newGUID != nil {
		return s.env.newGUID()
	}
	return RandomGUID()
}

// NewPolicy returns a policy with the defaults of `add policy`: unassigned,
// mmpfs no, qmpermm 0, mmlifetime 480, pollinginterval 180, the default MM
// offers and an active default response rule with Kerberos.
func NewPolicy(name string) Policy {
	return Policy{
		Name:            name,
		PollingInterval: DefaultPollingInterval,
		MMLifetime:      DefaultMMLifetime,
		MMOffers:        slices.Clone(ipsec.DefaultMMOffers),
		DefaultRule:     newDefaultRule(true),
	}
}

func newDefaultRule(active bool) Rule {
	return Rule{
		Default:  true,
		ConnType: ipsec.ConnAll,
		Active:   active,
		Auth:     kerberos(),
		QMOffers: slices.Clone(ipsec.DefaultQMOffers),
	}
}

func kerberos() []ipsec.AuthMethod { return []ipsec.AuthMethod{{Kind: ipsec.AuthKerberos}} }

// NewFilterAction returns a filter action with the defaults of `add
// filteraction`: negotiate, qmpfs/inpass/soft no, ipsec.DefaultQMOffers.
func NewFilterAction(name string) FilterAction {
	return FilterAction{
		Name:   name,
		Action: ipsec.ActionNegotiate,
		Offers: slices.Clone(ipsec.DefaultQMOffers),
	}
}

// NewRule returns a rule with the defaults of `add rule`: transport mode,
// conntype all, active, Kerberos.
func NewRule(name string) Rule {
	return Rule{Name: name, ConnType: ipsec.ConnAll, Active: true, Auth: kerberos()}
}

// NewFilter returns a filter with the defaults of `add filter`: mirrored,
// protocol ANY, ports 0 and the default masks of src and dst.
func NewFilter(src, dst ipsec.Address) Filter {
	return Filter{
		Mirrored: true,
		Src:      src,
		SrcMask:  ipsec.DefaultMask(src),
		Dst:      dst,
		DstMask:  ipsec.DefaultMask(dst),
		Protocol: ipsec.ProtoAny,
	}
}

func sameName(a, b string) bool { return strings.EqualFold(a, b) }

// ---- lookups ----

// Lookups scan from the end: names and GUIDs are unique, and scripts mostly
// refer to the object they created last, which keeps a long batch of `add
// filter` commands linear.

func (s *State) policyIndex(name string) int {
	return lastIndex(s.Policies, func(p *Policy) bool { return sameName(p.Name, name) })
}

func (s *State) policyIndexGUID(g GUID) int {
	return lastIndex(s.Policies, func(p *Policy) bool { return p.GUID.Equal(g) })
}

func (s *State) filterListIndex(name string) int {
	return lastIndex(s.FilterLists, func(l *FilterList) bool { return sameName(l.Name, name) })
}

func (s *State) filterListIndexGUID(g GUID) int {
	return lastIndex(s.FilterLists, func(l *FilterList) bool { return l.GUID.Equal(g) })
}

func (s *State) filterActionIndex(name string) int {
	return lastIndex(s.FilterActions, func(a *FilterAction) bool { return sameName(a.Name, name) })
}

func (s *State) filterActionIndexGUID(g GUID) int {
	return lastIndex(s.FilterActions, func(a *FilterAction) bool { return a.GUID.Equal(g) })
}

func lastIndex[T any](xs []T, match func(*T) bool) int {
	for i := len(xs) - 1; i >= 0; i-- {
		if match(&xs[i]) {
			return i
		}
	}
	return -1
}

// policyByName returns the index of the named policy or CodePolicyNotFound.
func (s *State) policyByName(name string) (int, error) {
	if i := s.policyIndex(name); i >= 0 {
		return i, nil
	}
	return -1, NewError(CodePolicyNotFound, name)
}

// Policy returns a copy of the named policy.
func (s *State) Policy(name string) (Policy, error) {
	i, err := s.policyByName(name)
	if err != nil {
		return Policy{}, err
	}
	return clonePolicy(s.Policies[i]), nil
}

// PolicyByGUID returns a copy of the policy with GUID g.
func (s *State) PolicyByGUID(g GUID) (Policy, error) {
	if i := s.policyIndexGUID(g); i >= 0 {
		return clonePolicy(s.Policies[i]), nil
	}
	return Policy{}, NewError(CodeGUIDNotFound, kindPolicy, g)
}

// AssignedPolicy returns a copy of the assigned policy, if there is one.
func (s *State) AssignedPolicy() (Policy, bool) {
	for _, p := range s.Policies {
		if p.Assigned {
			return clonePolicy(p), true
		}
	}
	return Policy{}, false
}

// FilterList returns a copy of the named filter list.
func (s *State) FilterList(name string) (FilterList, error) {
	if i := s.filterListIndex(name); i >= 0 {
		return cloneFilterList(s.FilterLists[i]), nil
	}
	return FilterList{}, NewError(CodeFilterListNotFound, name)
}

// FilterListByGUID returns a copy of the filter list with GUID g.
func (s *State) FilterListByGUID(g GUID) (FilterList, error) {
	if i := s.filterListIndexGUID(g); i >= 0 {
		return cloneFilterList(s.FilterLists[i]), nil
	}
	return FilterList{}, NewError(CodeGUIDNotFound, kindFilterList, g)
}

// FilterAction returns a copy of the named filter action.
func (s *State) FilterAction(name string) (FilterAction, error) {
	if i := s.filterActionIndex(name); i >= 0 {
		return cloneFilterAction(s.FilterActions[i]), nil
	}
	return FilterAction{}, NewError(CodeFilterActionNotFound, name)
}

// FilterActionByGUID returns a copy of the filter action with GUID g.
func (s *State) FilterActionByGUID(g GUID) (FilterAction, error) {
	if i := s.filterActionIndexGUID(g); i >= 0 {
		return cloneFilterAction(s.FilterActions[i]), nil
	}
	return FilterAction{}, NewError(CodeGUIDNotFound, kindFilterAction, g)
}

// Rule returns a copy of the rule called name in the named policy. The
// default response rule has no name and is reached with DefaultRule or
// RuleByID(policy, 0).
func (s *State) Rule(policy, name string) (Rule, error) {
	pi, err := s.policyByName(policy)
	if err != nil {
		return Rule{}, err
	}
	p := &s.Policies[pi]
	if ri := ruleIndex(p.Rules, name); ri >= 0 {
		return cloneRule(p.Rules[ri]), nil
	}
	return Rule{}, NewError(CodeRuleNotFound, name, p.Name)
}

// RuleByID returns a copy of the rule with the given ID in the named policy.
// ID 0 is the default response rule; regular rules are numbered from 1.
func (s *State) RuleByID(policy string, id int) (Rule, error) {
	pi, err := s.policyByName(policy)
	if err != nil {
		return Rule{}, err
	}
	p := &s.Policies[pi]
	if id == 0 {
		return cloneRule(p.DefaultRule), nil
	}
	if ri := ruleIndexID(p.Rules, id); ri >= 0 {
		return cloneRule(p.Rules[ri]), nil
	}
	return Rule{}, NewError(CodeRuleIDNotFound, id, p.Name)
}

// DefaultRule returns a copy of the default response rule of the policy.
func (s *State) DefaultRule(policy string) (Rule, error) { return s.RuleByID(policy, 0) }

func ruleIndex(rules []Rule, name string) int {
	return lastIndex(rules, func(r *Rule) bool { return r.Name != "" && sameName(r.Name, name) })
}

func ruleIndexID(rules []Rule, id int) int {
	return lastIndex(rules, func(r *Rule) bool { return r.ID == id })
}

func ruleIndexGUID(rules []Rule, g GUID) int {
	return lastIndex(rules, func(r *Rule) bool { return r.GUID.Equal(g) })
}

// ---- add ----

// AddPolicy adds p with a new GUID, ISAKMP GUID and default response rule
// GUID, and returns the stored copy. p.DefaultRule is taken as the default
// response rule (use NewPolicy for netsh's defaults); p must have no regular
// rules (add them with AddRule). If p is assigned, every other policy is
// unassigned.
func (s *State) AddPolicy(p Policy) (Policy, error) {
	if len(p.Rules) > 0 {
		return Policy{}, invalid("policy", "rules are added one by one with add rule")
	}
	if i := s.policyIndex(p.Name); i >= 0 {
		return Policy{}, NewError(CodePolicyExists, p.Name)
	}
	p = clonePolicy(p)
	p.GUID, p.ISAKMPGUID, p.DefaultRule.GUID = s.guid(), s.guid(), s.guid()
	normPolicy(&p)
	if err := s.validatePolicy(&p, -1); err != nil {
		return Policy{}, err
	}
	now := s.now()
	p.Modified, p.DefaultRule.Modified = now, now
	if p.Assigned {
		s.unassignAll()
	}
	s.Policies = append(s.Policies, p)
	s.changed()
	return clonePolicy(p), nil
}

// AddFilterList adds fl (usually empty) with a new GUID and returns the
// stored copy.
func (s *State) AddFilterList(fl FilterList) (FilterList, error) {
	if i := s.filterListIndex(fl.Name); i >= 0 {
		return FilterList{}, NewError(CodeFilterListExists, fl.Name)
	}
	fl = cloneFilterList(fl)
	fl.GUID = s.guid()
	if err := s.validateFilterList(&fl, -1); err != nil {
		return FilterList{}, err
	}
	fl.Modified = s.now()
	s.FilterLists = append(s.FilterLists, fl)
	s.changed()
	return cloneFilterList(fl), nil
}

// AddFilterAction adds fa with a new GUID and returns the stored copy.
func (s *State) AddFilterAction(fa FilterAction) (FilterAction, error) {
	if i := s.filterActionIndex(fa.Name); i >= 0 {
		return FilterAction{}, NewError(CodeFilterActionExists, fa.Name)
	}
	fa = cloneFilterAction(fa)
	fa.GUID = s.guid()
	normFilterAction(&fa)
	if err := s.validateFilterAction(&fa, -1); err != nil {
		return FilterAction{}, err
	}
	fa.Modified = s.now()
	s.FilterActions = append(s.FilterActions, fa)
	s.changed()
	return cloneFilterAction(fa), nil
}

// AddFilter appends f to the named filter list, creating the list (with an
// empty description) when it does not exist, as netsh does. Identical
// filters may be added more than once. The cost does not grow with the
// number of filters already in the list.
func (s *State) AddFilter(list string, f Filter) error {
	if err := validateFilter(&f); err != nil {
		return err
	}
	now := s.now()
	if i := s.filterListIndex(list); i >= 0 {
		l := &s.FilterLists[i]
		l.Filters = append(l.Filters, f)
		l.Modified = now
		s.changed()
		return nil
	}
	if list == "" {
		return invalid("filter list name", "it is empty")
	}
	s.FilterLists = append(s.FilterLists, FilterList{
		GUID:     s.guid(),
		Name:     list,
		Filters:  []Filter{f},
		Modified: now,
	})
	s.changed()
	return nil
}

// AddRule adds r to the named policy, bound to the named filter list and
// filter action (r.FilterList and r.FilterAction are ignored), and returns
// the stored copy. The rule gets a new GUID and the ID one above the highest
// ID in the policy, so IDs follow the rule order and are not reused while a
// later rule exists.
func (s *State) AddRule(policy, filterList, filterAction string, r Rule) (Rule, error) {
	pi, err := s.policyByName(policy)
	if err != nil {
		return Rule{}, err
	}
	li := s.filterListIndex(filterList)
	if li < 0 {
		return Rule{}, NewError(CodeFilterListNotFound, filterList)
	}
	ai := s.filterActionIndex(filterAction)
	if ai < 0 {
		return Rule{}, NewError(CodeFilterActionNotFound, filterAction)
	}
	p := &s.Policies[pi]
	// An empty name is allowed: the built-in rules have none, and a dump
	// of them must replay. Nameless rules are addressed by ID.
	if ruleIndex(p.Rules, r.Name) >= 0 {
		return Rule{}, NewError(CodeRuleExists, r.Name, p.Name)
	}
	r = cloneRule(r)
	r.Default = false
	r.FilterList, r.FilterAction = s.FilterLists[li].GUID, s.FilterActions[ai].GUID
	r.ID = 1
	for _, o := range p.Rules {
		r.ID = max(r.ID, o.ID+1)
	}
	normRule(&r)
	if err := s.validateRule(&r); err != nil {
		return Rule{}, err
	}
	r.GUID = s.guid()
	now := s.now()
	r.Modified, p.Modified = now, now
	p.Rules = append(p.Rules, r)
	s.changed()
	return cloneRule(r), nil
}

// ---- put ----

// PutPolicy replaces the policy with p.GUID by p: settings, name (a rename
// must not clash), rules and default response rule (for single rules
// PutRule and PutDefaultRule are simpler). The GUID, ISAKMP GUID and the
// default rule's identity are kept. If p is assigned, every other policy is
// unassigned.
func (s *State) PutPolicy(p Policy) error {
	i := s.policyIndexGUID(p.GUID)
	if i < 0 {
		return NewError(CodeGUIDNotFound, kindPolicy, p.GUID)
	}
	old := &s.Policies[i]
	p = clonePolicy(p)
	p.GUID, p.ISAKMPGUID = old.GUID, old.ISAKMPGUID
	p.DefaultRule.GUID = old.DefaultRule.GUID
	normPolicy(&p)
	if err := s.validatePolicy(&p, i); err != nil {
		return err
	}
	p.Modified = s.now()
	if p.Assigned {
		s.unassignAll()
	}
	s.Policies[i] = p
	s.changed()
	return nil
}

// PutFilterList replaces the filter list with fl.GUID by fl.
func (s *State) PutFilterList(fl FilterList) error {
	i := s.filterListIndexGUID(fl.GUID)
	if i < 0 {
		return NewError(CodeGUIDNotFound, kindFilterList, fl.GUID)
	}
	fl = cloneFilterList(fl)
	fl.GUID = s.FilterLists[i].GUID
	if err := s.validateFilterList(&fl, i); err != nil {
		return err
	}
	fl.Modified = s.now()
	s.FilterLists[i] = fl
	s.changed()
	return nil
}

// PutFilterAction replaces the filter action with fa.GUID by fa.
func (s *State) PutFilterAction(fa FilterAction) error {
	i := s.filterActionIndexGUID(fa.GUID)
	if i < 0 {
		return NewError(CodeGUIDNotFound, kindFilterAction, fa.GUID)
	}
	fa = cloneFilterAction(fa)
	fa.GUID = s.FilterActions[i].GUID
	normFilterAction(&fa)
	if err := s.validateFilterAction(&fa, i); err != nil {
		return err
	}
	fa.Modified = s.now()
	s.FilterActions[i] = fa
	s.changed()
	return nil
}

// PutRule replaces the rule with r.GUID in the named policy by r. r carries
// the filter list and filter action by GUID (look them up by name first). A
// rename must not clash within the policy; the ID is kept.
func (s *State) PutRule(policy string, r Rule) error {
	pi, err := s.policyByName(policy)
	if err != nil {
		return err
	}
	p := &s.Policies[pi]
	if r.Default {
		return invalid("rule", "the default response rule is changed with set defaultrule")
	}
	ri := ruleIndexGUID(p.Rules, r.GUID)
	if ri < 0 {
		return NewError(CodeGUIDNotFound, kindRule, r.GUID)
	}
	if r.Name != "" {
		if j := ruleIndex(p.Rules, r.Name); j >= 0 && j != ri {
			return NewError(CodeRuleExists, r.Name, p.Name)
		}
	}
	r = cloneRule(r)
	r.GUID, r.ID = p.Rules[ri].GUID, p.Rules[ri].ID
	normRule(&r)
	if err := s.validateRule(&r); err != nil {
		return err
	}
	now := s.now()
	r.Modified, p.Modified = now, now
	p.Rules[ri] = r
	s.changed()
	return nil
}

// PutDefaultRule replaces the default response rule of the named policy by
// r (activation, QM PFS, QM offers, auth methods, description). Its
// identity stays, and it never has a filter list or filter action.
func (s *State) PutDefaultRule(policy string, r Rule) error {
	pi, err := s.policyByName(policy)
	if err != nil {
		return err
	}
	p := &s.Policies[pi]
	r = cloneRule(r)
	r.GUID, r.ID, r.Default = p.DefaultRule.GUID, 0, true
	r.FilterList, r.FilterAction = "", ""
	normRule(&r)
	if err := s.validateRule(&r); err != nil {
		return err
	}
	now := s.now()
	r.Modified, p.Modified = now, now
	p.DefaultRule = r
	s.changed()
	return nil
}

func (s *State) unassignAll() {
	for i := range s.Policies {
		s.Policies[i].Assigned = false
	}
}

// ---- delete ----

// DeletePolicy deletes the named policy with its rules; filter lists and
// filter actions stay.
func (s *State) DeletePolicy(name string) error {
	i, err := s.policyByName(name)
	if err != nil {
		return err
	}
	s.Policies = slices.Delete(s.Policies, i, i+1)
	s.changed()
	return nil
}

// DeleteAllPolicies deletes every policy and returns how many there were.
func (s *State) DeleteAllPolicies() int {
	n := len(s.Policies)
	s.Policies = nil
	s.changed()
	return n
}

// ruleRef names a rule for in-use messages: the policy and the rule's name,
// or "ID <n>" for a rule without one (the built-in rules).
type ruleRef struct{ policy, rule string }

// user returns the first rule that references g as filter list (list) or
// filter action (!list).
func (s *State) user(g GUID, list bool) (ruleRef, bool) {
	for _, p := range s.Policies {
		for _, r := range p.Rules {
			ref := r.FilterAction
			if list {
				ref = r.FilterList
			}
			if ref.Equal(g) {
				name := r.Name
				if name == "" {
					name = fmt.Sprintf("ID %d", r.ID)
				}
				return ruleRef{p.Name, name}, true
			}
		}
	}
	return ruleRef{}, false
}

// DeleteFilterList deletes the named filter list unless a rule of any
// policy uses it.
func (s *State) DeleteFilterList(name string) error {
	i := s.filterListIndex(name)
	if i < 0 {
		return NewError(CodeFilterListNotFound, name)
	}
	l := &s.FilterLists[i]
	if u, ok := s.user(l.GUID, true); ok {
		return NewError(CodeFilterListInUse, l.Name, u.rule, u.policy)
	}
	s.FilterLists = slices.Delete(s.FilterLists, i, i+1)
	s.changed()
	return nil
}

// DeleteAllFilterLists deletes every filter list that no rule uses and
// returns one CodeFilterListInUse error per list it kept.
//
// Choice (netsh's behaviour is unknown): `delete filterlist all` is not all
// or nothing. Refusing everything because one list is in use would make the
// command useless on a store holding the built-in policies, so the
// unreferenced lists always go, and the refusals are reported, not
// returned as a failure; the shell prints them and the deletion is still
// written.
func (s *State) DeleteAllFilterLists() (refused []*Error) {
	kept := s.FilterLists[:0]
	for _, l := range s.FilterLists {
		if u, ok := s.user(l.GUID, true); ok {
			refused = append(refused, NewError(CodeFilterListInUse, l.Name, u.rule, u.policy))
			kept = append(kept, l)
		}
	}
	clear(s.FilterLists[len(kept):])
	s.FilterLists = kept
	s.changed()
	return refused
}

// DeleteFilterAction deletes the named filter action unless a rule of any
// policy uses it.
func (s *State) DeleteFilterAction(name string) error {
	i := s.filterActionIndex(name)
	if i < 0 {
		return NewError(CodeFilterActionNotFound, name)
	}
	a := &s.FilterActions[i]
	if u, ok := s.user(a.GUID, false); ok {
		return NewError(CodeFilterActionInUse, a.Name, u.rule, u.policy)
	}
	s.FilterActions = slices.Delete(s.FilterActions, i, i+1)
	s.changed()
	return nil
}

// DeleteAllFilterActions is DeleteAllFilterLists for filter actions, with
// the same partial semantics.
func (s *State) DeleteAllFilterActions() (refused []*Error) {
	kept := s.FilterActions[:0]
	for _, a := range s.FilterActions {
		if u, ok := s.user(a.GUID, false); ok {
			refused = append(refused, NewError(CodeFilterActionInUse, a.Name, u.rule, u.policy))
			kept = append(kept, a)
		}
	}
	clear(s.FilterActions[len(kept):])
	s.FilterActions = kept
	s.changed()
	return refused
}

// DeleteFilter deletes every filter of the named list that equals spec on
// the fields `delete filter` takes: addresses, masks, protocol, ports and
// mirrored (not the description). The shell fills the omitted fields with
// the `add filter` defaults (NewFilter) first. It returns how many filters
// went; a list left empty stays.
func (s *State) DeleteFilter(list string, spec Filter) (int, error) {
	i := s.filterListIndex(list)
	if i < 0 {
		return 0, NewError(CodeFilterListNotFound, list)
	}
	l := &s.FilterLists[i]
	n := len(l.Filters)
	if !slices.ContainsFunc(l.Filters, func(f Filter) bool { return sameSpec(f, spec) }) {
		return 0, NewError(CodeNoMatchingFilter, l.Name)
	}
	l.Filters = slices.DeleteFunc(l.Filters, func(f Filter) bool { return sameSpec(f, spec) })
	l.Modified = s.now()
	s.changed()
	return n - len(l.Filters), nil
}

func sameSpec(a, b Filter) bool {
	return a.Mirrored == b.Mirrored && a.Protocol == b.Protocol &&
		a.SrcMask == b.SrcMask && a.DstMask == b.DstMask &&
		a.SrcPort == b.SrcPort && a.DstPort == b.DstPort &&
		sameAddr(a.Src, b.Src) && sameAddr(a.Dst, b.Dst)
}

// sameAddr compares selectors as the user typed them: a DNS name by name
// (whatever it resolved to), an IP by value, the others by kind.
func sameAddr(a, b ipsec.Address) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case ipsec.AddrIP:
		return a.IP == b.IP
	case ipsec.AddrDNSName:
		return sameName(a.Name, b.Name)
	}
	return true
}

// DeleteRule deletes the rule called name from the named policy.
func (s *State) DeleteRule(policy, name string) error {
	pi, err := s.policyByName(policy)
	if err != nil {
		return err
	}
	p := &s.Policies[pi]
	ri := ruleIndex(p.Rules, name)
	if ri < 0 {
		return NewError(CodeRuleNotFound, name, p.Name)
	}
	p.Rules = slices.Delete(p.Rules, ri, ri+1)
	p.Modified = s.now()
	s.changed()
	return nil
}

// DeleteRuleByID deletes the rule with the given ID from the named policy.
// ID 0, the default response rule, cannot be deleted.
func (s *State) DeleteRuleByID(policy string, id int) error {
	pi, err := s.policyByName(policy)
	if err != nil {
		return err
	}
	p := &s.Policies[pi]
	if id == 0 {
		return NewError(CodeDefaultRule, p.Name)
	}
	ri := ruleIndexID(p.Rules, id)
	if ri < 0 {
		return NewError(CodeRuleIDNotFound, id, p.Name)
	}
	p.Rules = slices.Delete(p.Rules, ri, ri+1)
	p.Modified = s.now()
	s.changed()
	return nil
}

// DeleteAllRules deletes every rule of the named policy except the default
// response rule and returns how many went.
func (s *State) DeleteAllRules(policy string) (int, error) {
	pi, err := s.policyByName(policy)
	if err != nil {
		return 0, err
	}
	p := &s.Policies[pi]
	n := len(p.Rules)
	p.Rules = nil
	if n > 0 {
		p.Modified = s.now()
	}
	s.changed()
	return n, nil
}

// DeleteAll deletes every policy, filter list and filter action (`delete
// all`). The built-ins are not recreated.
func (s *State) DeleteAll() {
	s.Policies, s.FilterLists, s.FilterActions = nil, nil, nil
	s.changed()
}

// ---- normalisation and validation ----

func normPolicy(p *Policy) {
	if p.MMLifetime == 0 {
		p.MMLifetime = DefaultMMLifetime
	}
	if p.PollingInterval == 0 {
		p.PollingInterval = DefaultPollingInterval
	}
	if p.MMPFS {
		p.QMPerMM = 1
	}
	if len(p.MMOffers) == 0 {
		p.MMOffers = slices.Clone(ipsec.DefaultMMOffers)
	}
	p.DefaultRule.Default, p.DefaultRule.ID = true, 0
	p.DefaultRule.FilterList, p.DefaultRule.FilterAction = "", ""
	normRule(&p.DefaultRule)
	for i := range p.Rules {
		normRule(&p.Rules[i])
	}
}

func normRule(r *Rule) {
	if r.ConnType == 0 {
		r.ConnType = ipsec.ConnAll
	}
	if len(r.Auth) == 0 {
		r.Auth = kerberos()
	}
	if r.Default && len(r.QMOffers) == 0 {
		r.QMOffers = slices.Clone(ipsec.DefaultQMOffers)
	}
}

func normFilterAction(a *FilterAction) {
	if a.Action == 0 {
		a.Action = ipsec.ActionNegotiate
	}
	if a.Action == ipsec.ActionNegotiate && len(a.Offers) == 0 {
		a.Offers = slices.Clone(ipsec.DefaultQMOffers)
	}
}

// validatePolicy checks p as the policy at index self (-1: a new one).
func (s *State) validatePolicy(p *Policy, self int) error {
	if p.Name == "" {
		return invalid("policy name", "it is empty")
	}
	if p.GUID == "" {
		return invalid("policy", "it has no GUID")
	}
	for i := range s.Policies {
		if i == self {
			continue
		}
		if sameName(s.Policies[i].Name, p.Name) {
			return NewError(CodePolicyExists, p.Name)
		}
		if s.Policies[i].GUID.Equal(p.GUID) {
			return invalid("policy", fmt.Sprintf("GUID %s is used by policy %q", p.GUID, s.Policies[i].Name))
		}
	}
	switch {
	case p.MMLifetime < 0:
		return invalid("mmlifetime", "it is negative")
	case p.PollingInterval < 0:
		return invalid("pollinginterval", "it is negative")
	case p.QMPerMM < 0:
		return invalid("qmpermm", "it is negative")
	}
	for _, o := range p.MMOffers {
		if o.Cipher == ipsec.CipherNone || o.Hash == ipsec.HashNone || o.Group == ipsec.DHNone {
			return invalid("mmsecmethods", fmt.Sprintf("%s lacks an algorithm", o))
		}
	}
	if err := s.validateRule(&p.DefaultRule); err != nil {
		return err
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Default {
			return invalid("rule", "only the default response rule may be marked default")
		}
		if r.GUID == "" {
			return invalid("rule", "it has no GUID")
		}
		for j := range i {
			o := &p.Rules[j]
			switch {
			case r.Name != "" && sameName(r.Name, o.Name):
				return NewError(CodeRuleExists, r.Name, p.Name)
			case r.ID == o.ID:
				return invalid("rule", fmt.Sprintf("ID %d is used twice", r.ID))
			case r.GUID.Equal(o.GUID):
				return invalid("rule", fmt.Sprintf("GUID %s is used twice", r.GUID))
			}
		}
		if err := s.validateRule(r); err != nil {
			return err
		}
	}
	return nil
}

// validateRule checks one rule on its own; uniqueness within the policy is
// the caller's.
func (s *State) validateRule(r *Rule) error {
	if r.Default {
		if r.ID != 0 || r.FilterList != "" || r.FilterAction != "" {
			return invalid("default response rule", "it has an ID, filter list or filter action")
		}
	} else {
		if r.ID < 1 {
			return invalid("rule", fmt.Sprintf("ID %d is not positive", r.ID))
		}
		if s.filterListIndexGUID(r.FilterList) < 0 {
			return NewError(CodeGUIDNotFound, kindFilterList, r.FilterList)
		}
		if s.filterActionIndexGUID(r.FilterAction) < 0 {
			return NewError(CodeGUIDNotFound, kindFilterAction, r.FilterAction)
		}
	}
	if r.ConnType < ipsec.ConnAll || r.ConnType > ipsec.ConnDialup {
		return invalid("conntype", r.ConnType.String())
	}
	switch t := r.Tunnel; t.Kind {
	case 0:
	case ipsec.AddrIP:
		if !t.IP.IsValid() {
			return invalid("tunnel", "the address is empty")
		}
	case ipsec.AddrDNSName:
		if t.Name == "" {
			return invalid("tunnel", "the DNS name is empty")
		}
	default:
		return invalid("tunnel", t.String()+" is not an address")
	}
	for _, a := range r.Auth {
		switch {
		case a.Kind < ipsec.AuthKerberos || a.Kind > ipsec.AuthRootCA:
			return invalid("authentication method", a.Kind.String())
		case a.Kind == ipsec.AuthPSK && a.PSK == "":
			return invalid("psk", "the key is empty")
		case a.Kind == ipsec.AuthRootCA && a.CA == "":
			return invalid("rootca", "the CA name is empty")
		}
	}
	return validateQMOffers(r.QMOffers)
}

func validateQMOffers(offers []ipsec.QMOffer) error {
	for _, o := range offers {
		if o.AH == ipsec.HashNone && !o.ESP {
			return invalid("qmsecmethods", "an offer has neither AH nor ESP")
		}
		if o.ESP && o.ESPCipher == ipsec.CipherNone && o.ESPAuth == ipsec.HashNone {
			return invalid("qmsecmethods", "ESP[None,None] protects nothing")
		}
	}
	return nil
}

func (s *State) validateFilterList(l *FilterList, self int) error {
	if l.Name == "" {
		return invalid("filter list name", "it is empty")
	}
	if l.GUID == "" {
		return invalid("filter list", "it has no GUID")
	}
	for i := range s.FilterLists {
		if i == self {
			continue
		}
		if sameName(s.FilterLists[i].Name, l.Name) {
			return NewError(CodeFilterListExists, l.Name)
		}
		if s.FilterLists[i].GUID.Equal(l.GUID) {
			return invalid("filter list", fmt.Sprintf("GUID %s is used by filter list %q", l.GUID, s.FilterLists[i].Name))
		}
	}
	for i := range l.Filters {
		if err := validateFilter(&l.Filters[i]); err != nil {
			return err
		}
	}
	return nil
}

func validateFilter(f *Filter) error {
	for _, side := range [...]struct {
		name string
		a    ipsec.Address
		m    ipsec.Mask
	}{{"srcaddr", f.Src, f.SrcMask}, {"dstaddr", f.Dst, f.DstMask}} {
		switch {
		case !side.a.IsValid():
			return invalid(side.name, "it is missing")
		case side.a.Kind == ipsec.AddrIP && !side.a.IP.IsValid():
			return invalid(side.name, "the address is empty")
		case side.a.Kind == ipsec.AddrDNSName && side.a.Name == "":
			return invalid(side.name, "the DNS name is empty")
		case side.m > 32:
			return invalid(side.name, fmt.Sprintf("mask /%d is longer than 32", side.m))
		}
	}
	// 0.0.0.0 stands for this computer opposite a server type, as in
	// Microsoft's help example `srcaddr=DHCP dstaddr=0.0.0.0`.
	isMe := func(a ipsec.Address) bool {
		return a.Kind == ipsec.AddrMe || a.Kind == ipsec.AddrIP && a.IP == netip.IPv4Unspecified()
	}
	if (f.Src.Kind.IsServerType() && !isMe(f.Dst)) ||
		(f.Dst.Kind.IsServerType() && !isMe(f.Src)) {
		return invalid("filter", "a server type needs me on the other side")
	}
	return nil
}

func (s *State) validateFilterAction(a *FilterAction, self int) error {
	if a.Name == "" {
		return invalid("filter action name", "it is empty")
	}
	if a.GUID == "" {
		return invalid("filter action", "it has no GUID")
	}
	for i := range s.FilterActions {
		if i == self {
			continue
		}
		if sameName(s.FilterActions[i].Name, a.Name) {
			return NewError(CodeFilterActionExists, a.Name)
		}
		if s.FilterActions[i].GUID.Equal(a.GUID) {
			return invalid("filter action", fmt.Sprintf("GUID %s is used by filter action %q", a.GUID, s.FilterActions[i].Name))
		}
	}
	if a.Action < ipsec.ActionPermit || a.Action > ipsec.ActionNegotiate {
		return invalid("action", a.Action.String())
	}
	return validateQMOffers(a.Offers)
}

// ---- copies ----

// Clone returns a deep copy of the data of s. The copy has no environment
// (see SetEnv).
func (s *State) Clone() State {
	c := State{
		Policies:      slices.Clone(s.Policies),
		FilterLists:   slices.Clone(s.FilterLists),
		FilterActions: slices.Clone(s.FilterActions),
	}
	for i := range c.Policies {
		c.Policies[i] = clonePolicy(c.Policies[i])
	}
	for i := range c.FilterLists {
		c.FilterLists[i].Filters = slices.Clone(c.FilterLists[i].Filters)
	}
	for i := range c.FilterActions {
		c.FilterActions[i].Offers = slices.Clone(c.FilterActions[i].Offers)
	}
	return c
}

func clonePolicy(p Policy) Policy {
	p.MMOffers = slices.Clone(p.MMOffers)
	p.DefaultRule = cloneRule(p.DefaultRule)
	p.Rules = slices.Clone(p.Rules)
	for i := range p.Rules {
		p.Rules[i] = cloneRule(p.Rules[i])
	}
	return p
}

func cloneRule(r Rule) Rule {
	r.Auth = slices.Clone(r.Auth)
	r.QMOffers = slices.Clone(r.QMOffers)
	return r
}

func cloneFilterList(l FilterList) FilterList {
	l.Filters = slices.Clone(l.Filters)
	return l
}

func cloneFilterAction(a FilterAction) FilterAction {
	a.Offers = slices.Clone(a.Offers)
	return a
}
