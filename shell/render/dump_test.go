package render

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

// parseScript parses every command line of a dump with the real grammar:
// pushd and popd at the root, everything else in `ipsec static`.
func parseScript(t *testing.T, script string) []*grammar.Invocation {
	t.Helper()
	g := grammar.New()
	static := g.Root.Lookup("ipsec", "static")
	require.NotNil(t, static)
	var out []*grammar.Invocation
	for _, line := range strings.Split(script, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ctx := static
		if strings.HasPrefix(line, "pushd ") || line == "popd" {
			ctx = g.Root
		}
		inv, err := g.Parse(ctx, line)
		require.NoError(t, err, "line %q", line)
		require.NotNil(t, inv.Cmd, "line %q names no command", line)
		out = append(out, inv)
	}
	return out
}

func TestDumpParses(t *testing.T) {
	for name, st := range map[string]*store.State{
		"builtin": builtinState(), "full": fullState(), "empty": {},
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, Dump(&b, st, store.Persistent))
			invs := parseScript(t, b.String())
			assert.Equal(t, "global.pushd", invs[0].Cmd.ID)
			assert.Equal(t, "static.set.store", invs[1].Cmd.ID)
			loc, _ := invs[1].Get("location")
			assert.Equal(t, int64(grammar.StorePersistent), loc.Int)
			assert.Equal(t, "static.delete.all", invs[2].Cmd.ID)
			assert.Equal(t, "global.popd", invs[len(invs)-1].Cmd.ID)
		})
	}
}

// replay applies a parsed dump to an empty State the way `ipsec static`
// would, with GUIDs equal to the names, so that the result can be compared
// with the dumped State.
func replay(t *testing.T, invs []*grammar.Invocation) *store.State {
	t.Helper()
	st := &store.State{}
	arg := func(inv *grammar.Invocation, tag string) grammar.Value {
		v, ok := inv.Get(tag)
		require.True(t, ok, "%q lacks %s", inv.Line, tag)
		return v
	}
	policy := func(name string) *store.Policy {
		for i := range st.Policies {
			if st.Policies[i].Name == name {
				return &st.Policies[i]
			}
		}
		t.Fatalf("no policy %q", name)
		return nil
	}
	for _, inv := range invs {
		switch inv.Cmd.ID {
		case "global.pushd", "global.popd", "static.set.store":
		case "static.delete.all":
			*st = store.State{}
		case "static.add.filterlist":
			name := arg(inv, "name").Str
			st.FilterLists = append(st.FilterLists, store.FilterList{
				GUID: store.GUID(name), Name: name, Description: arg(inv, "description").Str})
		case "static.add.filter":
			fl := findFilterList(st, store.GUID(arg(inv, "filterlist").Str))
			require.NotNil(t, fl, inv.Line)
			fl.Filters = append(fl.Filters, store.Filter{
				Description: arg(inv, "description").Str,
				Mirrored:    arg(inv, "mirrored").Bool,
				Src:         arg(inv, "srcaddr").Addr,
				SrcMask:     arg(inv, "srcmask").Mask,
				Dst:         arg(inv, "dstaddr").Addr,
				DstMask:     arg(inv, "dstmask").Mask,
				Protocol:    arg(inv, "protocol").Proto,
				SrcPort:     uint16(arg(inv, "srcport").Int),
				DstPort:     uint16(arg(inv, "dstport").Int),
			})
		case "static.add.filteraction":
			name := arg(inv, "name").Str
			fa := store.FilterAction{
				GUID: store.GUID(name), Name: name, Description: arg(inv, "description").Str,
				Action: ipsec.Action(arg(inv, "action").Int),
				QMPFS:  arg(inv, "qmpfs").Bool, InPass: arg(inv, "inpass").Bool, Soft: arg(inv, "soft").Bool,
			}
			if v, ok := inv.Get("qmsecmethods"); ok {
				fa.Offers = v.QM
			}
			st.FilterActions = append(st.FilterActions, fa)
		case "static.add.policy":
			p := store.Policy{
				Name: arg(inv, "name").Str, Description: arg(inv, "description").Str,
				MMPFS: arg(inv, "mmpfs").Bool, QMPerMM: int(arg(inv, "qmpermm").Int),
				MMLifetime: int(arg(inv, "mmlifetime").Int), PollingInterval: int(arg(inv, "pollinginterval").Int),
				Assigned:    arg(inv, "assign").Bool,
				DefaultRule: store.Rule{Default: true, Active: arg(inv, "activatedefaultrule").Bool},
			}
			if v, ok := inv.Get("mmsecmethods"); ok {
				p.MMOffers = v.MM
			}
			st.Policies = append(st.Policies, p)
		case "static.add.rule":
			p := policy(arg(inv, "policy").Str)
			auth, given := inv.Auth()
			require.True(t, given, "auth is explicit: %q", inv.Line)
			r := store.Rule{
				ID: len(p.Rules) + 1, Name: arg(inv, "name").Str, Description: arg(inv, "description").Str,
				FilterList:   store.GUID(arg(inv, "filterlist").Str),
				FilterAction: store.GUID(arg(inv, "filteraction").Str),
				ConnType:     ipsec.ConnType(arg(inv, "conntype").Int),
				Active:       arg(inv, "activate").Bool, Auth: auth,
			}
			if v, ok := inv.Get("tunnel"); ok {
				r.Tunnel = v.Addr
			}
			p.Rules = append(p.Rules, r)
		case "static.set.defaultrule":
			p := policy(arg(inv, "policy").Str)
			auth, given := inv.Auth()
			require.True(t, given, "auth is explicit: %q", inv.Line)
			p.DefaultRule.QMPFS = arg(inv, "qmpfs").Bool
			p.DefaultRule.Active = arg(inv, "activate").Bool
			p.DefaultRule.Auth = auth
			if v, ok := inv.Get("qmsecmethods"); ok {
				p.DefaultRule.QMOffers = v.QM
			}
		case "static.set.policy":
			p := policy(arg(inv, "name").Str)
			p.Assigned = arg(inv, "assign").Bool
		default:
			t.Fatalf("unexpected command %s in %q", inv.Cmd.ID, inv.Line)
		}
	}
	return st
}

// normalize drops what a dump cannot carry (GUIDs, times, unresolved DNS
// addresses, the default rule's identity) and names references by name.
func normalize(st *store.State) *store.State {
	addr := func(a ipsec.Address) ipsec.Address {
		if a.Kind == ipsec.AddrDNSName {
			a.IP = netip.Addr{}
		}
		return a
	}
	rule := func(r *store.Rule) {
		r.GUID, r.Modified = "", time.Time{}
		if fl := findFilterList(st, r.FilterList); fl != nil {
			r.FilterList = store.GUID(fl.Name)
		}
		if fa := findFilterAction(st, r.FilterAction); fa != nil {
			r.FilterAction = store.GUID(fa.Name)
		}
		r.Tunnel = addr(r.Tunnel)
	}
	for i := range st.Policies {
		p := &st.Policies[i]
		for j := range p.Rules {
			rule(&p.Rules[j])
		}
		d := &p.DefaultRule
		rule(d)
		d.ID, d.Name, d.Description, d.ConnType = 0, "", "", 0
		p.GUID, p.ISAKMPGUID, p.Modified = "", "", time.Time{}
	}
	for i := range st.FilterLists {
		fl := &st.FilterLists[i]
		fl.GUID, fl.Modified = store.GUID(fl.Name), time.Time{}
		for j := range fl.Filters {
			fl.Filters[j].Src = addr(fl.Filters[j].Src)
			fl.Filters[j].Dst = addr(fl.Filters[j].Dst)
		}
	}
	for i := range st.FilterActions {
		fa := &st.FilterActions[i]
		fa.GUID, fa.Modified = store.GUID(fa.Name), time.Time{}
	}
	return st
}

// TestDumpRoundTrip replays the dump and compares the result with the
// dumped State field by field.
func TestDumpRoundTrip(t *testing.T) {
	for name, st := range map[string]*store.State{"builtin": builtinState(), "full": fullState()} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, Dump(&b, st, store.Local))
			got := normalize(replay(t, parseScript(t, b.String())))
			want := normalize(st)
			// normalize resolved references through the State itself; do
			// the same for the replayed one, whose GUIDs are the names.
			assert.Equal(t, want, got)
		})
	}
}

func TestDumpUnrepresentable(t *testing.T) {
	tests := []struct {
		name string
		edit func(st *store.State)
	}{
		{"quote in a name", func(st *store.State) { st.FilterLists[0].Name = `say "hi"` }},
		{"newline in a description", func(st *store.State) { st.Policies[0].Description = "a\nb" }},
		{"quote in a psk", func(st *store.State) {
			st.Policies[0].DefaultRule.Auth = []ipsec.AuthMethod{{Kind: ipsec.AuthPSK, PSK: `a"b`}}
		}},
		{"literal \\' in a root CA", func(st *store.State) {
			st.Policies[0].DefaultRule.Auth = []ipsec.AuthMethod{{Kind: ipsec.AuthRootCA, CA: `CN=O\'Brien`}}
		}},
		{"root CA ending in an option", func(st *store.State) {
			st.Policies[0].DefaultRule.Auth = []ipsec.AuthMethod{{Kind: ipsec.AuthRootCA, CA: "CN=x certmap:no"}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := builtinState()
			tc.edit(st)
			var b bytes.Buffer
			assert.ErrorIs(t, Dump(&b, st, store.Local), ErrUnrepresentable)
			assert.Zero(t, b.Len(), "nothing is written")
		})
	}
}

func TestDumpQuoting(t *testing.T) {
	var d dumper
	for in, want := range map[string]string{
		"":          `""`,
		"plain":     "plain",
		"two words": `"two words"`,
		"a=b":       `"a=b"`,
		"tab\there": "\"tab\there\"",
		"all":       "all",
	} {
		assert.Equal(t, want, d.quote(in), "quote(%q)", in)
	}
	assert.NoError(t, d.err)
}
