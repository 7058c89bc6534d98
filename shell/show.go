package shell

import (
	"bytes"

	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/store"

	"github.com/gonetsh/gonetsh/shell/render"
)

// showHandlers are the `ipsec static show` commands and dump. They read one
// snapshot of the current store; render does the layout.
var showHandlers = map[string]handler{
	"static.show.policy":            (*Session).showPolicy,
	"static.show.filterlist":        (*Session).showFilterList,
	"static.show.filteraction":      (*Session).showFilterAction,
	"static.show.rule":              (*Session).showRule,
	"static.show.all":               (*Session).showAll,
	"static.show.store":             (*Session).showStore,
	"static.show.gpoassignedpolicy": (*Session).showGPO,
}

// options converts the format, level and wide tags; netsh's defaults are
// list, normal and wide=yes.
func (s *Session) options(inv *grammar.Invocation) render.Options {
	o := render.Options{Host: s.cfg.Host, Location: s.loc, Format: grammar.FormatList, Wide: true,
		All: inv.Keyword == "all", TimeZone: s.cfg.TimeZone}
	if v, ok := inv.Get("format"); ok {
		o.Format = int(v.Int)
	}
	if v, ok := inv.Get("level"); ok {
		o.Verbose = v.Int == grammar.LevelVerbose
	}
	setBool(inv, "wide", &o.Wide)
	return o
}

// show runs fn on a snapshot and writes what it rendered only when it
// succeeded, so an error never leaves half a listing.
func (s *Session) show(fn func(st *store.State, w *bytes.Buffer) error) error {
	var buf bytes.Buffer
	if err := s.view(func(st *store.State) error { return fn(st, &buf) }); err != nil {
		return err
	}
	_, err := s.cfg.Out.Write(buf.Bytes())
	return err
}

func (s *Session) showPolicy(inv *grammar.Invocation) error {
	return s.show(func(st *store.State, w *bytes.Buffer) error {
		pols := st.Policies
		if inv.Keyword != "all" {
			p, err := st.Policy(str(inv, "name"))
			if err != nil {
				return err
			}
			pols = []store.Policy{p}
		} else if len(pols) == 0 {
			return store.NewError(store.CodeNoPolicies)
		}
		return render.Policies(w, st, pols, s.options(inv))
	})
}

// ruleUser finds the first rule of any policy called name.
func ruleUser(st *store.State, name string) (store.Rule, error) {
	for _, p := range st.Policies {
		if r, err := st.Rule(p.Name, name); err == nil {
			return r, nil
		}
	}
	return store.Rule{}, store.NewError(store.CodeRuleNotFound, name, "any policy")
}

func (s *Session) showFilterList(inv *grammar.Invocation) error {
	return s.show(func(st *store.State, w *bytes.Buffer) error {
		lists := st.FilterLists
		switch {
		case inv.Has("rule"):
			r, err := ruleUser(st, str(inv, "rule"))
			if err != nil {
				return err
			}
			l, err := st.FilterListByGUID(r.FilterList)
			if err != nil {
				return err
			}
			lists = []store.FilterList{l}
		case inv.Keyword != "all":
			l, err := st.FilterList(str(inv, "name"))
			if err != nil {
				return err
			}
			lists = []store.FilterList{l}
		case len(lists) == 0:
			return store.NewError(store.CodeNoFilterLists)
		}
		return render.FilterLists(w, lists, s.options(inv))
	})
}

func (s *Session) showFilterAction(inv *grammar.Invocation) error {
	return s.show(func(st *store.State, w *bytes.Buffer) error {
		acts := st.FilterActions
		switch {
		case inv.Has("rule"):
			r, err := ruleUser(st, str(inv, "rule"))
			if err != nil {
				return err
			}
			a, err := st.FilterActionByGUID(r.FilterAction)
			if err != nil {
				return err
			}
			acts = []store.FilterAction{a}
		case inv.Keyword != "all":
			a, err := st.FilterAction(str(inv, "name"))
			if err != nil {
				return err
			}
			acts = []store.FilterAction{a}
		case len(acts) == 0:
			return store.NewError(store.CodeNoFilterActions)
		}
		return render.FilterActions(w, acts, s.options(inv))
	})
}

func (s *Session) showRule(inv *grammar.Invocation) error {
	policy := str(inv, "policy")
	return s.show(func(st *store.State, w *bytes.Buffer) error {
		p, err := st.Policy(policy)
		if err != nil {
			return err
		}
		var rules []store.Rule
		switch {
		case inv.Keyword == "all":
			rules = append(append(rules, p.Rules...), p.DefaultRule)
		case inv.Keyword == "default":
			rules = []store.Rule{p.DefaultRule}
		case inv.Has("id"):
			v, _ := inv.Get("id")
			if v.Int == render.DefaultRuleID {
				rules = []store.Rule{p.DefaultRule}
			} else {
				r, err := st.RuleByID(policy, int(v.Int))
				if err != nil {
					return err
				}
				rules = []store.Rule{r}
			}
		default:
			r, err := st.Rule(policy, str(inv, "name"))
			if err != nil {
				return err
			}
			rules = []store.Rule{r}
		}
		if v, ok := inv.Get("type"); ok {
			tunnel := v.Int == grammar.RuleTunnel
			kept := rules[:0]
			for _, r := range rules {
				if r.Tunnel.IsValid() == tunnel {
					kept = append(kept, r)
				}
			}
			rules = kept
		}
		return render.Rules(w, st, &p, rules, s.options(inv))
	})
}

func (s *Session) showAll(inv *grammar.Invocation) error {
	return s.show(func(st *store.State, w *bytes.Buffer) error {
		return render.All(w, st, s.options(inv))
	})
}

func (s *Session) showStore(inv *grammar.Invocation) error {
	return render.Store(s.cfg.Out, s.options(inv))
}

func (s *Session) showGPO(inv *grammar.Invocation) error {
	if inv.Has("name") {
		// Group policy objects live in the domain store.
		return store.NewError(store.CodeDomainStore)
	}
	var buf bytes.Buffer
	err := s.cfg.Store.View(store.Local, func(st *store.State) error {
		return render.GPOAssignedPolicy(&buf, st, s.options(inv))
	})
	if err != nil {
		return err
	}
	_, err = s.cfg.Out.Write(buf.Bytes())
	return err
}

// dump prints a script that rebuilds the current store (`dump` at the
// netsh, ipsec and ipsec static levels).
func (s *Session) dump(*grammar.Invocation) error {
	return s.show(func(st *store.State, w *bytes.Buffer) error {
		return render.Dump(w, st, s.loc)
	})
}
