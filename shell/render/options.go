package render

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

// Options says how a show command renders. The zero value renders the list
// format of the local store, normal level, with narrow (wide=no) tables;
// the shell sets Wide unless the user typed wide=no, as netsh's default is
// wide=yes.
type Options struct {
	Host     string         // computer name on Store and Source Machine lines
	Location store.Location // store shown on Store lines; 0 means store.Local
	Domain   string         // domain name of the Domain store
	Format   int            // grammar.FormatList (or 0), grammar.FormatTable, grammar.FormatJSON
	Verbose  bool           // level=verbose
	Wide     bool           // wide=yes; false truncates table cells to fit 80 columns
	All      bool           // the selection was `all`: list and table output end with a count line
	TimeZone *time.Location // zone of Last Modified; nil prints the time in the zone it carries
}

// DefaultRuleID is the rule ID printed for the default response rule in
// every format.
const DefaultRuleID = 0

// TimeLayout is the Last Modified format: US English short date and long
// time (reference 5.0 recommends pinning this locale).
const TimeLayout = "1/2/2006 3:04:05 PM"

// labelWidth is the column width of list labels (printf "%-23s: %s").
const labelWidth = 23

// out accumulates output; functions write it to the caller's writer once.
type out struct{ bytes.Buffer }

func (b *out) field(label, value string) { fmt.Fprintf(b, "%-*s: %s\n", labelWidth, label, value) }
func (b *out) line(s string)             { b.WriteString(s); b.WriteByte('\n') }
func (b *out) blank()                    { b.WriteByte('\n') }

func (b *out) flush(w io.Writer) error {
	_, err := w.Write(b.Bytes())
	return err
}

func yesNo(v bool) string {
	if v {
		return "YES"
	}
	return "NO"
}

func orNone(s string) string {
	if s == "" {
		return "NONE"
	}
	return s
}

func (o Options) stamp(t time.Time) string {
	if o.TimeZone != nil {
		t = t.In(o.TimeZone)
	}
	return t.Format(TimeLayout)
}

func (o Options) location() store.Location {
	if o.Location == 0 {
		return store.Local
	}
	return o.Location
}

// storeKind is the store's display name without the computer or domain.
func (o Options) storeKind() string {
	switch o.location() {
	case store.Persistent:
		return "Persistent Store"
	case store.Domain:
		return "Domain Store"
	}
	return "Local Store"
}

// storeName is the value of the Store line: "Local Store HOST",
// "Persistent Store HOST" or "Domain Store <domain>".
func (o Options) storeName() string {
	who := o.Host
	if o.location() == store.Domain {
		who = o.Domain
	}
	return strings.TrimSpace(o.storeKind() + " " + who)
}

func actionName(a ipsec.Action) string {
	switch a {
	case ipsec.ActionPermit:
		return "PERMIT"
	case ipsec.ActionBlock:
		return "BLOCK"
	case ipsec.ActionNegotiate:
		return "NEGOTIATE SECURITY"
	}
	return strings.ToUpper(a.String())
}

func connName(c ipsec.ConnType) string {
	switch c {
	case ipsec.ConnLAN:
		return "LAN"
	case ipsec.ConnDialup:
		return "DIAL UP"
	}
	return "ALL"
}

func findFilterList(st *store.State, g store.GUID) *store.FilterList {
	if st == nil {
		return nil
	}
	for i := range st.FilterLists {
		if st.FilterLists[i].GUID == g {
			return &st.FilterLists[i]
		}
	}
	return nil
}

func findFilterAction(st *store.State, g store.GUID) *store.FilterAction {
	if st == nil {
		return nil
	}
	for i := range st.FilterActions {
		if st.FilterActions[i].GUID == g {
			return &st.FilterActions[i]
		}
	}
	return nil
}

// Names printed for the default response rule's references.
const (
	dynamicList   = "<Dynamic>"
	defaultAction = "Default Response"
)

// filterListName is the name a rule's filter list shows under; a dangling
// reference shows its GUID.
func filterListName(st *store.State, r *store.Rule) string {
	if r.Default {
		return dynamicList
	}
	if fl := findFilterList(st, r.FilterList); fl != nil {
		return fl.Name
	}
	return string(r.FilterList)
}

func filterActionName(st *store.State, r *store.Rule) string {
	if r.Default {
		return defaultAction
	}
	if fa := findFilterAction(st, r.FilterAction); fa != nil {
		return fa.Name
	}
	return string(r.FilterAction)
}

func ruleID(r *store.Rule) int {
	if r.Default {
		return DefaultRuleID
	}
	return r.ID
}

// policyRules returns p's rules followed by its default response rule.
func policyRules(p *store.Policy) []store.Rule {
	out := make([]store.Rule, 0, len(p.Rules)+1)
	out = append(out, p.Rules...)
	d := p.DefaultRule
	d.Default = true
	return append(out, d)
}
