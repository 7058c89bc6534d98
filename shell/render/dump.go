package render

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

// ErrUnrepresentable is returned by Dump when a value cannot be written as
// a netsh argument that reads back as the same value: a double quote or a
// line break anywhere but in a root CA name, or a literal `\'` in a root
// CA name (the grammar has no escape for either).
var ErrUnrepresentable = errors.New("render: value cannot be written as a netsh argument")

// Dump writes st as a script that rebuilds it when run with `netsh -f` from
// the root context (or with `exec`):
//
//	<blank line>
//	# ----------------------------------
//	# IPsec Static Configuration
//	# ----------------------------------
//	pushd ipsec static
//	set store location=<loc>
//	delete all
//	<blank line>
//	add filterlist ... then its add filter lines, per list
//	<blank line>
//	add filteraction ... per action
//	<blank line, per policy>
//	add policy ... assign=no, its add rule lines, its set defaultrule
//	<blank line>
//	set policy name=<assigned policy> assign=yes      (when one is assigned)
//	<blank line>
//	popd
//	# End of IPsec Static configuration
//	<blank line>
//
// `delete all` comes first because the target store already holds objects
// (at least the built-in policies, lists and actions, which st repeats if
// it still holds them): the script replaces the whole store instead of
// colliding with existing names. Every tag is written explicitly, in the
// grammar's usage order, so the script does not depend on defaults:
// masks as prefix lengths, ports as numbers, protocol by name or number,
// kerberos=no for an empty authentication list, mmsecmethods and
// qmsecmethods only when non-empty (a permit or block action may still hold
// offers, which netsh keeps but ignores) (an empty list does not parse), tunnel
// only when set (there is no way to write "no tunnel"). A value is
// double-quoted when it is empty or contains white space or `=`; root CA
// values are always quoted, with `"` written as `\'`.
//
// What the grammar cannot carry and the replay therefore does not restore:
// GUIDs and Last Modified times (new ones are made), rule IDs when a
// policy's rule IDs are not 1..n in order (add rule takes the next free
// ID), and the name and description of default response rules. Values that
// would not read back unchanged make Dump fail with ErrUnrepresentable
// before anything is written.
func Dump(w io.Writer, st *store.State, loc store.Location) error {
	if st == nil {
		st = &store.State{}
	}
	if loc == 0 {
		loc = store.Local
	}
	d := dumper{st: st}
	d.line("")
	d.line("# ----------------------------------")
	d.line("# IPsec Static Configuration")
	d.line("# ----------------------------------")
	d.line("pushd ipsec static")
	d.line("set store location=" + loc.String())
	d.line("delete all")
	for i := range st.FilterLists {
		d.filterList(&st.FilterLists[i])
	}
	if len(st.FilterActions) > 0 {
		d.line("")
	}
	for i := range st.FilterActions {
		d.filterAction(&st.FilterActions[i])
	}
	var assigned *store.Policy
	for i := range st.Policies {
		p := &st.Policies[i]
		d.policy(p)
		if p.Assigned && assigned == nil {
			assigned = p
		}
	}
	if assigned != nil {
		d.line("")
		d.cmd("set policy", "name", d.quote(assigned.Name), "assign", "yes")
	}
	d.line("")
	d.line("popd")
	d.line("# End of IPsec Static configuration")
	d.line("")
	if d.err != nil {
		return d.err
	}
	return d.b.flush(w)
}

type dumper struct {
	st  *store.State
	b   out
	err error // first ErrUnrepresentable
}

func (d *dumper) line(s string) { d.b.line(s) }

// cmd writes words followed by tag=value pairs (kv alternates tag, value).
func (d *dumper) cmd(words string, kv ...string) {
	var s strings.Builder
	s.WriteString(words)
	for i := 0; i+1 < len(kv); i += 2 {
		s.WriteString(" " + kv[i] + "=" + kv[i+1])
	}
	d.line(s.String())
}

// quote returns v as one netsh argument value.
func (d *dumper) quote(v string) string {
	if strings.ContainsAny(v, "\"\r\n") {
		d.fail(v)
		return v
	}
	if v == "" || strings.ContainsAny(v, " \t\f\v=") {
		return `"` + v + `"`
	}
	return v
}

func (d *dumper) fail(v string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %q", ErrUnrepresentable, v)
	}
}

func (d *dumper) filterList(fl *store.FilterList) {
	d.line("")
	name := d.quote(fl.Name)
	d.cmd("add filterlist", "name", name, "description", d.quote(fl.Description))
	for _, f := range fl.Filters {
		d.cmd("add filter",
			"filterlist", name,
			"srcaddr", d.quote(f.Src.String()),
			"dstaddr", d.quote(f.Dst.String()),
			"description", d.quote(f.Description),
			"protocol", f.Protocol.String(),
			"mirrored", yn(f.Mirrored),
			"srcmask", strconv.Itoa(int(f.SrcMask)),
			"dstmask", strconv.Itoa(int(f.DstMask)),
			"srcport", strconv.Itoa(int(f.SrcPort)),
			"dstport", strconv.Itoa(int(f.DstPort)))
	}
}

func (d *dumper) filterAction(fa *store.FilterAction) {
	kv := []string{
		"name", d.quote(fa.Name),
		"description", d.quote(fa.Description),
		"qmpfs", yn(fa.QMPFS),
		"inpass", yn(fa.InPass),
		"soft", yn(fa.Soft),
		"action", fa.Action.String(),
	}
	if len(fa.Offers) > 0 {
		kv = append(kv, "qmsecmethods", d.quote(strings.Join(qmStrings(fa.Offers), " ")))
	}
	d.cmd("add filteraction", kv...)
}

func (d *dumper) policy(p *store.Policy) {
	d.line("")
	name := d.quote(p.Name)
	kv := []string{
		"name", name,
		"description", d.quote(p.Description),
		"mmpfs", yn(p.MMPFS),
		"qmpermm", strconv.Itoa(p.QMPerMM),
		"mmlifetime", strconv.Itoa(p.MMLifetime),
		"activatedefaultrule", yn(p.DefaultRule.Active),
		"pollinginterval", strconv.Itoa(p.PollingInterval),
		"assign", "no",
	}
	if len(p.MMOffers) > 0 {
		kv = append(kv, "mmsecmethods", d.quote(strings.Join(mmStrings(p.MMOffers), " ")))
	}
	d.cmd("add policy", kv...)
	for i := range p.Rules {
		d.rule(name, &p.Rules[i])
	}
	dr := &p.DefaultRule
	kv = []string{
		"policy", name,
		"qmpfs", yn(dr.QMPFS),
		"activate", yn(dr.Active),
	}
	if len(dr.QMOffers) > 0 {
		kv = append(kv, "qmsecmethods", d.quote(strings.Join(qmStrings(dr.QMOffers), " ")))
	}
	d.cmd("set defaultrule", append(kv, d.auth(dr.Auth)...)...)
}

func (d *dumper) rule(policy string, r *store.Rule) {
	fl := findFilterList(d.st, r.FilterList)
	fa := findFilterAction(d.st, r.FilterAction)
	if fl == nil || fa == nil {
		if d.err == nil {
			d.err = fmt.Errorf("render: rule %q refers to a filter list or filter action not in the store", r.Name)
		}
		return
	}
	kv := []string{
		"name", d.quote(r.Name),
		"policy", policy,
		"filterlist", d.quote(fl.Name),
		"filteraction", d.quote(fa.Name),
	}
	if r.Tunnel.IsValid() {
		kv = append(kv, "tunnel", d.quote(r.Tunnel.String()))
	}
	conn := r.ConnType
	if conn == 0 {
		conn = ipsec.ConnAll
	}
	kv = append(kv,
		"conntype", conn.String(),
		"activate", yn(r.Active),
		"description", d.quote(r.Description))
	d.cmd("add rule", append(kv, d.auth(r.Auth)...)...)
}

// auth returns the tag/value pairs of an authentication list in
// preference order; kerberos=no stands for an empty list.
func (d *dumper) auth(auth []ipsec.AuthMethod) []string {
	if len(auth) == 0 {
		return []string{"kerberos", "no"}
	}
	var kv []string
	for _, a := range auth {
		switch a.Kind {
		case ipsec.AuthKerberos:
			kv = append(kv, "kerberos", "yes")
		case ipsec.AuthPSK:
			kv = append(kv, "psk", d.quote(a.PSK))
		case ipsec.AuthRootCA:
			kv = append(kv, "rootca", d.rootCA(a))
		}
	}
	return kv
}

// rootCA is the quoted rootca value: `"<DN> certmap:yes|no
// excludecaname:yes|no"` with `"` in the DN written `\'`. A DN that would
// not read back unchanged (a literal `\'`, outer white space, a trailing
// word that looks like an option) is unrepresentable.
func (d *dumper) rootCA(a ipsec.AuthMethod) string {
	inner := fmt.Sprintf("%s certmap:%s excludecaname:%s",
		strings.ReplaceAll(a.CA, `"`, `\'`), yn(a.CertMap), yn(a.ExcludeCAName))
	back, err := grammar.ParseRootCA(inner)
	if err != nil || back != a || strings.Contains(a.CA, `\'`) || strings.ContainsAny(a.CA, "\r\n") {
		d.fail(a.CA)
	}
	return `"` + inner + `"`
}
