package grammar

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/stretchr/testify/require"
)

func dynamicCtx(g *Grammar) *Context { return g.Root.Lookup("ipsec", "dynamic") }

// parseAllowing parses line in ctx and accepts either success or an error
// of code known (0: no error allowed). The invocation's arguments are bound
// either way.
func parseAllowing(t *testing.T, g *Grammar, ctx *Context, line string, known ErrCode) *Invocation {
	t.Helper()
	inv, err := g.Parse(ctx, line)
	if err != nil {
		var e *Error
		require.True(t, errors.As(err, &e), "%T", err)
		require.NotZero(t, known, "unexpected error: %v", err)
		require.Equal(t, known, e.Code, "%v", err)
	}
	require.NotNil(t, inv)
	require.NotNil(t, inv.Cmd)
	return inv
}

func TestDynamicBinding(t *testing.T) {
	g := New()
	cases := []struct {
		line, id, want string
		known          ErrCode
	}{
		// Reference 3.1: `add mmp` resolves to add mmpolicy; softsa and mmsec
		// are abbreviated tags.
		{`add mmp name=mmp qmpermm=10 mmlifetime=300 softsa=20 mmsec="3DES-SHA1-3 DES-SHA1-2 3DES-MD5-3"`,
			"dynamic.add.mmpolicy",
			"name=mmp qmpermm=10 mmlifetime=300 softsaexpirationtime=20 mmsecmethods=3DES-SHA1-3 DES-SHA1-2 3DES-MD5-3", 0},
		{"add mmpolicy name=TempMMpolicy", "dynamic.add.mmpolicy", "name=TempMMpolicy", 0},
		// Reference 3.3, the three Fossen lines.
		{"add rule srcaddr=any dstaddr=any mmpolicy=TempMMpolicy actioninbound=block actionoutbound=block",
			"dynamic.add.rule",
			"srcaddr=any dstaddr=any mmpolicy=TempMMpolicy actioninbound=block actionoutbound=block", 0},
		{"add rule srcaddr=any dstaddr=any mmpolicy=TempMMpolicy protocol=ICMP actioninbound=permit actionoutbound=permit",
			"dynamic.add.rule",
			"srcaddr=any dstaddr=any mmpolicy=TempMMpolicy protocol=ICMP actioninbound=permit actionoutbound=permit", 0},
		{"add rule srcaddr=any dstaddr=any mmpolicy=TempMMpolicy protocol=TCP srcport=0 dstport=80 mirrored=yes actioninbound=permit actionoutbound=permit",
			"dynamic.add.rule",
			"srcaddr=any dstaddr=any mmpolicy=TempMMpolicy protocol=TCP srcport=0 dstport=80 mirrored=yes actioninbound=permit actionoutbound=permit", 0},
		// Reference 3.5, the Windows help example of set rule (2003 form).
		{"set rule srca=WINS dsta=0.0.0.0 srcmask=32 dstmask=32 tunneldst=192.168.145.1 proto=tcp srcport=80 dstport=80 mir=no con=lan qmp=QMPolicy1",
			"dynamic.set.rule",
			"srcaddr=WINS dstaddr=0.0.0.0 srcmask=32 dstmask=32 tunneldstaddress=192.168.145.1 protocol=tcp srcport=80 dstport=80 mirrored=no conntype=lan qmpolicy=QMPolicy1",
			0},
		// The same with me, which passes the server type check.
		{"set rule srca=WINS dsta=me srcmask=32 dstmask=32 tunneldst=192.168.145.1 proto=tcp srcport=80 dstport=80 mir=no con=lan qmp=Q actionin=negotiate actionout=permit mmp=M kerb=yes",
			"dynamic.set.rule",
			"srcaddr=WINS dstaddr=me srcmask=32 dstmask=32 tunneldstaddress=192.168.145.1 protocol=tcp srcport=80 dstport=80 mirrored=no conntype=lan qmpolicy=Q actioninbound=negotiate actionoutbound=permit mmpolicy=M kerberos=yes", 0},
		// Positional set rule: the seven identifying tags in usage order.
		{"set rule me any TCP 0 80 yes all qmpolicy=Q", "dynamic.set.rule",
			"srcaddr=me dstaddr=any protocol=TCP srcport=0 dstport=80 mirrored=yes conntype=all qmpolicy=Q", 0},
		// Reference 3.7.
		{"set config ipsecexempt value=0", "dynamic.set.config", "property=ipsecexempt value=0", 0},
		{"set config property=ipsecdiagnostics value=7", "dynamic.set.config", "property=ipsecdiagnostics value=7", 0},
		{"set config bootmode value=stateful", "dynamic.set.config", "property=bootmode value=stateful", 0},
		{"set config bootmode stateful", "dynamic.set.config", "property=bootmode value=stateful", 0},
		{`set config bootexemptions "TCP:0:80:inbound UDP:0:53:outbound"`, "dynamic.set.config",
			"property=bootexemptions value=TCP:0:80:inbound UDP:0:53:outbound", 0},
		{"set config value=3 property=ipsecex", "dynamic.set.config", "value=3 property=ipsecex", 0},
		// Reference 3.4, 3.2.
		{`add qmpolicy Q1 soft=y pfsgroup=grp3 qmsec="ESP[3DES,SHA1]:100000k/3600s"`, "dynamic.add.qmpolicy",
			"name=Q1 soft=y pfsgroup=grp3 qmsecmethods=ESP[3DES,SHA1]:100000k/3600s", 0},
		{"add qmp Q1 no grpmm", "dynamic.add.qmpolicy", "name=Q1 soft=no pfsgroup=grpmm", 0},
		{"set mmpolicy M 0 480 300 3DES-SHA1-2", "dynamic.set.mmpolicy",
			"name=M qmpermm=0 mmlifetime=480 softsaexpirationtime=300 mmsecmethods=3DES-SHA1-2", 0},
		{"set qmp name=Q pfs=nopfs", "dynamic.set.qmpolicy", "name=Q pfsgroup=nopfs", 0},
		// Reference 3.6.
		{"delete all", "dynamic.delete.all", "", 0},
		{"del mmp all", "dynamic.delete.mmpolicy", "<all>", 0},
		{"delete qmpolicy name=Q", "dynamic.delete.qmpolicy", "name=Q", 0},
		{"delete rule 10.0.0.1 10.0.0.2 UDP 53 0 no dialup srcmask=24 tunneldstaddress=gw.example.com",
			"dynamic.delete.rule",
			"srcaddr=10.0.0.1 dstaddr=10.0.0.2 protocol=UDP srcport=53 dstport=0 mirrored=no conntype=dialup srcmask=24 tunneldstaddress=gw.example.com", 0},
		// Reference 3.8.
		{"show all resolvedns=yes", "dynamic.show.all", "resolvedns=yes", 0},
		{"show config", "dynamic.show.config", "", 0},
		{"sh mmp all", "dynamic.show.mmpolicy", "<all>", 0},
		{"show qmpolicy Q", "dynamic.show.qmpolicy", "name=Q", 0},
		{"sh mmf all type=specific srcaddr=me", "dynamic.show.mmfilter", "<all> type=specific srcaddr=me", 0},
		{"show qmfilter all generic", "dynamic.show.qmfilter", "<all> type=generic", 0},
		{"show qmf F1 proto=TCP dstport=443 actionin=block res=y", "dynamic.show.qmfilter",
			"name=F1 protocol=TCP dstport=443 actioninbound=block resolvedns=y", 0},
		{"show rule", "dynamic.show.rule", "", 0},
		{"show rule tunnel me", "dynamic.show.rule", "type=tunnel srcaddr=me", 0},
		{"show mmsas", "dynamic.show.mmsas", "", 0},
		{"show mmsas all", "dynamic.show.mmsas", "<all>", 0},
		{"show mmsas all format=table", "dynamic.show.mmsas", "<all> format=table", 0},
		{"show mmsas 10.0.0.1 10.0.0.2 table", "dynamic.show.mmsas", "srcaddr=10.0.0.1 dstaddr=10.0.0.2 format=table", 0},
		{"show qmsas all dstaddr=10.0.0.2 protocol=tcp format=json", "dynamic.show.qmsas",
			"<all> dstaddr=10.0.0.2 protocol=tcp format=json", 0},
		{"show stats", "dynamic.show.stats", "", 0},
		{"show stats type=ike", "dynamic.show.stats", "type=ike", 0},
		{"show stats ipsec", "dynamic.show.stats", "type=ipsec", 0},
	}
	for _, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			inv := parseAllowing(t, g, dynamicCtx(g), c.line, c.known)
			require.Equal(t, c.id, inv.Cmd.ID)
			require.Equal(t, c.want, args(inv))
		})
	}

	// Full command lines from the root, as scripts write them.
	inv, err := g.Parse(nil, `ipsec dynamic add mmp name=mmp qmpermm=10 mmlifetime=300 softsa=20 mmsec="3DES-SHA1-3 DES-SHA1-2 3DES-MD5-3"`)
	require.NoError(t, err)
	require.Equal(t, "dynamic.add.mmpolicy", inv.Cmd.ID)
	inv, err = g.Parse(nil, "ipsec dynamic set config ipsecexempt value=0")
	require.NoError(t, err)
	require.Equal(t, "dynamic.set.config", inv.Cmd.ID)
}

func TestDynamicTypedValues(t *testing.T) {
	g := New()
	inv, err := g.Parse(dynamicCtx(g), `add mmp name=mmp qmpermm=10 mmlifetime=300 softsa=20 mmsec="3DES-SHA1-3 DES-SHA1-2 3DES-MD5-3"`)
	require.NoError(t, err)
	v, _ := inv.Get("softsaexpirationtime")
	require.EqualValues(t, 20, v.Int)
	v, _ = inv.Get("mmsecmethods")
	require.Equal(t, []ipsec.MMOffer{
		{Cipher: ipsec.Cipher3DES, Hash: ipsec.HashSHA1, Group: ipsec.DHGroup14},
		{Cipher: ipsec.CipherDES, Hash: ipsec.HashSHA1, Group: ipsec.DHGroup2},
		{Cipher: ipsec.Cipher3DES, Hash: ipsec.HashMD5, Group: ipsec.DHGroup14},
	}, v.MM)

	inv, err = g.Parse(dynamicCtx(g), "add qmpolicy Q pfsgroup=GRP3")
	require.NoError(t, err)
	v, _ = inv.Get("pfsgroup")
	require.Equal(t, PFSGroup{Group: ipsec.DHGroup14, Choice: true}, v.Group)

	inv, err = g.Parse(dynamicCtx(g), "add rule srcaddr=any dstaddr=any mmpolicy=M actioninbound=block actionoutbound=perm conntype=lan")
	require.NoError(t, err)
	v, _ = inv.Get("actioninbound")
	require.Equal(t, ipsec.ActionBlock, ipsec.Action(v.Int))
	v, _ = inv.Get("actionoutbound")
	require.Equal(t, ipsec.ActionPermit, ipsec.Action(v.Int))
	v, _ = inv.Get("conntype")
	require.Equal(t, ipsec.ConnLAN, ipsec.ConnType(v.Int))

	inv, err = g.Parse(dynamicCtx(g), "show mmfilter all type=spec")
	require.NoError(t, err)
	v, _ = inv.Get("type")
	require.EqualValues(t, FilterSpecific, v.Int)
	inv, err = g.Parse(dynamicCtx(g), "show stats type=ike")
	require.NoError(t, err)
	v, _ = inv.Get("type")
	require.EqualValues(t, StatsIKE, v.Int)
	inv, err = g.Parse(dynamicCtx(g), "show rule type=transport")
	require.NoError(t, err)
	v, _ = inv.Get("type")
	require.EqualValues(t, RuleTransport, v.Int)
}

func TestDynamicErrors(t *testing.T) {
	g := New()
	cases := []struct {
		line string
		code ErrCode
		text string
	}{
		{"add mmpolicy", ErrMissing, MsgMissing1 + "\n" + MsgMissing2 + "\n" + MsgSyntax},
		{"add rule any any", ErrMissing, MsgMissing1 + "\n" + MsgMissing2 + "\n" + MsgSyntax},
		{"set rule me any tcp 0 80 yes", ErrMissing, MsgMissing1 + "\n" + MsgMissing2 + "\n" + MsgSyntax},
		{"delete mmpolicy", ErrMissing, MsgMissing1 + "\n" + MsgMissing2 + "\n" + MsgSyntax},
		{"show mmfilter", ErrMissing, MsgMissing1 + "\n" + MsgMissing2 + "\n" + MsgSyntax},
		{"add mmpolicy m softsaexpirationtime=0", ErrSyntax, MsgSyntax},
		{"add mmpolicy m mmlifetime=0", ErrSyntax, MsgSyntax},
		{"add qmpolicy q pfsgroup=grp4", ErrSyntax, MsgSyntax},
		{"show stats type=all", ErrSyntax, MsgSyntax},
		{"show stats ike extra", ErrSyntax, MsgSyntax},
		{"show config all", ErrSyntax, MsgSyntax},
		{"show mmsas all srcaddr=me", ErrSyntax, MsgSyntax},
		// `ipsec` is a prefix of three properties; `boot` of two.
		{"set config ipsec value=0", ErrSyntax, MsgSyntax},
		{"set config property=boot value=block", ErrSyntax, MsgSyntax},
		{"set config ipsecexempt", ErrMissing, MsgMissing1 + "\n" + MsgMissing2 + "\n" + MsgSyntax},
		{"set config ipsecexempt 0 1", ErrSyntax, MsgSyntax},
		{"add rule any any M bogus=1", ErrInvalidArg, "'bogus' is not a valid argument for this command.\n" + MsgSyntax},
		{"add rule dns any M", ErrServerType, "ERR IPsec[05058] : When a server type (DNS, WINS, DHCP, GATEWAY) is given for one address, the other address must be me."},
		{"add rule any any M dstport=80", ErrPortProtocol, "ERR IPsec[05059] : Ports can be given only when the protocol is TCP or UDP."},
		// Global set/show mode share the groups: `show m` is ambiguous.
		{"show m all", ErrCmdNotFound, "The following command was not found: show m all."},
		{"s config", ErrCmdNotFound, "The following command was not found: s config."},
		{"delete sa", ErrCmdNotFound, "The following command was not found: delete sa."},
		// d: delete, dump (global) and the sibling context dynamic.
		{"d mmp all", ErrCmdNotFound, "The following command was not found: d mmp all."},
	}
	for _, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			_, err := g.Parse(dynamicCtx(g), c.line)
			require.Error(t, err)
			var e *Error
			require.True(t, errors.As(err, &e), "%T", err)
			require.Equal(t, c.code, e.Code, "%v", err)
			require.Equal(t, c.text, e.Error())
		})
	}
}

// dynamicCommands returns the commands of the dynamic context by ID.
func dynamicCommands(g *Grammar) map[string]*Command {
	out := map[string]*Command{}
	for _, c := range dynamicCtx(g).Commands {
		out[c.ID] = c
	}
	return out
}

func TestDynamicTable(t *testing.T) {
	g := New()
	want := []string{
		"dynamic.add.mmpolicy", "dynamic.add.qmpolicy", "dynamic.add.rule",
		"dynamic.delete.all", "dynamic.delete.mmpolicy", "dynamic.delete.qmpolicy", "dynamic.delete.rule",
		"dynamic.set.config", "dynamic.set.mmpolicy", "dynamic.set.qmpolicy", "dynamic.set.rule",
		"dynamic.show.all", "dynamic.show.config", "dynamic.show.mmfilter", "dynamic.show.mmpolicy",
		"dynamic.show.mmsas", "dynamic.show.qmfilter", "dynamic.show.qmpolicy", "dynamic.show.qmsas",
		"dynamic.show.rule", "dynamic.show.stats",
	}
	var got []string
	for _, c := range dynamicCtx(g).Commands {
		got = append(got, c.ID)
		require.Equal(t, "dynamic."+strings.Join(c.Words, "."), c.ID)
		require.NotEmpty(t, c.Summary, c.ID)
		require.NotEmpty(t, c.Purpose, c.ID)
		for _, tg := range c.Tags {
			require.NotEmpty(t, tg.Help, "%s %s", c.ID, tg.Name)
			require.Equal(t, strings.ToLower(tg.Name), tg.Name)
			switch tg.Kind {
			case KInt:
				require.LessOrEqual(t, tg.Min, tg.Max, "%s %s", c.ID, tg.Name)
			case KEnum:
				require.NotEmpty(t, tg.Enum, "%s %s", c.ID, tg.Name)
			}
		}
		if c.Ident != nil {
			for _, n := range c.Ident.Tags {
				require.NotNil(t, c.Tag(n), "%s ident %s", c.ID, n)
			}
		}
	}
	require.Equal(t, want, got)

	// Tags of the 2003 set rule: the identifying ones first.
	var names []string
	for _, tg := range dynamicCommands(g)["dynamic.set.rule"].Tags {
		n := tg.Name
		if tg.Required {
			n += "*"
		}
		names = append(names, n)
	}
	require.Equal(t, "srcaddr* dstaddr* protocol* srcport* dstport* mirrored* conntype* srcmask dstmask tunneldstaddress mmpolicy qmpolicy actioninbound actionoutbound kerberos psk rootca",
		strings.Join(names, " "))
}

// TestTagReachability checks, for every command of the grammar, that no
// tag's full name is a prefix of an earlier tag (which would make the later
// tag's abbreviations, and without matchTag's exact-match pass the tag
// itself, bind to the earlier one), and that every full name binds to its
// own tag.
func TestTagReachability(t *testing.T) {
	g := New()
	var shadowed []string
	var walk func(ctx *Context)
	walk = func(ctx *Context) {
		for _, c := range ctx.Commands {
			seen := map[string]bool{}
			for j := range c.Tags {
				tj := &c.Tags[j]
				require.False(t, seen[tj.Name], "%s: tag %s twice", c.ID, tj.Name)
				seen[tj.Name] = true
				require.Same(t, tj, matchTag(c, tj.Name), "%s %s", c.ID, tj.Name)
				for i := 0; i < j; i++ {
					if hasPrefixFold(c.Tags[i].Name, tj.Name) {
						shadowed = append(shadowed, fmt.Sprintf("%s: %s (prefix of earlier %s)", c.ID, tj.Name, c.Tags[i].Name))
					}
				}
			}
		}
		for _, s := range ctx.Subs {
			walk(s)
		}
	}
	walk(g.Root)
	require.Empty(t, shadowed)
}

func TestDynamicUsage(t *testing.T) {
	g := New()
	for _, c := range dynamicCtx(g).Commands {
		u := Usage(c)
		require.True(t, strings.HasPrefix(u, "\nUsage:\n  "+c.Path()), "%s:\n%s", c.ID, u)
		require.Contains(t, u, c.Purpose[:20], c.ID)
		if len(c.Tags) > 0 {
			require.Contains(t, u, "\nParameters:\n", c.ID)
		}
		// Every help example parses to its own command.
		for _, ex := range c.Examples {
			inv := parseAllowing(t, g, dynamicCtx(g), ex, 0)
			require.Equal(t, c.ID, inv.Cmd.ID, ex)
		}
	}
	cmds := dynamicCommands(g)
	require.True(t, strings.HasPrefix(Usage(cmds["dynamic.set.config"]), `
Usage:
  set config [ property = ] ipsecdiagnostics | ikelogging | strongcrlcheck | ipsecloginterval | ipsecexempt | bootmode | bootexemptions
             [ value = ] <integer> | stateful | block | permit | none | "<exemption> ..."

  Sets an IPsec configuration property, or the boot time behavior of the IPsec
  driver.
`))
	require.True(t, strings.HasPrefix(Usage(cmds["dynamic.delete.mmpolicy"]),
		"\nUsage:\n  delete mmpolicy [ name = ] <string> | all\n"))
	require.True(t, strings.HasPrefix(Usage(cmds["dynamic.show.mmsas"]),
		"\nUsage:\n  show mmsas [ [ srcaddr = ] <ip | dns | server> | all ]\n"+
			"             [ [ dstaddr = ] <ip | dns | server> ]\n"+
			"             [ [ format = ] list | table | json ]\n"+
			"             [ [ resolvedns = ] yes | no ]\n"))
	require.True(t, strings.HasPrefix(Usage(cmds["dynamic.add.mmpolicy"]),
		"\nUsage:\n  add mmpolicy [ name = ] <string>\n"+
			"               [ [ qmpermm = ] <integer> ]\n"+
			"               [ [ mmlifetime = ] <integer> ]\n"+
			"               [ [ softsaexpirationtime = ] <integer> ]\n"+
			"               [ [ mmsecmethods = ] \"ConfAlg-HashAlg-GroupNum ...\" ]\n"))
	require.Equal(t, "\nUsage:\n  show config\n\n  Displays the IPsec configuration properties and boot time behavior.\n",
		Usage(cmds["dynamic.show.config"]))
}

func TestDynamicHelpTexts(t *testing.T) {
	g := New()
	require.Equal(t, `
The following commands are available:

Commands in this context:
?              - Displays a list of commands.
add            - Adds policy, filter, and actions to SPD.
delete         - Deletes policy, filter, and actions from SPD.
help           - Displays a list of commands.
set            - Modifies policy, filter, and actions in SPD.
show           - Displays policy, filter, and actions from SPD.

To view help for a command, type the command, followed by a space, and then
 type ?.
`, g.ContextHelp(dynamicCtx(g)))

	// The global `show mode` is listed with the group, as in static.
	require.Equal(t, `
The following commands are available:

Commands in this context:
show all       - Displays policies, filters, SAs, and statistics from SPD.
show config    - Displays IPsec configuration.
show mmfilter  - Displays main mode filter details from SPD.
show mmpolicy  - Displays main mode policy details from SPD.
show mmsas     - Displays main mode security associations from SPD.
show mode      - Shows the current mode.
show qmfilter  - Displays quick mode filter details from SPD.
show qmpolicy  - Displays quick mode policy details from SPD.
show qmsas     - Displays quick mode security associations from SPD.
show rule      - Displays rule details from SPD.
show stats     - Displays IPsec and IKE statistics from the SPD.

To view help for a command, type the command, followed by a space, and then
 type ?.
`, g.GroupHelp(dynamicCtx(g), "show"))

	for group, lines := range map[string][]string{
		"add": {
			"add mmpolicy   - Adds a main mode policy to SPD.\n",
			"add qmpolicy   - Adds a quick mode policy to SPD.\n",
			"add rule       - Adds a rule and associated filters to SPD.\n",
		},
		"delete": {
			"delete all     - Deletes all policies, filters, and actions from SPD.\n",
			"delete mmpolicy - Deletes a main mode policy from SPD.\n",
			"delete qmpolicy - Deletes a quick mode policy from SPD.\n",
			"delete rule    - Deletes a rule and associated filters from SPD.\n",
		},
		"set": {
			"set config     - Sets the IPsec configuration and boot time behavior.\n",
			"set mmpolicy   - Modifies a main mode policy in SPD.\n",
			"set mode       - Sets the current mode to online or offline.\n",
			"set qmpolicy   - Modifies a quick mode policy in SPD.\n",
			"set rule       - Modifies a rule and associated filters in SPD.\n",
		},
	} {
		require.Contains(t, g.GroupHelp(dynamicCtx(g), group), strings.Join(lines, ""), group)
	}

	inv, err := g.Parse(dynamicCtx(g), "show")
	require.NoError(t, err)
	require.Equal(t, HelpGroup, inv.Help)
	inv, err = g.Parse(nil, "ipsec dynamic set config ?")
	require.NoError(t, err)
	require.Equal(t, HelpCommand, inv.Help)
	require.Equal(t, "dynamic.set.config", inv.Cmd.ID)
	inv, err = g.Parse(nil, "ipsec dynamic ?")
	require.NoError(t, err)
	require.Equal(t, HelpContext, inv.Help)
	require.Equal(t, "netsh ipsec dynamic>", inv.Ctx.Prompt())
}

func TestDynamicAbbreviations(t *testing.T) {
	g := New()
	for line, id := range map[string]string{
		"sh mmf all":       "dynamic.show.mmfilter",
		"sh qmf all":       "dynamic.show.qmfilter",
		"sh mmp all":       "dynamic.show.mmpolicy",
		"sh qmp all":       "dynamic.show.qmpolicy",
		"sh mms":           "dynamic.show.mmsas",
		"sh qms":           "dynamic.show.qmsas",
		"sh st":            "dynamic.show.stats",
		"sh c":             "dynamic.show.config",
		"sh a":             "dynamic.show.all",
		"sh r":             "dynamic.show.rule",
		"ad mmp m":         "dynamic.add.mmpolicy",
		"add m m":          "dynamic.add.mmpolicy",
		"add q q":          "dynamic.add.qmpolicy",
		"add r any any m":  "dynamic.add.rule",
		"del a":            "dynamic.delete.all",
		"del mmp all":      "dynamic.delete.mmpolicy",
		"del q all":        "dynamic.delete.qmpolicy",
		"se c ikel 1":      "dynamic.set.config",
		"set conf bootm b": "dynamic.set.config",
		"set mm m":         "dynamic.set.mmpolicy",
		"set qm q":         "dynamic.set.qmpolicy",
	} {
		inv, err := g.Parse(dynamicCtx(g), line)
		require.NoError(t, err, line)
		require.Equal(t, id, inv.Cmd.ID, line)
	}
	inv, err := g.Parse(nil, "ipsec dyn sh mmf all")
	require.NoError(t, err)
	require.Equal(t, "dynamic.show.mmfilter", inv.Cmd.ID)
	inv, err = g.Parse(nil, "ipsec dyn")
	require.NoError(t, err)
	require.True(t, inv.Enter)
	require.Equal(t, "netsh ipsec dynamic>", inv.Ctx.Prompt())
}

func TestSetConfig(t *testing.T) {
	g := New()
	ok := []struct {
		line string
		want ConfigValue
	}{
		{"set config ipsecdiagnostics 0", ConfigValue{Property: ConfigIPsecDiagnostics}},
		{"set config property=ipsecdiagnostics value=7", ConfigValue{Property: ConfigIPsecDiagnostics, Int: 7}},
		{"set config ikelogging 1", ConfigValue{Property: ConfigIKELogging, Int: 1}},
		{"set config strongcrlcheck 2", ConfigValue{Property: ConfigStrongCRLCheck, Int: 2}},
		{"set config ipsecloginterval 60", ConfigValue{Property: ConfigIPsecLogInterval, Int: 60}},
		{"set config ipsecloginterval value=86400", ConfigValue{Property: ConfigIPsecLogInterval, Int: 86400}},
		{"set config ipsecexempt value=0", ConfigValue{Property: ConfigIPsecExempt}},
		{"set config IPSECEXEMPT VALUE=3", ConfigValue{Property: ConfigIPsecExempt, Int: 3}},
		{"set config bootmode value=stateful", ConfigValue{Property: ConfigBootMode, BootMode: BootStateful}},
		{"set config bootmode BLOCK", ConfigValue{Property: ConfigBootMode, BootMode: BootBlock}},
		{"set config bootmode p", ConfigValue{Property: ConfigBootMode, BootMode: BootPermit}},
		{"set config bootexemptions none", ConfigValue{Property: ConfigBootExemptions}},
		{"set config bootexemptions NONE", ConfigValue{Property: ConfigBootExemptions}},
		{`set config bootexemptions value="TCP:0:80:inbound udp:68:67:OUTBOUND ICMP:0:0:in 47:0:0:out RAW:0:0:inbound ANY:0:0:outbound"`,
			ConfigValue{Property: ConfigBootExemptions, Exemptions: []BootExemption{
				{Protocol: ipsec.ProtoTCP, DstPort: 80, Direction: BootInbound},
				{Protocol: ipsec.ProtoUDP, SrcPort: 68, DstPort: 67, Direction: BootOutbound},
				{Protocol: ipsec.ProtoICMP, Direction: BootInbound},
				{Protocol: 47, Direction: BootOutbound},
				{Protocol: ipsec.ProtoRAW, Direction: BootInbound},
				{Protocol: ipsec.ProtoAny, Direction: BootOutbound},
			}}},
	}
	for _, c := range ok {
		inv, err := g.Parse(dynamicCtx(g), c.line)
		require.NoError(t, err, c.line)
		require.Equal(t, "dynamic.set.config", inv.Cmd.ID)
		cv, err := inv.Config()
		require.NoError(t, err, c.line)
		require.Equal(t, c.want, cv, c.line)
	}
	cv, err := ParseConfigValue(ConfigBootExemptions, "TCP:0:80:inbound udp:68:67:OUTBOUND 47:0:0:out")
	require.NoError(t, err)
	require.Equal(t, "TCP:0:80:inbound UDP:68:67:outbound 47:0:0:outbound", cv.String())
	cv, _ = ParseConfigValue(ConfigBootExemptions, "none")
	require.Equal(t, "none", cv.String())
	cv, _ = ParseConfigValue(ConfigBootMode, "Stateful")
	require.Equal(t, "stateful", cv.String())
	cv, _ = ParseConfigValue(ConfigIPsecLogInterval, "3600")
	require.Equal(t, "3600", cv.String())
	for p, name := range map[int]string{
		ConfigIPsecDiagnostics: "ipsecdiagnostics", ConfigIKELogging: "ikelogging", ConfigStrongCRLCheck: "strongcrlcheck",
		ConfigIPsecLogInterval: "ipsecloginterval", ConfigIPsecExempt: "ipsecexempt", ConfigBootMode: "bootmode",
		ConfigBootExemptions: "bootexemptions", 0: "", 99: "",
	} {
		require.Equal(t, name, ConfigPropertyName(p))
	}

	const bx = "ERR IPsec[05066] : bootexemptions must be none or a space separated list of Protocol:SrcPort:DstPort:Direction entries"
	bad := []struct {
		prop int
		raw  string
		code ErrCode
		text string
	}{
		{ConfigIPsecDiagnostics, "8", ErrConfigDiagnostics, "ERR IPsec[05060] : ipsecdiagnostics must be an integer from 0 to 7."},
		{ConfigIPsecDiagnostics, "-1", ErrConfigDiagnostics, "ERR IPsec[05060] : ipsecdiagnostics must be an integer from 0 to 7."},
		{ConfigIPsecDiagnostics, "+1", ErrConfigDiagnostics, "ERR IPsec[05060] : ipsecdiagnostics must be an integer from 0 to 7."},
		{ConfigIPsecDiagnostics, "seven", ErrConfigDiagnostics, "ERR IPsec[05060] : ipsecdiagnostics must be an integer from 0 to 7."},
		{ConfigIKELogging, "2", ErrConfigIKELogging, "ERR IPsec[05061] : ikelogging must be 0 or 1."},
		{ConfigIKELogging, "yes", ErrConfigIKELogging, "ERR IPsec[05061] : ikelogging must be 0 or 1."},
		{ConfigStrongCRLCheck, "3", ErrConfigCRLCheck, "ERR IPsec[05062] : strongcrlcheck must be an integer from 0 to 2."},
		{ConfigIPsecLogInterval, "59", ErrConfigLogInterval, "ERR IPsec[05063] : ipsecloginterval must be an integer from 60 to 86400 (seconds)."},
		{ConfigIPsecLogInterval, "86401", ErrConfigLogInterval, "ERR IPsec[05063] : ipsecloginterval must be an integer from 60 to 86400 (seconds)."},
		{ConfigIPsecLogInterval, "99999999999", ErrConfigLogInterval, "ERR IPsec[05063] : ipsecloginterval must be an integer from 60 to 86400 (seconds)."},
		{ConfigIPsecExempt, "4", ErrConfigExempt, "ERR IPsec[05064] : ipsecexempt must be an integer from 0 to 3."},
		{ConfigIPsecExempt, "", ErrConfigExempt, "ERR IPsec[05064] : ipsecexempt must be an integer from 0 to 3."},
		{ConfigBootMode, "allow", ErrConfigBootMode, "ERR IPsec[05065] : bootmode must be stateful, block or permit."},
		{ConfigBootMode, "0", ErrConfigBootMode, "ERR IPsec[05065] : bootmode must be stateful, block or permit."},
		{ConfigBootExemptions, "", ErrConfigBootExempt, bx + "."},
		{ConfigBootExemptions, "TCP:80:inbound", ErrConfigBootExempt, bx + `; "TCP:80:inbound" is not valid: it does not have four fields separated by colons.`},
		{ConfigBootExemptions, "GRE:0:0:inbound", ErrConfigBootExempt, bx + `; "GRE:0:0:inbound" is not valid: the protocol must be TCP, UDP, ICMP, RAW, ANY or a number from 0 to 255.`},
		{ConfigBootExemptions, "256:0:0:inbound", ErrConfigBootExempt, bx + `; "256:0:0:inbound" is not valid: the protocol must be TCP, UDP, ICMP, RAW, ANY or a number from 0 to 255.`},
		{ConfigBootExemptions, ":0:0:inbound", ErrConfigBootExempt, bx + `; ":0:0:inbound" is not valid: the protocol must be TCP, UDP, ICMP, RAW, ANY or a number from 0 to 255.`},
		{ConfigBootExemptions, "TCP:65536:0:inbound", ErrConfigBootExempt, bx + `; "TCP:65536:0:inbound" is not valid: a port must be a number from 0 to 65535, 0 meaning any.`},
		{ConfigBootExemptions, "TCP:0:any:inbound", ErrConfigBootExempt, bx + `; "TCP:0:any:inbound" is not valid: a port must be a number from 0 to 65535, 0 meaning any.`},
		{ConfigBootExemptions, "ICMP:0:8:inbound", ErrConfigBootExempt, bx + `; "ICMP:0:8:inbound" is not valid: ports other than 0 can be given only with TCP or UDP.`},
		{ConfigBootExemptions, "TCP:0:80:both", ErrConfigBootExempt, bx + `; "TCP:0:80:both" is not valid: the direction must be inbound or outbound.`},
		{ConfigBootExemptions, "TCP:0:80:", ErrConfigBootExempt, bx + `; "TCP:0:80:" is not valid: the direction must be inbound or outbound.`},
		{ConfigBootExemptions, "TCP:0:80:inbound none", ErrConfigBootExempt, bx + `; "none" is not valid: none cannot be combined with other entries.`},
		{0, "1", ErrConfigProperty, "ERR IPsec[05069] : Unknown configuration property: use ipsecdiagnostics, ikelogging, strongcrlcheck, ipsecloginterval, ipsecexempt, bootmode or bootexemptions."},
	}
	for _, c := range bad {
		_, err := ParseConfigValue(c.prop, c.raw)
		var e *Error
		require.True(t, errors.As(err, &e), "%d %q: %v", c.prop, c.raw, err)
		require.Equal(t, c.code, e.Code, c.raw)
		require.Equal(t, c.text, e.Error(), c.raw)
		require.False(t, e.ShowUsage())
	}

	// Through a parsed line, the error points at the value.
	for line, col := range map[string]int{
		"set config ipsecdiagnostics value=9":           35,
		"set config ipsecdiagnostics 9":                 29,
		"set config property=ikelogging value = 5":      40,
		`set config bootexemptions "TCP:0:80:sideways"`: 27,
	} {
		inv, err := g.Parse(dynamicCtx(g), line)
		require.NoError(t, err, line)
		_, err = inv.Config()
		var e *Error
		require.True(t, errors.As(err, &e), line)
		require.Equal(t, col, e.Pos.Column, line)
		require.Equal(t, line, e.Line)
	}
	// Config on another command reports a missing value.
	inv, err := g.Parse(dynamicCtx(g), "show config")
	require.NoError(t, err)
	_, err = inv.Config()
	require.Error(t, err)
}

func TestDynamicComplete(t *testing.T) {
	g := New()
	d := dynamicCtx(g)
	cases := []struct {
		ctx  *Context
		line string
		want []string
	}{
		{d, "sh", []string{"show"}},
		{d, "show q", []string{"qmfilter", "qmpolicy", "qmsas"}},
		{d, "show mm", []string{"mmfilter", "mmpolicy", "mmsas"}},
		{d, "show m", []string{"mmfilter", "mmpolicy", "mmsas", "mode"}},
		{d, "add ", []string{"mmpolicy", "qmpolicy", "rule"}},
		{d, "delete ", []string{"all", "mmpolicy", "qmpolicy", "rule"}},
		{d, "set ", []string{"config", "mmpolicy", "mode", "qmpolicy", "rule"}},
		{nil, "ipsec dynamic show st", []string{"stats"}},
		// set config offers its tags; the property words come after property=.
		{d, "set config ", []string{"property=", "value="}},
		{d, "set config property=", []string{
			"property=bootexemptions", "property=bootmode", "property=ikelogging", "property=ipsecdiagnostics",
			"property=ipsecexempt", "property=ipsecloginterval", "property=strongcrlcheck"}},
		{d, "set config property=ipsec", []string{"property=ipsecdiagnostics", "property=ipsecexempt", "property=ipsecloginterval"}},
		{d, "set config prop=boot", []string{"prop=bootexemptions", "prop=bootmode"}},
		{d, "add qmpolicy q pfsgroup=", []string{"pfsgroup=grp1", "pfsgroup=grp2", "pfsgroup=grp3", "pfsgroup=grpmm", "pfsgroup=nopfs"}},
		{d, "add rule any any m actionin", []string{"actioninbound="}},
		{d, "add rule any any m actioninbound=", []string{"actioninbound=block", "actioninbound=negotiate", "actioninbound=permit"}},
		{d, "add rule srcaddr=", []string{"srcaddr=any", "srcaddr=dhcp", "srcaddr=dns", "srcaddr=gateway", "srcaddr=me", "srcaddr=wins"}},
		{d, "delete mmpolicy ", []string{"all", "name="}},
		{d, "show mmsas ", []string{"all", "dstaddr=", "format=", "resolvedns=", "srcaddr="}},
		{d, "show mmsas all ", []string{"dstaddr=", "format=", "resolvedns="}},
		{d, "show stats type=", []string{"type=ike", "type=ipsec"}},
		{d, "show mmfilter all type=", []string{"type=generic", "type=specific"}},
		{d, "show rule type=", []string{"type=transport", "type=tunnel"}},
	}
	for _, c := range cases {
		got, _ := g.Complete(c.ctx, c.line, nil)
		require.Equal(t, c.want, got, c.line)
	}
}

// FuzzConfigValue checks that ParseConfigValue never panics, fails only
// with a *Error, and that a valid value survives String and a second parse.
func FuzzConfigValue(f *testing.F) {
	for _, s := range []string{"0", "7", "3600", "stateful", "b", "none", "TCP:0:80:inbound udp:68:67:out", "ICMP:0:8:in", ""} {
		for p := ConfigIPsecDiagnostics; p <= ConfigBootExemptions; p++ {
			f.Add(p, s)
		}
	}
	f.Fuzz(func(t *testing.T, p int, raw string) {
		cv, err := ParseConfigValue(p, raw)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		again, err := ParseConfigValue(p, cv.String())
		if err != nil {
			t.Fatalf("%q -> %q: %v", raw, cv.String(), err)
		}
		require.Equal(t, cv, again)
	})
}
