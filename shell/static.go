package shell

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

type handler = func(*Session, *grammar.Invocation) error

// staticHandlers dispatch `ipsec static` commands by command ID. Every
// store change runs inside one Store.Update: it applies completely or not
// at all.
var staticHandlers map[string]handler

func init() {
	staticHandlers = map[string]handler{
		"static.add.policy":       (*Session).addPolicy,
		"static.add.filterlist":   (*Session).addFilterList,
		"static.add.filter":       (*Session).addFilter,
		"static.add.filteraction": (*Session).addFilterAction,
		"static.add.rule":         (*Session).addRule,

		"static.set.policy":       (*Session).setPolicy,
		"static.set.filterlist":   (*Session).setFilterList,
		"static.set.filteraction": (*Session).setFilterAction,
		"static.set.rule":         (*Session).setRule,
		"static.set.defaultrule":  (*Session).setDefaultRule,
		"static.set.store":        (*Session).setStore,
		"static.set.batch":        (*Session).setBatch,

		"static.delete.all":          (*Session).deleteAll,
		"static.delete.policy":       (*Session).deletePolicy,
		"static.delete.filterlist":   (*Session).deleteFilterList,
		"static.delete.filteraction": (*Session).deleteFilterAction,
		"static.delete.filter":       (*Session).deleteFilter,
		"static.delete.rule":         (*Session).deleteRule,

		"static.dump":         (*Session).dump,
		"static.exportpolicy": (*Session).exportPolicy,
		"static.importpolicy": (*Session).importPolicy,
	}
	for id, h := range showHandlers {
		staticHandlers[id] = h
	}
}

func (s *Session) update(fn func(*store.State) error) error {
	return s.cfg.Store.Update(s.loc, fn)
}

func (s *Session) view(fn func(*store.State) error) error {
	return s.cfg.Store.View(s.loc, fn)
}

// Typed accessors: each applies a tag's value only when it was given.

func setStr(inv *grammar.Invocation, tag string, dst *string) {
	if v, ok := inv.Get(tag); ok {
		*dst = v.Str
	}
}

func setBool(inv *grammar.Invocation, tag string, dst *bool) {
	if v, ok := inv.Get(tag); ok {
		*dst = v.Bool
	}
}

func setInt(inv *grammar.Invocation, tag string, dst *int) {
	if v, ok := inv.Get(tag); ok {
		*dst = int(v.Int)
	}
}

func str(inv *grammar.Invocation, tag string) string {
	v, _ := inv.Get(tag)
	return v.Str
}

// resolve fills in the address of a DNS name selector; netsh resolves names
// when the command runs and keeps the name for display.
func (s *Session) resolve(a ipsec.Address) (ipsec.Address, error) {
	if a.Kind != ipsec.AddrDNSName {
		return a, nil
	}
	ip, err := s.cfg.Resolver(context.Background(), a.Name)
	if err != nil {
		return a, &grammar.Error{Code: grammar.ErrBadAddress,
			Msg: fmt.Sprintf("The DNS name %q could not be resolved.", a.Name)}
	}
	a.IP = ip
	return a, nil
}

func (s *Session) addr(inv *grammar.Invocation, tag string) (ipsec.Address, bool, error) {
	v, ok := inv.Get(tag)
	if !ok {
		return ipsec.Address{}, false, nil
	}
	a, err := s.resolve(v.Addr)
	return a, true, err
}

// applyPolicy sets the policy tags given on the line.
func applyPolicy(inv *grammar.Invocation, p *store.Policy) {
	setStr(inv, "description", &p.Description)
	setBool(inv, "mmpfs", &p.MMPFS)
	setInt(inv, "qmpermm", &p.QMPerMM)
	setInt(inv, "mmlifetime", &p.MMLifetime)
	setBool(inv, "activatedefaultrule", &p.DefaultRule.Active)
	setInt(inv, "pollinginterval", &p.PollingInterval)
	setBool(inv, "assign", &p.Assigned)
	if v, ok := inv.Get("mmsecmethods"); ok {
		p.MMOffers = v.MM
	}
	if p.MMPFS {
		p.QMPerMM = 1 // master PFS means one quick mode per main mode
	}
}

func (s *Session) addPolicy(inv *grammar.Invocation) error {
	p := store.NewPolicy(str(inv, "name"))
	applyPolicy(inv, &p)
	return s.update(func(st *store.State) error {
		_, err := st.AddPolicy(p)
		return err
	})
}

func (s *Session) addFilterList(inv *grammar.Invocation) error {
	fl := store.FilterList{Name: str(inv, "name"), Description: str(inv, "description")}
	return s.update(func(st *store.State) error {
		_, err := st.AddFilterList(fl)
		return err
	})
}

// filterSpec builds a filter from the selector tags, with the `add filter`
// defaults for the ones not given. DNS names are resolved when resolve is
// set (add filter); delete filter matches them by name and must not need
// them to resolve (fix: a filter whose name no longer resolved could not
// be deleted).
func (s *Session) filterSpec(inv *grammar.Invocation, resolve bool) (store.Filter, error) {
	addr := s.addr
	if !resolve {
		addr = func(inv *grammar.Invocation, tag string) (ipsec.Address, bool, error) {
			v, ok := inv.Get(tag)
			return v.Addr, ok, nil
		}
	}
	src, _, err := addr(inv, "srcaddr")
	if err != nil {
		return store.Filter{}, err
	}
	dst, _, err := addr(inv, "dstaddr")
	if err != nil {
		return store.Filter{}, err
	}
	f := store.NewFilter(src, dst)
	setStr(inv, "description", &f.Description)
	setBool(inv, "mirrored", &f.Mirrored)
	if v, ok := inv.Get("protocol"); ok {
		f.Protocol = v.Proto
	}
	if v, ok := inv.Get("srcmask"); ok {
		f.SrcMask = v.Mask
	}
	if v, ok := inv.Get("dstmask"); ok {
		f.DstMask = v.Mask
	}
	if v, ok := inv.Get("srcport"); ok {
		f.SrcPort = uint16(v.Int)
	}
	if v, ok := inv.Get("dstport"); ok {
		f.DstPort = uint16(v.Int)
	}
	return f, nil
}

func (s *Session) addFilter(inv *grammar.Invocation) error {
	f, err := s.filterSpec(inv, true)
	if err != nil {
		return err
	}
	return s.update(func(st *store.State) error { return st.AddFilter(str(inv, "filterlist"), f) })
}

func applyFilterAction(inv *grammar.Invocation, fa *store.FilterAction) {
	setStr(inv, "description", &fa.Description)
	setBool(inv, "qmpfs", &fa.QMPFS)
	setBool(inv, "inpass", &fa.InPass)
	setBool(inv, "soft", &fa.Soft)
	if v, ok := inv.Get("action"); ok {
		fa.Action = ipsec.Action(v.Int)
	}
	if v, ok := inv.Get("qmsecmethods"); ok {
		fa.Offers = v.QM
	}
}

func (s *Session) addFilterAction(inv *grammar.Invocation) error {
	fa := store.NewFilterAction(str(inv, "name"))
	applyFilterAction(inv, &fa)
	if fa.Action != ipsec.ActionNegotiate && !inv.Has("qmsecmethods") {
		// Security methods only matter to negotiate actions; a permit or
		// block action gets none unless they are given (as the built-in
		// Permit), so a dump replays to the same store.
		fa.Offers = nil
	}
	return s.update(func(st *store.State) error {
		_, err := st.AddFilterAction(fa)
		return err
	})
}

// applyRule sets the rule tags given on the line other than the filter
// list and filter action.
func (s *Session) applyRule(inv *grammar.Invocation, r *store.Rule) error {
	setStr(inv, "description", &r.Description)
	setBool(inv, "activate", &r.Active)
	if v, ok := inv.Get("conntype"); ok {
		r.ConnType = ipsec.ConnType(v.Int)
	}
	if a, ok, err := s.addr(inv, "tunnel"); err != nil {
		return err
	} else if ok {
		// tunnel=0.0.0.0 clears the tunnel end point (transport mode).
		if a.Kind == ipsec.AddrIP && a.IP == netip.IPv4Unspecified() {
			a = ipsec.Address{}
		}
		r.Tunnel = a
	}
	if auth, given := inv.Auth(); given {
		r.Auth = auth
	}
	return nil
}

func (s *Session) addRule(inv *grammar.Invocation) error {
	r := store.NewRule(str(inv, "name"))
	if err := s.applyRule(inv, &r); err != nil {
		return err
	}
	return s.update(func(st *store.State) error {
		_, err := st.AddRule(str(inv, "policy"), str(inv, "filterlist"), str(inv, "filteraction"), r)
		return err
	})
}

// byNameOrGUID looks an object up by the identifying tag given.
func byNameOrGUID[T any](inv *grammar.Invocation, byName func(string) (T, error), byGUID func(store.GUID) (T, error)) (T, error) {
	if v, ok := inv.Get("guid"); ok {
		return byGUID(store.GUID(v.Str))
	}
	return byName(str(inv, "name"))
}

func (s *Session) setPolicy(inv *grammar.Invocation) error {
	return s.update(func(st *store.State) error {
		p, err := byNameOrGUID(inv, st.Policy, st.PolicyByGUID)
		if err != nil {
			return err
		}
		setStr(inv, "newname", &p.Name)
		applyPolicy(inv, &p)
		return st.PutPolicy(p)
	})
}

func (s *Session) setFilterList(inv *grammar.Invocation) error {
	return s.update(func(st *store.State) error {
		fl, err := byNameOrGUID(inv, st.FilterList, st.FilterListByGUID)
		if err != nil {
			return err
		}
		setStr(inv, "newname", &fl.Name)
		setStr(inv, "description", &fl.Description)
		return st.PutFilterList(fl)
	})
}

func (s *Session) setFilterAction(inv *grammar.Invocation) error {
	return s.update(func(st *store.State) error {
		fa, err := byNameOrGUID(inv, st.FilterAction, st.FilterActionByGUID)
		if err != nil {
			return err
		}
		setStr(inv, "newname", &fa.Name)
		applyFilterAction(inv, &fa)
		return st.PutFilterAction(fa)
	})
}

func (s *Session) setRule(inv *grammar.Invocation) error {
	policy := str(inv, "policy")
	return s.update(func(st *store.State) error {
		var r store.Rule
		var err error
		if v, ok := inv.Get("id"); ok {
			r, err = st.RuleByID(policy, int(v.Int))
		} else {
			r, err = st.Rule(policy, str(inv, "name"))
		}
		if err != nil {
			return err
		}
		setStr(inv, "newname", &r.Name)
		if err := s.applyRule(inv, &r); err != nil {
			return err
		}
		if v, ok := inv.Get("filterlist"); ok {
			fl, err := st.FilterList(v.Str)
			if err != nil {
				return err
			}
			r.FilterList = fl.GUID
		}
		if v, ok := inv.Get("filteraction"); ok {
			fa, err := st.FilterAction(v.Str)
			if err != nil {
				return err
			}
			r.FilterAction = fa.GUID
		}
		return st.PutRule(policy, r)
	})
}

func (s *Session) setDefaultRule(inv *grammar.Invocation) error {
	policy := str(inv, "policy")
	return s.update(func(st *store.State) error {
		r, err := st.DefaultRule(policy)
		if err != nil {
			return err
		}
		setBool(inv, "qmpfs", &r.QMPFS)
		setBool(inv, "activate", &r.Active)
		if v, ok := inv.Get("qmsecmethods"); ok {
			r.QMOffers = v.QM
		}
		if auth, given := inv.Auth(); given {
			r.Auth = auth
		}
		return st.PutDefaultRule(policy, r)
	})
}

func (s *Session) setStore(inv *grammar.Invocation) error {
	v, _ := inv.Get("location")
	loc := map[int64]store.Location{
		grammar.StoreLocal: store.Local, grammar.StorePersistent: store.Persistent, grammar.StoreDomain: store.Domain,
	}[v.Int]
	if loc == store.Domain {
		// Fails with the store's own "not configured" error until the
		// domain store exists; the current store stays.
		if err := s.cfg.Store.View(loc, func(*store.State) error { return nil }); err != nil {
			return err
		}
	}
	if s.batch && loc != s.loc {
		if err := s.cfg.Store.Flush(); err != nil {
			return err
		}
		if err := s.cfg.Store.BeginBatch(loc); err != nil {
			return err
		}
	}
	s.loc = loc
	return nil
}

func (s *Session) setBatch(inv *grammar.Invocation) error {
	v, _ := inv.Get("mode")
	enable := v.Int == 1
	switch {
	case enable && !s.batch:
		if err := s.cfg.Store.BeginBatch(s.loc); err != nil {
			return err
		}
		s.batch = true
	case !enable && s.batch:
		s.batch = false
		return s.cfg.Store.Flush()
	}
	return nil
}

func (s *Session) deleteAll(*grammar.Invocation) error {
	return s.update(func(st *store.State) error {
		st.DeleteAll()
		return nil
	})
}

func (s *Session) deletePolicy(inv *grammar.Invocation) error {
	return s.update(func(st *store.State) error {
		if inv.Keyword == "all" {
			st.DeleteAllPolicies()
			return nil
		}
		return st.DeletePolicy(str(inv, "name"))
	})
}

// refusals reports the objects `delete ... all` had to keep; the deletion
// of the others is still written.
func (s *Session) refusals(refused []*store.Error) error {
	errs := make([]error, len(refused))
	for i, r := range refused {
		errs[i] = r
	}
	return errors.Join(errs...)
}

func (s *Session) deleteFilterList(inv *grammar.Invocation) error {
	var refused []*store.Error
	err := s.update(func(st *store.State) error {
		if inv.Keyword == "all" {
			refused = st.DeleteAllFilterLists()
			return nil
		}
		return st.DeleteFilterList(str(inv, "name"))
	})
	if err != nil {
		return err
	}
	return s.refusals(refused)
}

func (s *Session) deleteFilterAction(inv *grammar.Invocation) error {
	var refused []*store.Error
	err := s.update(func(st *store.State) error {
		if inv.Keyword == "all" {
			refused = st.DeleteAllFilterActions()
			return nil
		}
		return st.DeleteFilterAction(str(inv, "name"))
	})
	if err != nil {
		return err
	}
	return s.refusals(refused)
}

func (s *Session) deleteFilter(inv *grammar.Invocation) error {
	spec, err := s.filterSpec(inv, false)
	if err != nil {
		return err
	}
	return s.update(func(st *store.State) error {
		_, err := st.DeleteFilter(str(inv, "filterlist"), spec)
		return err
	})
}

func (s *Session) deleteRule(inv *grammar.Invocation) error {
	policy := str(inv, "policy")
	return s.update(func(st *store.State) error {
		if inv.Keyword == "all" {
			_, err := st.DeleteAllRules(policy)
			return err
		}
		if v, ok := inv.Get("id"); ok {
			return st.DeleteRuleByID(policy, int(v.Int))
		}
		return st.DeleteRule(policy, str(inv, "name"))
	})
}

func (s *Session) exportPolicy(inv *grammar.Invocation) error {
	name := str(inv, "file")
	f, err := s.cfg.Create(name)
	if err != nil {
		// The 05092/05093 texts have no verb: the file name travels in
		// the cause (fixed: passing name printed "%!(EXTRA string=...)").
		return store.WithCause(store.CodeExportFile, err)
	}
	if err := s.cfg.Store.Export(s.loc, f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return store.WithCause(store.CodeExportFile, err)
	}
	return nil
}

func (s *Session) importPolicy(inv *grammar.Invocation) error {
	name := str(inv, "file")
	f, err := s.cfg.Open(name)
	if err != nil {
		return store.WithCause(store.CodeImportFile, err) // no verb: see exportPolicy
	}
	defer f.Close()
	return s.cfg.Store.Import(s.loc, f)
}
