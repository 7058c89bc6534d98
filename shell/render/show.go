package render

import (
	"io"

	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/store"
)

// The show functions take the objects the command selected, in the order
// to print them; the shell does the selecting (name, rule=, all, type=).
// st supplies the filter lists and filter actions that rules refer to by
// GUID. An unknown Format prints the list format.

// FilterLists writes `show filterlist`.
func FilterLists(w io.Writer, lists []store.FilterList, o Options) error {
	var b out
	switch o.Format {
	case grammar.FormatJSON:
		return writeJSON(w, jsonFilterLists{FilterLists: toJSONFilterLists(lists)})
	case grammar.FormatTable:
		filterListTable(&b, lists, o)
	default:
		for i := range lists {
			b.blank()
			filterListBlock(&b, &lists[i], o, o.Verbose)
		}
	}
	countLine(&b, o, "No. of FilterLists", len(lists))
	return b.flush(w)
}

// FilterActions writes `show filteraction`.
func FilterActions(w io.Writer, acts []store.FilterAction, o Options) error {
	var b out
	switch o.Format {
	case grammar.FormatJSON:
		return writeJSON(w, jsonFilterActions{FilterActions: toJSONFilterActions(acts)})
	case grammar.FormatTable:
		filterActionTable(&b, acts, o)
	default:
		for i := range acts {
			b.blank()
			filterActionBlock(&b, &acts[i], o, o.Verbose)
		}
	}
	countLine(&b, o, "No. of FilterActions", len(acts))
	return b.flush(w)
}

// Policies writes `show policy`. At level=verbose each policy is followed
// by its rules and its default response rule.
func Policies(w io.Writer, st *store.State, pols []store.Policy, o Options) error {
	var b out
	switch o.Format {
	case grammar.FormatJSON:
		return writeJSON(w, jsonPolicies{Policies: toJSONPolicies(st, pols)})
	case grammar.FormatTable:
		policyTable(&b, st, pols, o)
	default:
		for i := range pols {
			if o.Verbose {
				policyVerbose(&b, st, &pols[i], o)
				continue
			}
			b.blank()
			policyBlock(&b, &pols[i], o)
		}
	}
	countLine(&b, o, "No. of Policies", len(pols))
	return b.flush(w)
}

// Rules writes `show rule` for rules of policy pol. A rule with Default set
// prints as the default response rule (ID DefaultRuleID, <Dynamic>,
// Default Response); pass pol.DefaultRule with Default set to show it.
func Rules(w io.Writer, st *store.State, pol *store.Policy, rules []store.Rule, o Options) error {
	var b out
	switch o.Format {
	case grammar.FormatJSON:
		name := ""
		if pol != nil {
			name = pol.Name
		}
		return writeJSON(w, jsonRules{Policy: name, Rules: toJSONRules(st, rules)})
	case grammar.FormatTable:
		ruleTable(&b, st, rules, o)
	default:
		for i := range rules {
			b.blank()
			ruleBlock(&b, st, &rules[i], o, o.Verbose)
		}
	}
	countLine(&b, o, "No. of Rules", len(rules))
	return b.flush(w)
}

// All writes `show all`: every policy with its rules, then every filter
// list with its filters, then every filter action with its methods. Only
// o.Format, o.Wide, the store and the time zone matter.
func All(w io.Writer, st *store.State, o Options) error {
	if st == nil {
		st = &store.State{}
	}
	if o.Format == grammar.FormatJSON {
		return writeJSON(w, jsonAll{
			Store:         toJSONStore(o),
			Policies:      toJSONPolicies(st, st.Policies),
			FilterLists:   toJSONFilterLists(st.FilterLists),
			FilterActions: toJSONFilterActions(st.FilterActions),
		})
	}
	o.Verbose, o.All = true, false
	var b out
	if o.Format == grammar.FormatTable {
		policyTable(&b, st, st.Policies, o)
		filterListTable(&b, st.FilterLists, o)
		filterActionTable(&b, st.FilterActions, o)
		return b.flush(w)
	}
	for i := range st.Policies {
		policyVerbose(&b, st, &st.Policies[i], o)
	}
	for i := range st.FilterLists {
		b.blank()
		filterListBlock(&b, &st.FilterLists[i], o, true)
	}
	for i := range st.FilterActions {
		b.blank()
		filterActionBlock(&b, &st.FilterActions[i], o, true)
	}
	return b.flush(w)
}

// Store writes `show store`: "The Current IPsec Store is Local Store"
// (or Persistent Store, or Domain Store <o.Domain>).
func Store(w io.Writer, o Options) error {
	var b out
	name := o.storeKind()
	if o.location() == store.Domain && o.Domain != "" {
		name += " " + o.Domain
	}
	b.line("The Current IPsec Store is " + name)
	return b.flush(w)
}

// localPolicyKey is where Windows keeps local-store policies in the
// registry; Local Policy DN shows it for the assigned policy.
const localPolicyKey = `SOFTWARE\Policies\Microsoft\Windows\IPSec\Policy\Local\ipsecPolicy`

// GPOAssignedPolicy writes `show gpoassignedpolicy` in the shape of a
// computer that is not in a domain: the local GPO of o.Host and the policy
// assigned in the local store local (NONE when none is). There is never an
// Active Directory policy.
func GPOAssignedPolicy(w io.Writer, local *store.State, o Options) error {
	var assigned *store.Policy
	if local != nil {
		for i := range local.Policies {
			if local.Policies[i].Assigned {
				assigned = &local.Policies[i]
				break
			}
		}
	}
	name, dn, yes := "NONE", "NONE", "No"
	if assigned != nil {
		name, dn, yes = assigned.Name, localPolicyKey+string(assigned.GUID), "Yes"
	}
	var b out
	b.blank()
	b.field("Source Machine", "Local Computer GPO ("+o.Host+")")
	b.field("GPO Name", "Local Computer Policy")
	b.field("Local IPsec Policy Name", name)
	b.field("Local Policy DN", dn)
	b.field("Local Policy Assigned", yes)
	b.field("AD IPsec Policy Name", "NONE")
	b.field("AD Policy DN", "NONE")
	return b.flush(w)
}
