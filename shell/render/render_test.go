package render

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/store"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/<name>.golden byte for byte.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), string(got))
}

func base() Options { return Options{Host: testHost, Wide: true} }

func with(f func(*Options)) Options {
	o := base()
	f(&o)
	return o
}

func policyNamed(st *store.State, name string) *store.Policy {
	for i := range st.Policies {
		if st.Policies[i].Name == name {
			return &st.Policies[i]
		}
	}
	panic("no policy " + name)
}

func listNamed(st *store.State, name string) store.FilterList {
	for _, fl := range st.FilterLists {
		if fl.Name == name {
			return fl
		}
	}
	panic("no filter list " + name)
}

func actionNamed(st *store.State, name string) store.FilterAction {
	for _, fa := range st.FilterActions {
		if fa.Name == name {
			return fa
		}
	}
	panic("no filter action " + name)
}

func defaultOf(p *store.Policy) store.Rule {
	r := p.DefaultRule
	r.Default = true
	return r
}

func TestGolden(t *testing.T) {
	bi := builtinState()
	full := fullState()
	server := policyNamed(bi, "Server (Request Security)")
	site := policyNamed(full, "Site Link Policy")
	verbose := func(o *Options) { o.Verbose = true }
	all := func(o *Options) { o.All = true }
	table := func(o *Options) { o.Format = grammar.FormatTable }
	narrow := func(o *Options) { o.Format, o.Wide = grammar.FormatTable, false }
	jsonF := func(o *Options) { o.Format = grammar.FormatJSON }
	opts := func(fs ...func(*Options)) Options {
		o := base()
		for _, f := range fs {
			f(&o)
		}
		return o
	}

	tests := []struct {
		name string
		run  func(w io.Writer) error
	}{
		{"filterlist_single", func(w io.Writer) error {
			return FilterLists(w, []store.FilterList{listNamed(bi, "All IP Traffic")}, base())
		}},
		{"filterlist_all", func(w io.Writer) error { return FilterLists(w, bi.FilterLists, opts(all)) }},
		{"filterlist_verbose", func(w io.Writer) error { return FilterLists(w, full.FilterLists, opts(all, verbose)) }},
		{"filterlist_table", func(w io.Writer) error { return FilterLists(w, full.FilterLists, opts(all, table)) }},
		{"filterlist_table_verbose", func(w io.Writer) error {
			return FilterLists(w, []store.FilterList{listNamed(full, "Web Servers=DMZ")}, opts(verbose, table))
		}},
		{"filterlist_table_verbose_narrow", func(w io.Writer) error {
			return FilterLists(w, full.FilterLists, opts(verbose, narrow))
		}},
		{"filteraction_permit", func(w io.Writer) error {
			return FilterActions(w, []store.FilterAction{actionNamed(bi, "Permit")}, base())
		}},
		{"filteraction_negotiate", func(w io.Writer) error {
			return FilterActions(w, []store.FilterAction{actionNamed(bi, "Request Security (Optional)")}, base())
		}},
		{"filteraction_negotiate_verbose", func(w io.Writer) error {
			return FilterActions(w, []store.FilterAction{actionNamed(full, "ESP Tunnel")}, opts(verbose))
		}},
		{"filteraction_all", func(w io.Writer) error { return FilterActions(w, full.FilterActions, opts(all)) }},
		{"filteraction_table", func(w io.Writer) error { return FilterActions(w, full.FilterActions, opts(all, narrow)) }},
		{"policy_normal", func(w io.Writer) error { return Policies(w, bi, []store.Policy{*server}, base()) }},
		{"policy_custom", func(w io.Writer) error { return Policies(w, full, []store.Policy{*site}, base()) }},
		{"policy_verbose", func(w io.Writer) error { return Policies(w, bi, []store.Policy{*server}, opts(verbose)) }},
		{"policy_all", func(w io.Writer) error { return Policies(w, full, full.Policies, opts(all)) }},
		{"policy_table", func(w io.Writer) error { return Policies(w, full, full.Policies, opts(all, table)) }},
		{"policy_table_narrow", func(w io.Writer) error { return Policies(w, full, full.Policies, opts(all, narrow)) }},
		{"policy_table_verbose", func(w io.Writer) error { return Policies(w, full, full.Policies, opts(verbose, table)) }},
		{"rule_normal", func(w io.Writer) error { return Rules(w, full, site, site.Rules[:1], base()) }},
		{"rule_verbose", func(w io.Writer) error { return Rules(w, full, site, site.Rules, opts(verbose)) }},
		{"rule_default", func(w io.Writer) error { return Rules(w, bi, server, []store.Rule{defaultOf(server)}, base()) }},
		{"rule_default_verbose", func(w io.Writer) error {
			return Rules(w, full, site, []store.Rule{defaultOf(site)}, opts(verbose))
		}},
		{"rule_all", func(w io.Writer) error { return Rules(w, full, site, policyRules(site), opts(all)) }},
		{"rule_table", func(w io.Writer) error { return Rules(w, full, site, policyRules(site), opts(all, narrow)) }},
		{"showall", func(w io.Writer) error { return All(w, bi, base()) }},
		{"showall_table", func(w io.Writer) error { return All(w, bi, opts(narrow)) }},
		{"showall_json", func(w io.Writer) error { return All(w, full, opts(jsonF)) }},
		{"policy_json", func(w io.Writer) error { return Policies(w, full, []store.Policy{*site}, opts(jsonF)) }},
		{"rule_json", func(w io.Writer) error { return Rules(w, full, site, site.Rules[:1], opts(jsonF)) }},
		{"filterlist_json", func(w io.Writer) error {
			return FilterLists(w, []store.FilterList{listNamed(full, "Web Servers=DMZ")}, opts(jsonF))
		}},
		{"filteraction_json", func(w io.Writer) error {
			return FilterActions(w, []store.FilterAction{actionNamed(bi, "Permit")}, opts(jsonF))
		}},
		{"store", func(w io.Writer) error {
			for _, o := range []Options{
				base(),
				with(func(o *Options) { o.Location = store.Persistent }),
				with(func(o *Options) { o.Location, o.Domain = store.Domain, "corp.example.com" }),
			} {
				if err := Store(w, o); err != nil {
					return err
				}
			}
			return nil
		}},
		{"gpoassignedpolicy_none", func(w io.Writer) error { return GPOAssignedPolicy(w, bi, base()) }},
		{"gpoassignedpolicy_assigned", func(w io.Writer) error { return GPOAssignedPolicy(w, full, base()) }},
		{"dump", func(w io.Writer) error { return Dump(w, full, store.Local) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, tc.run(&b))
			golden(t, tc.name, b.Bytes())
		})
	}
}

func TestStoreLine(t *testing.T) {
	tests := []struct {
		o    Options
		want string
	}{
		{Options{Host: "H"}, "Local Store H"},
		{Options{Host: "H", Location: store.Local}, "Local Store H"},
		{Options{Host: "H", Location: store.Persistent}, "Persistent Store H"},
		{Options{Host: "H", Location: store.Domain, Domain: "corp.example"}, "Domain Store corp.example"},
		{Options{}, "Local Store"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, FilterLists(&b, builtinState().FilterLists[:1], tc.o))
			assert.Contains(t, b.String(), "\nStore                  : "+tc.want+"\n")
		})
	}
}

func TestTimeZone(t *testing.T) {
	tests := []struct {
		zone *time.Location
		want string
	}{
		{nil, "11/27/2026 9:05:07 AM"},
		{time.UTC, "11/27/2026 9:05:07 AM"},
		{time.FixedZone("EST", -5*3600), "11/27/2026 4:05:07 AM"},
		{time.FixedZone("JST", 9*3600), "11/27/2026 6:05:07 PM"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			var b bytes.Buffer
			o := base()
			o.TimeZone = tc.zone
			require.NoError(t, FilterActions(&b, builtinState().FilterActions[:1], o))
			assert.Contains(t, b.String(), "\nLast Modified          : "+tc.want+"\n")
		})
	}
}

// TestListConventions checks reference 5.0 on every list golden: output
// starts with a blank line, no two blank lines in a row, and each
// "Label : value" line has its colon in column 24.
func TestListConventions(t *testing.T) {
	files, err := filepath.Glob("testdata/*.golden")
	require.NoError(t, err)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".golden")
		if strings.Contains(name, "json") || strings.Contains(name, "table") || name == "dump" || name == "store" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			s := string(data)
			assert.True(t, strings.HasPrefix(s, "\n"), "starts with a blank line")
			assert.NotContains(t, s, "\n\n\n", "one blank line between objects")
			for _, l := range strings.Split(s, "\n") {
				if i := strings.Index(l, ": "); i >= 0 && !strings.HasPrefix(l, "AllowUnsecured") &&
					!strings.HasPrefix(l, "Rule ID") && i < 24 {
					assert.Equal(t, 23, i, "label column in %q", l)
				}
			}
		})
	}
}

// expand returns the display width of a line with 8-column tab stops.
func expand(l string) int {
	col := 0
	for _, r := range l {
		if r == '\t' {
			col = (col/8 + 1) * 8
			continue
		}
		col++
	}
	return col
}

func TestTables(t *testing.T) {
	t.Run("narrow rows fit 80 columns", func(t *testing.T) {
		for _, name := range []string{"filterlist_table_verbose_narrow", "filteraction_table", "policy_table_narrow", "rule_table", "showall_table"} {
			data, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
			require.NoError(t, err)
			for _, l := range strings.Split(string(data), "\n") {
				assert.LessOrEqual(t, expand(l), 80, "%s: %q", name, l)
			}
		}
	})
	t.Run("columns align on tab stops", func(t *testing.T) {
		var b bytes.Buffer
		require.NoError(t, Policies(&b, fullState(), fullState().Policies, with(func(o *Options) { o.Format = grammar.FormatTable })))
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		head := lines[0]
		for _, l := range lines[2:] {
			cells, titles := strings.Split(l, "\t"), strings.Split(head, "\t")
			require.Len(t, cells, len(titles))
			for i := range cells[:len(cells)-1] {
				assert.Equal(t, len(titles[i]), len(cells[i]), "cell %d of %q", i, l)
				assert.Equal(t, 7, len(cells[i])%8, "cell %d width is 8k-1", i)
			}
		}
	})
	t.Run("verbose filter table has source address in cell 1", func(t *testing.T) {
		var b bytes.Buffer
		fl := listNamed(fullState(), "Web Servers=DMZ")
		require.NoError(t, FilterLists(&b, []store.FilterList{fl}, with(func(o *Options) {
			o.Format, o.Verbose, o.Wide = grammar.FormatTable, true, false
		})))
		lines := strings.Split(b.String(), "\n")
		dash := -1
		for i, l := range lines {
			if strings.HasPrefix(l, "---") {
				dash = i
			}
		}
		require.Positive(t, dash)
		rows := lines[dash+1:]
		for i, f := range fl.Filters {
			src := strings.Split(rows[2*i], "\t")
			dst := strings.Split(rows[2*i+1], "\t")
			assert.Equal(t, f.Src.Display(f.SrcMask), strings.TrimSpace(src[1]))
			assert.Equal(t, f.Dst.Display(f.DstMask), strings.TrimSpace(dst[1]))
			assert.Equal(t, "", strings.TrimSpace(dst[0]))
		}
	})
	t.Run("tabWidth", func(t *testing.T) {
		for n, want := range map[int]int{0: 7, 7: 7, 8: 15, 15: 15, 16: 23, 22: 23, 23: 23, 24: 31} {
			assert.Equal(t, want, tabWidth(n), "n=%d", n)
		}
	})
	t.Run("fit", func(t *testing.T) {
		tests := []struct{ in, want []int }{
			{[]int{31, 7, 7, 22}, []int{31, 7, 7, 22}},
			{[]int{39, 7, 15, 22}, []int{31, 7, 15, 22}},
			{[]int{7, 23, 15, 7, 63}, []int{7, 23, 15, 7, 24}},
			{[]int{63, 7, 70}, []int{31, 7, 40}},
			{[]int{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7}, []int{7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 0}},
		}
		for _, tc := range tests {
			w := append([]int(nil), tc.in...)
			fit(w)
			assert.Equal(t, tc.want, w, "fit(%v)", tc.in)
		}
	})
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sorted(s ...string) []string {
	sort.Strings(s)
	return s
}

// TestJSONSchema decodes `show all format=json` and checks the key sets
// the doc comment in json.go promises.
func TestJSONSchema(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, All(&b, fullState(), with(func(o *Options) { o.Format = grammar.FormatJSON })))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &doc))
	assert.Equal(t, sorted("store", "policies", "filterlists", "filteractions"), keys(doc))
	assert.Equal(t, map[string]any{"location": "local", "host": testHost}, doc["store"])

	pols := doc["policies"].([]any)
	require.Len(t, pols, 4)
	policyKeys := sorted("name", "description", "guid", "assign", "mmpfs", "qmpermm", "mmlifetime",
		"activatedefaultrule", "pollinginterval", "mmsecmethods", "lastmodified", "rules")
	ruleKeys := []string{"id", "guid", "name", "description", "filterlist", "filteraction", "tunnel",
		"conntype", "activate", "auth", "default"}
	for _, p := range pols {
		pm := p.(map[string]any)
		assert.Equal(t, policyKeys, keys(pm))
		assert.Equal(t, "2026-11-27T09:05:07Z", pols[0].(map[string]any)["lastmodified"])
		rules := pm["rules"].([]any)
		require.NotEmpty(t, rules)
		for i, r := range rules {
			rm := r.(map[string]any)
			isDefault := i == len(rules)-1
			assert.Equal(t, isDefault, rm["default"])
			if isDefault {
				assert.Equal(t, sorted(append(ruleKeys, "qmpfs", "qmsecmethods")...), keys(rm))
				assert.Equal(t, float64(DefaultRuleID), rm["id"])
			} else {
				assert.Equal(t, sorted(ruleKeys...), keys(rm))
			}
		}
	}
	site := pols[3].(map[string]any)
	assert.Equal(t, []any{"3DES-SHA1-3", "DES-MD5-2"}, site["mmsecmethods"])
	branch := site["rules"].([]any)[0].(map[string]any)
	assert.Equal(t, []any{
		map[string]any{"psk": "my shared key"},
		map[string]any{"rootca": `C=US,O=Example,CN="Example Root CA"`, "certmap": true, "excludecaname": false},
		map[string]any{"kerberos": true},
	}, branch["auth"])
	assert.Equal(t, "198.51.100.1", branch["tunnel"])
	assert.Equal(t, "lan", branch["conntype"])
	assert.Equal(t, []any{}, site["rules"].([]any)[1].(map[string]any)["auth"])

	for _, fl := range doc["filterlists"].([]any) {
		flm := fl.(map[string]any)
		assert.Equal(t, sorted("name", "description", "guid", "lastmodified", "filters"), keys(flm))
		for _, f := range flm["filters"].([]any) {
			assert.Equal(t, sorted("description", "mirrored", "srcaddr", "srcmask", "dstaddr", "dstmask",
				"protocol", "srcport", "dstport"), keys(f.(map[string]any)))
		}
	}
	web := doc["filterlists"].([]any)[2].(map[string]any)["filters"].([]any)
	assert.Equal(t, map[string]any{"description": "", "mirrored": false, "srcaddr": "me", "srcmask": "255.255.255.255",
		"dstaddr": "wsus.example.com", "dstmask": "255.255.255.255", "protocol": "TCP",
		"srcport": float64(1024), "dstport": float64(8530)}, web[1])
	assert.Equal(t, "dns", web[2].(map[string]any)["dstaddr"])
	assert.Equal(t, "47", web[3].(map[string]any)["protocol"])
	assert.Equal(t, "0.0.0.0", web[3].(map[string]any)["srcaddr"])

	for _, fa := range doc["filteractions"].([]any) {
		fam := fa.(map[string]any)
		assert.Equal(t, sorted("name", "description", "guid", "action", "qmpfs", "inpass", "soft",
			"qmsecmethods", "lastmodified"), keys(fam))
		assert.Contains(t, []any{"permit", "block", "negotiate"}, fam["action"])
		assert.NotNil(t, fam["qmsecmethods"], "always an array")
	}

	t.Run("single-object shows use arrays", func(t *testing.T) {
		st := fullState()
		o := with(func(o *Options) { o.Format = grammar.FormatJSON })
		for name, run := range map[string]func(io.Writer) error{
			"policies":      func(w io.Writer) error { return Policies(w, st, st.Policies[:1], o) },
			"filterlists":   func(w io.Writer) error { return FilterLists(w, st.FilterLists[:1], o) },
			"filteractions": func(w io.Writer) error { return FilterActions(w, nil, o) },
		} {
			var b bytes.Buffer
			require.NoError(t, run(&b))
			var m map[string]any
			require.NoError(t, json.Unmarshal(b.Bytes(), &m))
			assert.Equal(t, []string{name}, keys(m))
			assert.IsType(t, []any{}, m[name])
		}
	})
	t.Run("domain store", func(t *testing.T) {
		var b bytes.Buffer
		require.NoError(t, All(&b, nil, Options{Format: grammar.FormatJSON, Location: store.Domain, Domain: "corp", Host: "H"}))
		var m map[string]any
		require.NoError(t, json.Unmarshal(b.Bytes(), &m))
		assert.Equal(t, map[string]any{"location": "domain", "host": "H", "domain": "corp"}, m["store"])
		assert.Equal(t, []any{}, m["policies"])
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriteError(t *testing.T) {
	st := builtinState()
	assert.ErrorIs(t, All(failWriter{}, st, base()), io.ErrClosedPipe)
	assert.ErrorIs(t, All(failWriter{}, st, with(func(o *Options) { o.Format = grammar.FormatJSON })), io.ErrClosedPipe)
	assert.ErrorIs(t, Dump(failWriter{}, st, store.Local), io.ErrClosedPipe)
}
