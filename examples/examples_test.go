package examples_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/shell"
	"github.com/gonetsh/gonetsh/store"
)

// noDNS fails every lookup: the examples must not depend on the network.
func noDNS(_ context.Context, name string) (netip.Addr, error) {
	return netip.Addr{}, fmt.Errorf("the examples must not need DNS, but %q was looked up", name)
}

// newSession returns a session on db, as one netsh process would have.
func newSession(db *store.DB, out, errw *bytes.Buffer) *shell.Session {
	return shell.New(shell.Config{Store: db, Out: out, Err: errw, Host: "EXAMPLES",
		Resolver: noDNS, TimeZone: time.UTC})
}

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{})
	require.NoError(t, err)
	return db
}

// run runs one netsh line on db and returns its output; it must succeed.
func run(t *testing.T, db *store.DB, line string) string {
	t.Helper()
	var out, errw bytes.Buffer
	s := newSession(db, &out, &errw)
	require.True(t, s.Exec(line), "%s\n%s%s", line, out.String(), errw.String())
	require.NoError(t, s.Close())
	return out.String()
}

// showJSON runs a format=json show command and decodes it into v.
func showJSON(t *testing.T, db *store.DB, line string, v any) {
	t.Helper()
	out := run(t, db, line)
	require.NoError(t, json.Unmarshal([]byte(out), v), out)
}

// hasShow reports whether a script prints anything on success: a show or
// dump line.
func hasShow(script []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(script))
	for sc.Scan() {
		w := strings.Fields(strings.ToLower(sc.Text()))
		if len(w) == 0 || strings.HasPrefix(w[0], "#") {
			continue
		}
		for _, word := range w {
			if word == "show" || word == "dump" {
				return true
			}
		}
	}
	return false
}

// checks assert what an example left in the store, right after it ran (the
// next example may change it: default-policies starts with delete all).
var checks = map[string]func(t *testing.T, db *store.DB){
	"block-all.netsh":        checkBlockAll,
	"default-policies.netsh": checkDefaultPolicies,
	"fail2ban-ban.netsh":     checkBan,
	"fail2ban-unban.netsh":   checkUnban,
	"nat-t-tunnel.netsh":     checkTunnel,
	"restrict-to-wsus.netsh": checkRestrictToWSUS,
}

// TestExamples runs every examples/*.netsh in name order on one store, each
// in its own session as `netsh -f` would: every line must succeed and print
// nothing (scripts without show lines).
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("*.netsh")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)

	db := openDB(t)
	for _, name := range files {
		script, err := os.ReadFile(name)
		require.NoError(t, err)

		// Header: says how to run it, and README lists it.
		assert.True(t, bytes.HasPrefix(script, []byte("# "+name+" - ")), "%s: header comment", name)
		assert.Contains(t, string(script), "bin/netsh -f examples/"+name, "%s: how to run it", name)
		assert.Contains(t, string(readme), "`"+name+"`", "README.md lists %s", name)

		var out, errw bytes.Buffer
		s := newSession(db, &out, &errw)
		ok := s.RunScript(bytes.NewReader(script), name)
		require.NoError(t, s.Close())
		require.True(t, ok && !s.Failed(), "%s failed:\n%s%s", name, out.String(), errw.String())
		require.Empty(t, errw.String(), name)
		if !hasShow(script) {
			require.Empty(t, out.String(), name)
		}

		check, found := checks[name]
		require.True(t, found, "no check for %s", name)
		t.Run(strings.TrimSuffix(name, ".netsh"), func(t *testing.T) { check(t, db) })
	}
	assert.Len(t, files, len(checks), "every check has its example")
}

// ---- JSON shapes (shell/render/json.go) ----

type jsonRule struct {
	ID           int    `json:"id"`
	Name         string `json:"name"`
	FilterList   string `json:"filterlist"`
	FilterAction string `json:"filteraction"`
	Tunnel       string `json:"tunnel"`
	Activate     bool   `json:"activate"`
	Default      bool   `json:"default"`
	Auth         []struct {
		Kerberos bool    `json:"kerberos"`
		PSK      *string `json:"psk"`
	} `json:"auth"`
}

type jsonPolicy struct {
	Name                string     `json:"name"`
	Assign              bool       `json:"assign"`
	ActivateDefaultRule bool       `json:"activatedefaultrule"`
	MMSecMethods        []string   `json:"mmsecmethods"`
	Rules               []jsonRule `json:"rules"`
}

type jsonFilter struct {
	Description string `json:"description"`
	Mirrored    bool   `json:"mirrored"`
	SrcAddr     string `json:"srcaddr"`
	SrcMask     string `json:"srcmask"`
	DstAddr     string `json:"dstaddr"`
	DstMask     string `json:"dstmask"`
	Protocol    string `json:"protocol"`
	SrcPort     int    `json:"srcport"`
	DstPort     int    `json:"dstport"`
}

type jsonFilterAction struct {
	Name         string   `json:"name"`
	Action       string   `json:"action"`
	QMPFS        bool     `json:"qmpfs"`
	QMSecMethods []string `json:"qmsecmethods"`
}

func policy(t *testing.T, db *store.DB, name string) jsonPolicy {
	t.Helper()
	var doc struct{ Policies []jsonPolicy }
	showJSON(t, db, fmt.Sprintf("ipsec static show policy name=%q level=verbose format=json", name), &doc)
	require.Len(t, doc.Policies, 1)
	return doc.Policies[0]
}

func filters(t *testing.T, db *store.DB, list string) []jsonFilter {
	t.Helper()
	var doc struct {
		FilterLists []struct{ Filters []jsonFilter } `json:"filterlists"`
	}
	showJSON(t, db, fmt.Sprintf("ipsec static show filterlist name=%q format=json", list), &doc)
	require.Len(t, doc.FilterLists, 1)
	return doc.FilterLists[0].Filters
}

func filterAction(t *testing.T, db *store.DB, name string) jsonFilterAction {
	t.Helper()
	var doc struct{ FilterActions []jsonFilterAction }
	showJSON(t, db, fmt.Sprintf("ipsec static show filteraction name=%q format=json", name), &doc)
	require.Len(t, doc.FilterActions, 1)
	return doc.FilterActions[0]
}

// assigned returns the names of the assigned policies.
func assigned(t *testing.T, db *store.DB) []string {
	t.Helper()
	var doc struct{ Policies []jsonPolicy }
	showJSON(t, db, "ipsec static show policy all format=json", &doc)
	var names []string
	for _, p := range doc.Policies {
		if p.Assign {
			names = append(names, p.Name)
		}
	}
	return names
}

// ruleSummary is a rule as "name: filter list -> filter action".
func ruleSummary(rules []jsonRule) []string {
	var out []string
	for _, r := range rules {
		if r.Default {
			out = append(out, fmt.Sprintf("default response (active %v)", r.Activate))
			continue
		}
		out = append(out, fmt.Sprintf("%d %s: %s -> %s", r.ID, r.Name, r.FilterList, r.FilterAction))
	}
	return out
}

// ---- default-policies.netsh ----

// comparable strips what differs between two stores holding the same
// objects: GUIDs and Last Modified times.
func comparable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if k == "guid" || k == "lastmodified" {
				continue
			}
			out[k] = comparable(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = comparable(x)
		}
		return out
	}
	return v
}

func showAll(t *testing.T, db *store.DB) any {
	t.Helper()
	var doc any
	showJSON(t, db, "ipsec static show all format=json", &doc)
	return comparable(doc)
}

func checkDefaultPolicies(t *testing.T, db *store.DB) {
	fresh := openDB(t)
	assert.Equal(t, showAll(t, fresh), showAll(t, db))
	assert.Empty(t, assigned(t, db))
}

// ---- block-all.netsh ----

func checkBlockAll(t *testing.T, db *store.DB) {
	p := policy(t, db, "Block All")
	assert.True(t, p.Assign)
	assert.False(t, p.ActivateDefaultRule)
	assert.Equal(t, []string{
		"1 Permit ICMP: Block All - ICMP -> Block All - Permit",
		"2 Permit management: Block All - Management -> Block All - Permit",
		"3 Block everything else: Block All - Everything -> Block All - Block",
		"default response (active false)",
	}, ruleSummary(p.Rules))
	assert.Equal(t, []string{"Block All"}, assigned(t, db))

	assert.Equal(t, "block", filterAction(t, db, "Block All - Block").Action)
	assert.Equal(t, "permit", filterAction(t, db, "Block All - Permit").Action)

	assert.Equal(t, []jsonFilter{{Description: "all traffic, both directions", Mirrored: true,
		SrcAddr: "me", SrcMask: "255.255.255.255", DstAddr: "any", DstMask: "0.0.0.0", Protocol: "ANY"}},
		filters(t, db, "Block All - Everything"))
	assert.Equal(t, []jsonFilter{{Mirrored: true,
		SrcAddr: "me", SrcMask: "255.255.255.255", DstAddr: "any", DstMask: "0.0.0.0", Protocol: "ICMP"}},
		filters(t, db, "Block All - ICMP"))
	assert.Equal(t, []jsonFilter{{Description: "SSH from the management subnet", Mirrored: true,
		SrcAddr: "192.0.2.0", SrcMask: "255.255.255.0", DstAddr: "me", DstMask: "255.255.255.255",
		Protocol: "TCP", DstPort: 22}},
		filters(t, db, "Block All - Management"))
}

// ---- fail2ban-ban.netsh, fail2ban-unban.netsh ----

func banned(ip string) jsonFilter {
	return jsonFilter{Description: "fail2ban: sshd", Mirrored: true, SrcAddr: ip, SrcMask: "255.255.255.255",
		DstAddr: "me", DstMask: "255.255.255.255", Protocol: "ANY"}
}

func checkBan(t *testing.T, db *store.DB) {
	assert.Equal(t, []jsonFilter{banned("203.0.113.45"), banned("203.0.113.46")}, filters(t, db, "Banned"))
	p := policy(t, db, "Fail2ban")
	assert.True(t, p.Assign)
	assert.Equal(t, []string{"1 Drop banned hosts: Banned -> Block banned", "default response (active true)"},
		ruleSummary(p.Rules))
	assert.Equal(t, "block", filterAction(t, db, "Block banned").Action)
	assert.Equal(t, []string{"Fail2ban"}, assigned(t, db))
}

func checkUnban(t *testing.T, db *store.DB) {
	assert.Equal(t, []jsonFilter{banned("203.0.113.46")}, filters(t, db, "Banned"))
	assert.True(t, policy(t, db, "Fail2ban").Assign, "the policy stays")
}

// ---- nat-t-tunnel.netsh ----

func checkTunnel(t *testing.T, db *store.DB) {
	p := policy(t, db, "Site A - Site B tunnel")
	assert.True(t, p.Assign)
	assert.False(t, p.ActivateDefaultRule)
	assert.Equal(t, []string{"3DES-SHA1-3", "AES128-SHA1-2"}, p.MMSecMethods)
	require.Len(t, p.Rules, 3)
	for i, want := range []struct{ name, list, tunnel string }{
		{"A to B", "Site A to Site B", "203.0.113.1"},  // remote end point
		{"B to A", "Site B to Site A", "198.51.100.1"}, // local end point
	} {
		r := p.Rules[i]
		assert.Equal(t, want.name, r.Name)
		assert.Equal(t, want.list, r.FilterList)
		assert.Equal(t, "Site-to-site ESP", r.FilterAction)
		assert.Equal(t, want.tunnel, r.Tunnel)
		require.Len(t, r.Auth, 1)
		require.NotNil(t, r.Auth[0].PSK)
		assert.Equal(t, "change this pre-shared key", *r.Auth[0].PSK)
	}
	a := filterAction(t, db, "Site-to-site ESP")
	assert.Equal(t, "negotiate", a.Action)
	assert.True(t, a.QMPFS)
	assert.Equal(t, []string{"ESP[3DES,SHA1]:100000k/3600s", "ESP[AES128,SHA1]"}, a.QMSecMethods)

	subnet := func(src, dst string) []jsonFilter {
		return []jsonFilter{{SrcAddr: src, SrcMask: "255.255.255.0", DstAddr: dst, DstMask: "255.255.255.0", Protocol: "ANY"}}
	}
	assert.Equal(t, subnet("198.51.100.0", "203.0.113.0"), filters(t, db, "Site A to Site B"))
	assert.Equal(t, subnet("203.0.113.0", "198.51.100.0"), filters(t, db, "Site B to Site A"))
}

// ---- restrict-to-wsus.netsh ----

func checkRestrictToWSUS(t *testing.T, db *store.DB) {
	p := policy(t, db, "Restrict to WSUS")
	assert.True(t, p.Assign)
	assert.Equal(t, []string{
		"1 Permit WSUS, DNS and DHCP: Restrict to WSUS - Permitted -> Restrict to WSUS - Permit",
		"2 Block the rest: Restrict to WSUS - All -> Restrict to WSUS - Block",
		"default response (active false)",
	}, ruleSummary(p.Rules))
	assert.Equal(t, []string{"Restrict to WSUS"}, assigned(t, db))

	var got []string
	for _, f := range filters(t, db, "Restrict to WSUS - Permitted") {
		assert.Equal(t, "me", f.SrcAddr)
		assert.True(t, f.Mirrored)
		got = append(got, fmt.Sprintf("%s %s %d->%d", f.DstAddr, f.Protocol, f.SrcPort, f.DstPort))
	}
	assert.Equal(t, []string{
		"192.0.2.10 TCP 0->80", "192.0.2.10 TCP 0->443", "dns UDP 0->53", "dns TCP 0->53", "dhcp UDP 68->67",
	}, got)
	assert.Equal(t, "block", filterAction(t, db, "Restrict to WSUS - Block").Action)
}
