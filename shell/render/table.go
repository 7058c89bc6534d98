package render

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gonetsh/gonetsh/store"
)

// Table format (format=table). Reference 5.0 confirms only that rows are
// TAB-separated, space-padded cells and which cells come first; everything
// else here is this package's choice:
//
//	<blank line>
//	<column titles>                       one line; the filter table has two
//	<dashes per column, joined by spaces>
//	<row>                                 one per object; two per filter
//	[<blank line> No. of <Objects> : <n>] when Options.All
//
// Every cell but the last of a line is padded with spaces to its column
// width, always 8k-1 (7, 15, 23, ...), and followed by one TAB, which then
// advances exactly one column on 8-column tab stops; the last cell is not
// padded. A column is as wide as its widest cell or title.
//
// wide=no: while a row would be wider than 80 columns, the widest column
// (the leftmost of equals) is narrowed by 8, not below 7; the last column
// then takes the room left, up to its natural width. Cells and titles longer
// than their column are cut, without a marker. wide=yes never truncates.
//
// Columns:
//
//	filter lists:   FilterList Name | Filters | Last Modified
//	filter actions: FilterAction Name | Action | Last Modified
//	policies:       Policy Name | Rules | Assigned | Last Modified
//	rules:          ID | Name | FilterList | FilterAction | Active
//
// (short rule titles keep the built-in policies' rule tables within 80
// columns without truncation)
//
// "Rules" counts the default response rule, Assigned is YES/NO, Action is
// PERMIT, BLOCK or NEGOTIATE SECURITY.
//
// level=verbose for filter lists prints, per list, a blank line, the list
// lines "FilterList Name" and "No. of Filters" in list format, a blank line
// and a filter table with two physical lines per filter (none for an empty
// list):
//
//	Proto | Source      | Mask | Port | Mirrored        (source line)
//	      | Destination | Mask | Port | Description     (destination line)
//
// so the source address is cell index 1 of the first line (reference 5.0).
// level=verbose for policies likewise prints, per policy, "Policy Name" and
// "No. of Rules" and a rule table of its rules and default response rule.
// Filter action and rule tables do not change with the level.

// maxWidth is the widest row wide=no allows.
const maxWidth = 80

type table struct {
	head [][]string // title lines
	rows [][]string // physical lines
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// tabWidth is the smallest 8k-1 >= n, at least 7.
func tabWidth(n int) int {
	if n < 7 {
		return 7
	}
	return (n+1+7)/8*8 - 1
}

func cut(s string, n int) string {
	if runes(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

func (t *table) widths(wide bool) []int {
	n := 0
	lines := append(append([][]string{}, t.head...), t.rows...)
	for _, l := range lines {
		n = max(n, len(l))
	}
	w := make([]int, n)
	for _, l := range lines {
		for i, c := range l {
			w[i] = max(w[i], runes(c))
		}
	}
	for i := 0; i < n-1; i++ {
		w[i] = tabWidth(w[i])
	}
	if !wide {
		fit(w)
	}
	return w
}

// fit narrows w until a row is at most maxWidth columns wide: the widest
// column (the leftmost of equals) loses 8 columns at a time; the last one
// then gets all the room left, up to its natural width.
func fit(w []int) {
	last := len(w) - 1
	lead := func() int {
		s := 0
		for _, x := range w[:last] {
			s += x + 1
		}
		return s
	}
	natural := w[last]
	defer func() { w[last] = max(w[last], min(natural, maxWidth-lead())) }()
	for lead()+w[last] > maxWidth {
		j := -1
		for i := range w {
			if w[i] > 7 && (j < 0 || w[i] > w[j]) {
				j = i
			}
		}
		switch {
		case j < 0:
			w[last] = max(0, maxWidth-lead())
			return
		case j == last:
			w[last] = max(w[last]-8, maxWidth-lead(), 7)
		default:
			w[j] -= 8
		}
	}
}

func (t *table) write(b *out, wide bool) {
	w := t.widths(wide)
	if len(w) == 0 {
		return
	}
	for _, l := range t.head {
		writeRow(b, l, w)
	}
	dashes := make([]string, len(w))
	for i, x := range w {
		dashes[i] = strings.Repeat("-", x)
	}
	b.line(strings.Join(dashes, " "))
	for _, l := range t.rows {
		writeRow(b, l, w)
	}
}

func writeRow(b *out, cells []string, w []int) {
	for i, x := range w {
		c := ""
		if i < len(cells) {
			c = cut(cells[i], x)
		}
		b.WriteString(c)
		if i < len(w)-1 {
			b.WriteString(strings.Repeat(" ", x-runes(c)))
			b.WriteByte('\t')
		}
	}
	b.WriteByte('\n')
}

func filterListTable(b *out, lists []store.FilterList, o Options) {
	if o.Verbose {
		for i := range lists {
			filterTable(b, &lists[i], o)
		}
		return
	}
	t := table{head: [][]string{{"FilterList Name", "Filters", "Last Modified"}}}
	for _, fl := range lists {
		t.rows = append(t.rows, []string{fl.Name, strconv.Itoa(len(fl.Filters)), o.stamp(fl.Modified)})
	}
	b.blank()
	t.write(b, o.Wide)
}

func filterTable(b *out, fl *store.FilterList, o Options) {
	b.blank()
	b.field("FilterList Name", fl.Name)
	b.field("No. of Filters", strconv.Itoa(len(fl.Filters)))
	if len(fl.Filters) == 0 {
		return
	}
	t := table{head: [][]string{
		{"Proto", "Source", "Mask", "Port", "Mirrored"},
		{"", "Destination", "Mask", "Port", "Description"},
	}}
	for _, f := range fl.Filters {
		t.rows = append(t.rows,
			[]string{f.Protocol.String(), f.Src.Display(f.SrcMask), f.SrcMask.Dotted(), port(f.SrcPort), yesNo(f.Mirrored)},
			[]string{"", f.Dst.Display(f.DstMask), f.DstMask.Dotted(), port(f.DstPort), orNone(f.Description)})
	}
	b.blank()
	t.write(b, o.Wide)
}

func filterActionTable(b *out, acts []store.FilterAction, o Options) {
	t := table{head: [][]string{{"FilterAction Name", "Action", "Last Modified"}}}
	for _, fa := range acts {
		t.rows = append(t.rows, []string{fa.Name, actionName(fa.Action), o.stamp(fa.Modified)})
	}
	b.blank()
	t.write(b, o.Wide)
}

func policyTable(b *out, st *store.State, pols []store.Policy, o Options) {
	if o.Verbose {
		for i := range pols {
			p := &pols[i]
			b.blank()
			b.field("Policy Name", p.Name)
			b.field("No. of Rules", strconv.Itoa(len(p.Rules)+1))
			ruleTable(b, st, policyRules(p), o)
		}
		return
	}
	t := table{head: [][]string{{"Policy Name", "Rules", "Assigned", "Last Modified"}}}
	for _, p := range pols {
		t.rows = append(t.rows, []string{p.Name, strconv.Itoa(len(p.Rules) + 1), yesNo(p.Assigned), o.stamp(p.Modified)})
	}
	b.blank()
	t.write(b, o.Wide)
}

func ruleTable(b *out, st *store.State, rules []store.Rule, o Options) {
	t := table{head: [][]string{{"ID", "Name", "FilterList", "FilterAction", "Active"}}}
	for i := range rules {
		r := &rules[i]
		t.rows = append(t.rows, []string{strconv.Itoa(ruleID(r)), orNone(r.Name),
			filterListName(st, r), filterActionName(st, r), yesNo(r.Active)})
	}
	b.blank()
	t.write(b, o.Wide)
}
