package shell_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The dump round trip: for random stores built with netsh commands,
//
//	show all format=json (A) -> dump -> run the dump in a fresh session
//	on the same store -> show all format=json (B)
//
// and A == B once GUIDs and time stamps are removed (the dump cannot carry
// them). The same dump run with exec on an empty new store gives A too,
// and dumping the rebuilt store prints the very same script.

const roundTripSeeds = 30

func TestDumpRoundTrip(t *testing.T) {
	for seed := uint64(1); seed <= roundTripSeeds; seed++ {
		t.Run(fmt.Sprintf("seed%02d", seed), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			script := genStore(rand.New(rand.NewPCG(seed, 0x6e657473)), seed%3 != 0)
			for _, line := range script {
				out, ok := e.exec(line)
				require.True(t, ok, "generated command failed: %s\n%s", line, out)
				require.Empty(t, out, "generated command printed: %s", line)
			}
			a := strip(e.showAllJSON("ipsec static "))
			dump, ok := e.exec("dump")
			require.True(t, ok, dump)

			// Replay on the same store, in a fresh session.
			e.newSession()
			e.err.take()
			require.True(t, e.sess.RunScript(strings.NewReader(dump), "dump"),
				"dump replay failed:\n%s\n%s", e.out.String(), e.err.String())
			require.Empty(t, e.out.take(), "dump replay printed output")
			require.Equal(t, "netsh>", e.sess.Prompt(), "dump must end in the root context")
			b := strip(e.showAllJSON("ipsec static "))
			require.Equal(t, a, b, "show all differs after the dump replay\nscript:\n%s\ndump:\n%s", strings.Join(script, "\n"), dump)
			dump2, ok := e.exec("dump")
			require.True(t, ok)
			require.Equal(t, dump, dump2, "the dump of the replayed store differs")

			// Replay with exec on an empty store of its own.
			f := newEnv(t)
			f.run("ipsec static delete all")
			f.writeFile("dump.netsh", dump)
			out, ok := f.exec("exec dump.netsh")
			require.True(t, ok, "exec of the dump failed:\n%s\n%s", out, f.err.String())
			require.Empty(t, out)
			require.False(t, f.sess.Failed())
			c := strip(f.showAllJSON("ipsec static "))
			require.Equal(t, a, c, "show all differs after exec of the dump on an empty store")
		})
	}
}

// gen builds a random store as a list of netsh command lines (from the
// root context, each prefixed with "ipsec static"). Every command is
// valid: the test fails if one does not succeed.
type gen struct {
	r       *rand.Rand
	lines   []string
	lists   []string
	actions []string
	pols    []*genPolicy
	used    map[string]bool // lower-case names per kind prefix, e.g. "l:web"
}

type genPolicy struct {
	name  string
	key   string // rule names are unique per policy: the used-map prefix
	rules []string
}

func genStore(r *rand.Rand, keepBuiltins bool) []string {
	g := &gen{r: r, used: map[string]bool{}}
	if !keepBuiltins {
		g.cmd("delete all")
	} else {
		// The built-in objects stay; they must survive the round trip too.
		for _, n := range []string{"All IP Traffic", "All ICMP Traffic"} {
			g.lists = append(g.lists, n)
			g.used["l:"+strings.ToLower(n)] = true
		}
		for _, n := range []string{"Permit", "Request Security (Optional)", "Require Security"} {
			g.actions = append(g.actions, n)
			g.used["a:"+strings.ToLower(n)] = true
		}
		for _, n := range []string{"Server (Request Security)", "Client (Respond Only)", "Secure Server (Require Security)"} {
			g.pols = append(g.pols, &genPolicy{name: n, key: fmt.Sprintf("r%d", len(g.pols))})
			g.used["p:"+strings.ToLower(n)] = true
		}
	}
	for range 1 + r.IntN(4) {
		g.filterList()
	}
	for range 1 + r.IntN(4) {
		g.filterAction()
	}
	for range 1 + r.IntN(3) {
		g.policy()
	}
	for range r.IntN(8) {
		g.rule()
	}
	for range r.IntN(6) {
		g.change()
	}
	for _, p := range g.pols {
		if r.IntN(2) == 0 {
			g.defaultRule(p.name)
		}
	}
	p := g.pols[r.IntN(len(g.pols))]
	g.cmd("set policy name=" + q(p.name) + " assign=yes")
	return g.lines
}

func (g *gen) cmd(s string) { g.lines = append(g.lines, "ipsec static "+s) }

func (g *gen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }

func (g *gen) yn() string { return g.pick([]string{"yes", "no"}) }

// q quotes a value when the tokenizer needs it.
func q(s string) string {
	if s == "" || strings.ContainsAny(s, " \t=") {
		return `"` + s + `"`
	}
	return s
}

var nameParts = []string{
	"Web", "Mail", "DNS", "Backup", "Ünïcödé", "Straße", "日本語", "ñandú", "Ωmega",
	"a-b", "x_y", "(test)", "v1.2", "key=value", "All", "default", "ß", "Ĳssel",
}

// name returns a new name for kind (unique case-insensitively).
func (g *gen) name(kind string) string {
	for {
		n := g.pick(nameParts)
		for range g.r.IntN(3) {
			n += g.pick([]string{" ", "-", ""}) + g.pick(nameParts)
		}
		if g.r.IntN(4) == 0 {
			n += fmt.Sprintf(" %d", g.r.IntN(100))
		}
		if g.r.IntN(10) == 0 {
			n = " " + n + " " // surrounding blanks are part of the name
		}
		k := kind + ":" + strings.ToLower(n)
		if !g.used[k] {
			g.used[k] = true
			return n
		}
	}
}

func (g *gen) text() string {
	switch g.r.IntN(4) {
	case 0:
		return ""
	case 1:
		return g.pick(nameParts)
	}
	return g.pick(nameParts) + " " + g.pick([]string{"traffic", "für alle", "→ peer", "a=b", "100%", "tab\there", "trailing  "})
}

func (g *gen) filterList() {
	n := g.name("l")
	g.lists = append(g.lists, n)
	g.cmd(fmt.Sprintf("add filterlist name=%s description=%s", q(n), q(g.text())))
	for range g.r.IntN(5) {
		g.filter(n)
	}
}

var serverTypes = []string{"dns", "wins", "dhcp", "gateway", "DNS", "Gateway"}

func (g *gen) address() string {
	switch g.r.IntN(6) {
	case 0:
		return "me"
	case 1:
		return g.pick([]string{"any", "ANY"})
	case 2:
		return g.pick([]string{"wsus.example.test", "gw.example.test", "peer.example.test", "WSUS.Example.Test"})
	case 3:
		return "0.0.0.0"
	}
	return fmt.Sprintf("%d.%d.%d.%d", 1+g.r.IntN(223), g.r.IntN(256), g.r.IntN(256), g.r.IntN(256))
}

func (g *gen) mask() string {
	if g.r.IntN(2) == 0 {
		return fmt.Sprint(g.r.IntN(33))
	}
	n := g.r.IntN(33)
	v := uint32(0)
	if n > 0 {
		v = ^uint32(0) << (32 - n)
	}
	return fmt.Sprintf("%d.%d.%d.%d", byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func (g *gen) filter(list string) {
	var src, dst string
	switch g.r.IntN(5) {
	case 0: // a server type needs me on the other side
		src, dst = g.pick(serverTypes), "me"
	case 1:
		src, dst = "me", g.pick(serverTypes)
	default:
		src, dst = g.address(), g.address()
	}
	parts := []string{"add filter", "filterlist=" + q(list), "srcaddr=" + src, "dstaddr=" + dst}
	opt := func(s string) {
		if g.r.IntN(2) == 0 {
			parts = append(parts, s)
		}
	}
	opt("description=" + q(g.text()))
	proto := g.pick([]string{"ANY", "ICMP", "TCP", "UDP", "RAW", "tcp", "udp", "47", "50", "0"})
	if g.r.IntN(3) > 0 {
		parts = append(parts, "protocol="+proto)
		if p := strings.ToUpper(proto); p == "TCP" || p == "UDP" {
			// Ports are accepted only with TCP or UDP.
			opt(fmt.Sprintf("srcport=%d", g.r.IntN(65536)))
			opt(fmt.Sprintf("dstport=%d", g.r.IntN(65536)))
		}
	}
	opt("mirrored=" + g.yn())
	opt("srcmask=" + g.mask())
	opt("dstmask=" + g.mask())
	g.r.Shuffle(len(parts)-4, func(i, j int) { parts[4+i], parts[4+j] = parts[4+j], parts[4+i] })
	g.cmd(strings.Join(parts, " "))
}

func (g *gen) lifetime() string {
	kb := fmt.Sprintf("%dk", 20480+g.r.IntN(500000))
	s := fmt.Sprintf("%ds", 300+g.r.IntN(172500))
	switch g.r.IntN(4) {
	case 0:
		return ""
	case 1:
		return ":" + kb
	case 2:
		return ":" + s
	}
	return ":" + kb + "/" + s
}

func (g *gen) qmOffer() string {
	hash := func() string { return g.pick([]string{"MD5", "SHA1"}) }
	esp := func() string {
		for {
			c := g.pick([]string{"DES", "3DES", "None", "AES128", "AES256", "AESGCM128"})
			a := g.pick([]string{"MD5", "SHA1", "None", "SHA256"})
			if c == "None" && a == "None" || c == "AESGCM128" && a != "None" {
				continue
			}
			return "ESP[" + c + "," + a + "]"
		}
	}
	var o string
	switch g.r.IntN(3) {
	case 0:
		o = "AH[" + hash() + "]"
	case 1:
		o = esp()
	default:
		o = "AH[" + hash() + "]+" + esp()
	}
	return o + g.lifetime()
}

func (g *gen) qmOffers() string {
	var offers []string
	for range 1 + g.r.IntN(4) {
		offers = append(offers, g.qmOffer())
	}
	return `"` + strings.Join(offers, " ") + `"`
}

func (g *gen) filterAction() {
	n := g.name("a")
	g.actions = append(g.actions, n)
	parts := []string{"add filteraction", "name=" + q(n)}
	opt := func(s string) {
		if g.r.IntN(2) == 0 {
			parts = append(parts, s)
		}
	}
	opt("description=" + q(g.text()))
	opt("qmpfs=" + g.yn())
	opt("inpass=" + g.yn())
	opt("soft=" + g.yn())
	opt("action=" + g.pick([]string{"permit", "block", "negotiate", "NEGOTIATE"}))
	opt("qmsecmethods=" + g.qmOffers())
	g.cmd(strings.Join(parts, " "))
}

func (g *gen) mmOffers() string {
	var offers []string
	for range 1 + g.r.IntN(4) {
		offers = append(offers, g.pick([]string{"DES", "3DES", "AES128", "AES192", "AES256"})+"-"+
			g.pick([]string{"MD5", "SHA1", "SHA256"})+"-"+g.pick([]string{"1", "2", "3", "19", "20"}))
	}
	return `"` + strings.Join(offers, " ") + `"`
}

func (g *gen) policySettings(parts []string) []string {
	opt := func(s string) {
		if g.r.IntN(2) == 0 {
			parts = append(parts, s)
		}
	}
	opt("description=" + q(g.text()))
	opt("mmpfs=" + g.yn())
	opt(fmt.Sprintf("qmpermm=%d", g.r.IntN(10)))
	opt(fmt.Sprintf("mmlifetime=%d", 1+g.r.IntN(71582788)))
	opt("activatedefaultrule=" + g.yn())
	opt(fmt.Sprintf("pollinginterval=%d", 1+g.r.IntN(43200)))
	opt("mmsecmethods=" + g.mmOffers())
	return parts
}

func (g *gen) policy() {
	n := g.name("p")
	g.pols = append(g.pols, &genPolicy{name: n, key: fmt.Sprintf("r%d", len(g.pols))})
	parts := g.policySettings([]string{"add policy", "name=" + q(n)})
	if g.r.IntN(3) == 0 {
		parts = append(parts, "assign="+g.yn())
	}
	g.cmd(strings.Join(parts, " "))
}

var caNames = []string{
	"C=US,O=MSFT,CN=Microsoft Authenticode(tm) Root Authority",
	`C=US,O=MSFT,CN=\'Microsoft North, South, East, and West Root Authority\'`,
	"CN=Ünïcödé Root,O=Beispiel GmbH",
	"CN=root:ca,DC=example,DC=test",
	"OU=日本語,CN=ルート",
}

// auth returns auth tags in a random order (the order is the preference).
func (g *gen) auth() []string {
	var out []string
	if g.r.IntN(3) == 0 {
		out = append(out, "kerberos="+g.yn())
	}
	if g.r.IntN(3) == 0 {
		out = append(out, "psk="+q(g.pick([]string{"secret", "my key", "clé secrète", "p=q", "日本"})))
	}
	for range g.r.IntN(3) {
		ca := g.pick(caNames)
		if g.r.IntN(2) == 0 {
			ca += " certmap:" + g.yn()
		}
		if g.r.IntN(2) == 0 {
			ca += " excludecaname:" + g.yn()
		}
		out = append(out, `rootca="`+ca+`"`)
	}
	g.r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func (g *gen) ruleSettings(parts []string, tunnel bool) []string {
	opt := func(s string) {
		if g.r.IntN(2) == 0 {
			parts = append(parts, s)
		}
	}
	if tunnel {
		opt("tunnel=" + g.pick([]string{"10.0.0.1", "192.0.2.77", "tunnel.example.test", "peer.example.test"}))
	}
	opt("conntype=" + g.pick([]string{"lan", "dialup", "all"}))
	opt("activate=" + g.yn())
	opt("description=" + q(g.text()))
	return append(parts, g.auth()...)
}

func (g *gen) rule() {
	p := g.pols[g.r.IntN(len(g.pols))]
	n := g.name(p.key)
	p.rules = append(p.rules, n)
	parts := []string{"add rule", "name=" + q(n), "policy=" + q(p.name),
		"filterlist=" + q(g.pick(g.lists)), "filteraction=" + q(g.pick(g.actions))}
	g.cmd(strings.Join(g.ruleSettings(parts, true), " "))
}

// change issues one random set command on an existing object.
func (g *gen) change() {
	switch g.r.IntN(5) {
	case 0:
		p := g.pols[g.r.IntN(len(g.pols))]
		parts := []string{"set policy", "name=" + q(p.name)}
		if g.r.IntN(3) == 0 {
			n := g.name("p")
			parts = append(parts, "newname="+q(n))
			p.name = n
		}
		g.cmd(strings.Join(g.policySettings(parts), " "))
	case 1:
		i := g.r.IntN(len(g.lists))
		n := g.name("l")
		g.cmd(fmt.Sprintf("set filterlist name=%s newname=%s description=%s", q(g.lists[i]), q(n), q(g.text())))
		g.lists[i] = n
	case 2:
		i := g.r.IntN(len(g.actions))
		parts := []string{"set filteraction", "name=" + q(g.actions[i])}
		if g.r.IntN(2) == 0 {
			n := g.name("a")
			parts = append(parts, "newname="+q(n))
			g.actions[i] = n
		}
		parts = append(parts, "action="+g.pick([]string{"permit", "block", "negotiate"}))
		if g.r.IntN(2) == 0 {
			parts = append(parts, "qmsecmethods="+g.qmOffers(), "soft="+g.yn())
		}
		g.cmd(strings.Join(parts, " "))
	case 3:
		g.filter(g.pick(g.lists))
	case 4:
		var withRules []*genPolicy
		for _, p := range g.pols {
			if len(p.rules) > 0 {
				withRules = append(withRules, p)
			}
		}
		if len(withRules) == 0 {
			g.rule()
			return
		}
		p := withRules[g.r.IntN(len(withRules))]
		i := g.r.IntN(len(p.rules))
		parts := []string{"set rule", "name=" + q(p.rules[i]), "policy=" + q(p.name)}
		if g.r.IntN(2) == 0 {
			n := g.name(p.key)
			parts = append(parts, "newname="+q(n))
			p.rules[i] = n
		}
		if g.r.IntN(2) == 0 {
			parts = append(parts, "filterlist="+q(g.pick(g.lists)), "filteraction="+q(g.pick(g.actions)))
		}
		clear := g.r.IntN(3) == 0
		if clear {
			parts = append(parts, "tunnel=0.0.0.0")
		}
		g.cmd(strings.Join(g.ruleSettings(parts, !clear), " "))
	}
}

func (g *gen) defaultRule(policy string) {
	parts := []string{"set defaultrule", "policy=" + q(policy)}
	opt := func(s string) {
		if g.r.IntN(2) == 0 {
			parts = append(parts, s)
		}
	}
	opt("qmpfs=" + g.yn())
	opt("activate=" + g.yn())
	opt("qmsecmethods=" + g.qmOffers())
	g.cmd(strings.Join(append(parts, g.auth()...), " "))
}
