package grammar

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/stretchr/testify/require"
)

func staticCtx(g *Grammar) *Context { return g.Root.Lookup("ipsec", "static") }

// args renders the bound arguments as "tag=raw" in line order.
func args(inv *Invocation) string {
	var out []string
	if inv.Keyword != "" {
		out = append(out, "<"+inv.Keyword+">")
	}
	for _, a := range inv.Args {
		out = append(out, a.Tag+"="+a.Raw)
	}
	return strings.Join(out, " ")
}

func TestBinding(t *testing.T) {
	g := New()
	cases := []struct {
		line, id, want string
	}{
		// Microsoft's help example: untagged values fill srcaddr, dstaddr.
		{"add filter filterlist=Filter1 192.145.168.0 192.145.168.45 srcmask=24 dstmask=32",
			"static.add.filter", "filterlist=Filter1 srcaddr=192.145.168.0 dstaddr=192.145.168.45 srcmask=24 dstmask=32"},
		// Spaces around '=' in all four shapes.
		{`add policy Policy1 mmpfs= yes assign=yes mmsec="3DES-SHA1-3 DES-MD5-3 3DES-MD5-2"`,
			"static.add.policy", "name=Policy1 mmpfs=yes assign=yes mmsecmethods=3DES-SHA1-3 DES-MD5-3 3DES-MD5-2"},
		{"add policy name = SECCPP activatedefaultrule =no", "static.add.policy", "name=SECCPP activatedefaultrule=no"},
		{"exportpolicy file = ./ipsec.ipsec", "static.exportpolicy", "file=./ipsec.ipsec"},
		// filter= binds to filterlist, the first tag in usage order it prefixes.
		{"add rule name=3 policy=P filter=China_block filteraction=Block", "static.add.rule",
			"name=3 policy=P filterlist=China_block filteraction=Block"},
		{"add filter desc=x filterlist=L srcaddr=Me dstaddr=Any proto=TCP dstport=80 mir=no", "static.add.filter",
			"description=x filterlist=L srcaddr=Me dstaddr=Any protocol=TCP dstport=80 mirrored=no"},
		// Untagged value after tagged ones fills the first unfilled tag
		// (unverified on Windows: reference 1.5 rule (b)).
		{"add policy name=China_IP_block_list activatedefaultrule=yes free-text assign=yes", "static.add.policy",
			"name=China_IP_block_list activatedefaultrule=yes description=free-text assign=yes"},
		// all as a keyword; positional policy after it.
		{"del rule all ipsec_base_config", "static.delete.rule", "<all> policy=ipsec_base_config"},
		{"delete policy all", "static.delete.policy", "<all>"},
		{"show rule default policy=P", "static.show.rule", "<default> policy=P"},
		{"show filterlist %name% level=verbose format=table", "static.show.filterlist", "name=%name% level=verbose format=table"},
		{"set store local", "static.set.store", "location=local"},
		{`set policy "Restrict to WSUS" assign=YES`, "static.set.policy", "name=Restrict to WSUS assign=YES"},
		{"set policy name=Gamesvr assign=y", "static.set.policy", "name=Gamesvr assign=y"},
		// A whole argument quoted by a program still names its tag.
		{`add filter "filterlist=Name With Spaces" me any`, "static.add.filter", "filterlist=Name With Spaces srcaddr=me dstaddr=any"},
		// Case-insensitive commands, tags; abbreviated command words.
		{"SH ALL FORMAT=TABLE", "static.show.all", "format=TABLE"},
		{"del filteraction all", "static.delete.filteraction", "<all>"},
		{"set filteraction guid={11E6E97E-0031-49f5-AC7D-5F2FE99BABAF} inpass=y", "static.set.filteraction",
			"guid={11E6E97E-0031-49f5-AC7D-5F2FE99BABAF} inpass=y"},
		// Microsoft's help example: a server type opposite 0.0.0.0.
		{"add filter filterlist=Filter1 srcaddr=DHCP dstaddr=0.0.0.0 protocol=ICMP srcmask=255.255.255.255 dstmask=255.255.255.255",
			"static.add.filter", "filterlist=Filter1 srcaddr=DHCP dstaddr=0.0.0.0 protocol=ICMP srcmask=255.255.255.255 dstmask=255.255.255.255"},
		// Repeated rootca.
		{`add rule R P L A rootca="CN=A" rootca="CN=B certmap:yes"`, "static.add.rule",
			"name=R policy=P filterlist=L filteraction=A rootca=CN=A rootca=CN=B certmap:yes"},
	}
	for _, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			inv, err := g.Parse(staticCtx(g), c.line)
			require.NoError(t, err)
			require.Equal(t, c.id, inv.Cmd.ID)
			require.Equal(t, c.want, args(inv))
		})
	}
}

func TestTypedValues(t *testing.T) {
	g := New()
	inv, err := g.Parse(staticCtx(g),
		`add filter L srcaddr=10.1.2.0 dstaddr=www.example.com srcmask=255.255.255.0 dstmask=8 protocol=udp srcport=53 dstport=0 mirrored=NO`)
	require.NoError(t, err)
	src, _ := inv.Get("srcaddr")
	require.Equal(t, ipsec.Address{Kind: ipsec.AddrIP, IP: netip.MustParseAddr("10.1.2.0")}, src.Addr)
	dst, _ := inv.Get("dstaddr")
	require.Equal(t, ipsec.Address{Kind: ipsec.AddrDNSName, Name: "www.example.com"}, dst.Addr)
	m, _ := inv.Get("srcmask")
	require.Equal(t, ipsec.Mask(24), m.Mask)
	m, _ = inv.Get("dstmask")
	require.Equal(t, ipsec.Mask(8), m.Mask)
	p, _ := inv.Get("protocol")
	require.Equal(t, ipsec.ProtoUDP, p.Proto)
	port, _ := inv.Get("srcport")
	require.EqualValues(t, 53, port.Int)
	mir, _ := inv.Get("mirrored")
	require.False(t, mir.Bool)

	inv, err = g.Parse(staticCtx(g), `add filteraction name=FilterA qmpfs=yes soft=y action=NEG qmsec="AH[MD5]:204800k/300s ESP[DES,SHA1]:30000k/480s AH[SHA1]+ESP[3DES,None] ESP[AESGCM256,None]:3600s"`)
	require.NoError(t, err)
	act, _ := inv.Get("action")
	require.Equal(t, ipsec.ActionNegotiate, ipsec.Action(act.Int))
	qm, _ := inv.Get("qmsecmethods")
	require.Equal(t, []ipsec.QMOffer{
		{AH: ipsec.HashMD5, LifeKB: 204800, LifeSec: 300},
		{ESP: true, ESPCipher: ipsec.CipherDES, ESPAuth: ipsec.HashSHA1, LifeKB: 30000, LifeSec: 480},
		{AH: ipsec.HashSHA1, ESP: true, ESPCipher: ipsec.Cipher3DES, ESPAuth: ipsec.HashNone},
		{ESP: true, ESPCipher: ipsec.CipherAESGCM256, LifeSec: 3600},
	}, qm.QM)
	require.Equal(t, "AH[MD5]:204800k/300s", qm.QM[0].String())
	require.Equal(t, "AH[SHA1]+ESP[3DES,None]", qm.QM[2].String())

	inv, err = g.Parse(staticCtx(g), `add policy P mmsec="3des-sha1-3 DES-MD5-1 AES256-SHA256-20"`)
	require.NoError(t, err)
	mm, _ := inv.Get("mmsecmethods")
	require.Equal(t, []ipsec.MMOffer{
		{Cipher: ipsec.Cipher3DES, Hash: ipsec.HashSHA1, Group: ipsec.DHGroup14},
		{Cipher: ipsec.CipherDES, Hash: ipsec.HashMD5, Group: ipsec.DHGroup1},
		{Cipher: ipsec.CipherAES256, Hash: ipsec.HashSHA256, Group: ipsec.DHGroup20},
	}, mm.MM)
	require.Equal(t, "3DES-SHA1-3", mm.MM[0].String())

	inv, err = g.Parse(staticCtx(g), `add rule name=Rule policy=Policy filterlist=Filterlist filteraction=FilterAction kerberos=yes psk="my key" rootca="C=US,O=MSFT,CN=\'Microsoft North, South, East, and West Root Authority\' certmap:yes excludecaname:no"`)
	require.NoError(t, err)
	auth, given := inv.Auth()
	require.True(t, given)
	require.Equal(t, []ipsec.AuthMethod{
		{Kind: ipsec.AuthKerberos},
		{Kind: ipsec.AuthPSK, PSK: "my key"},
		{Kind: ipsec.AuthRootCA, CA: `C=US,O=MSFT,CN="Microsoft North, South, East, and West Root Authority"`, CertMap: true},
	}, auth)
}

func TestErrors(t *testing.T) {
	g := New()
	cases := []struct {
		line string
		code ErrCode
		text string
		col  int
	}{
		{"foo bar", ErrCmdNotFound, "The following command was not found: foo bar.", 1},
		{"s all", ErrCmdNotFound, "The following command was not found: s all.", 1}, // set|show: ambiguous
		{"add policy", ErrMissing, MsgMissing1 + "\n" + MsgMissing2 + "\n" + MsgSyntax, 0},
		{"add policy x bogus=1", ErrInvalidArg, "'bogus' is not a valid argument for this command.\n" + MsgSyntax, 14},
		{"add policy x mmpfs=maybe", ErrSyntax, MsgSyntax, 14},
		{"add policy x y yes 1 2 yes 3 no 3DES-SHA1-2 extra", ErrSyntax, MsgSyntax, 45},
		{"add policy x name=y", ErrDuplicateTag, "The tag 'name' was given more than once.\n" + MsgSyntax, 14},
		{"add policy x qmpermm=-1", ErrSyntax, MsgSyntax, 14},
		{"add filter l 1.2.3.256 me", ErrBadAddress, `ERR IPsec[05050] : "1.2.3.256" is not a valid IP address or DNS name.`, 14},
		{"add filter l 192,168.2.10 me", ErrBadAddress, `ERR IPsec[05050] : "192,168.2.10" is not a valid IP address or DNS name.`, 14},
		{"add filter l me any srcmask=255.0.255.0", ErrBadMask, `ERR IPsec[05051] : "255.0.255.0" is not a valid mask: give a dotted mask such as 255.255.255.0 or a prefix length from 0 to 32.`, 29},
		{"add filter l me any protocol=TCP dstport=70000", ErrBadPort, `ERR IPsec[05052] : Invalid port "70000": a port is a number in the range 0 to 65535.`, 42},
		{"add filter l me any protocol=tcpx", ErrBadProtocol, `ERR IPsec[05053] : "tcpx" is not a valid protocol: give ANY, ICMP, TCP, UDP, RAW or a number from 0 to 255.`, 30},
		{"add filter l dns any", ErrServerType, "ERR IPsec[05058] : When a server type (DNS, WINS, DHCP, GATEWAY) is given for one address, the other address must be me.", 18},
		{"add filter l me any dstport=80", ErrPortProtocol, "ERR IPsec[05059] : Ports can be given only when the protocol is TCP or UDP.", 21},
		{"add policy p mmsec=3DES-SHA1-4", ErrBadMMSec, `ERR IPsec[05054] : "3DES-SHA1-4" is not a valid main mode security method: use ConfAlg-HashAlg-GroupNum, e.g. 3DES-SHA1-2.`, 20},
		{"add filteraction a qmsec=ESP[None,None]", ErrBadQMSec, `ERR IPsec[05055] : "ESP[None,None]" is not a valid quick mode security method: ESP[None,None] protects nothing.`, 26},
		{"add filteraction a qmsec=ESP[DES,MD5]:100k", ErrBadQMSec, `ERR IPsec[05055] : "ESP[DES,MD5]:100k" is not a valid quick mode security method: the kilobyte lifetime must be from 20480 to 2147483647.`, 26},
		{"set filterlist guid={1234}", ErrBadGUID, `ERR IPsec[05057] : "{1234}" is not a valid GUID.`, 21},
		{`add rule r p l a rootca=" certmap:yes"`, ErrBadAuth, "ERR IPsec[05056] : The root certificate authority name is missing.", 25},
		{"set policy name=a guid={11E6E97E-0031-49f5-AC7D-5F2FE99BABAF}", ErrSyntax, MsgSyntax, 19},
	}
	for _, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			_, err := g.Parse(staticCtx(g), c.line)
			require.Error(t, err)
			e, ok := err.(*Error)
			require.True(t, ok, "%T", err)
			require.Equal(t, c.code, e.Code)
			require.Equal(t, c.text, e.Error())
			require.Equal(t, c.col, e.Pos.Column)
		})
	}
}

func TestContexts(t *testing.T) {
	g := New()
	inv, err := g.Parse(nil, "ipsec static")
	require.NoError(t, err)
	require.True(t, inv.Enter)
	require.Equal(t, "netsh ipsec static>", inv.Ctx.Prompt())

	inv, err = g.Parse(nil, "ipsec stat sh all")
	require.NoError(t, err)
	require.Equal(t, "static.show.all", inv.Cmd.ID)

	inv, err = g.Parse(nil, "IPSEC DYNAMIC")
	require.NoError(t, err)
	require.Equal(t, "netsh ipsec dynamic>", inv.Ctx.Prompt())

	// A sibling context is reachable by name from inside static.
	inv, err = g.Parse(staticCtx(g), "dynamic")
	require.NoError(t, err)
	require.Equal(t, "netsh ipsec dynamic>", inv.Ctx.Prompt())

	for _, l := range []string{"?", "help", "/?"} {
		inv, err = g.Parse(staticCtx(g), l)
		require.NoError(t, err)
		require.Equal(t, HelpContext, inv.Help)
	}
	inv, err = g.Parse(staticCtx(g), "show")
	require.NoError(t, err)
	require.Equal(t, HelpGroup, inv.Help)
	require.Equal(t, "show", inv.Group)
	inv, err = g.Parse(staticCtx(g), "add rule /?")
	require.NoError(t, err)
	require.Equal(t, HelpCommand, inv.Help)
	require.Equal(t, "static.add.rule", inv.Cmd.ID)

	for _, l := range []string{"..", "exit", "bye", "quit", "popd", "pushd ipsec static"} {
		inv, err = g.Parse(staticCtx(g), l)
		require.NoError(t, err, l)
		require.True(t, strings.HasPrefix(inv.Cmd.ID, "global."), l)
	}
	inv, err = g.Parse(nil, "pushd ipsec dynamic")
	require.NoError(t, err)
	v, _ := inv.Get("context")
	require.Equal(t, "ipsec dynamic", v.Str)
}

func TestHelpTexts(t *testing.T) {
	g := New()
	want := `
The following commands are available:

Commands in this context:
?              - Displays a list of commands.
add            - Creates new policies and related information.
delete         - Deletes policies and related information.
dump           - Displays a configuration script.
exportpolicy   - Exports all the policies from the policy store.
help           - Displays a list of commands.
importpolicy   - Imports the policies from a file to the policy store.
set            - Modifies existing policies and related information.
show           - Displays details of policies and related information.

To view help for a command, type the command, followed by a space, and then
 type ?.
`
	require.Equal(t, want, g.ContextHelp(staticCtx(g)))
	require.Contains(t, g.ContextHelp(g.Root.Lookup("ipsec")), "\nThe following sub-contexts are available:\n dynamic static\n")
	require.Contains(t, g.GroupHelp(staticCtx(g), "show"), "show gpoassignedpolicy - Displays details of a group assigned policy.\n")

	var addPolicy *Command
	for _, c := range staticCtx(g).Commands {
		if c.ID == "static.add.policy" {
			addPolicy = c
		}
	}
	u := Usage(addPolicy)
	require.True(t, strings.HasPrefix(u, "\nUsage:\n  add policy [ name = ] <string>\n             [ [ description = ] <string> ]\n"), u)
	require.Contains(t, u, "\nParameters:\n\n  Tag            Value\n  name          -Name of the policy.\n")
}

func TestComplete(t *testing.T) {
	g := New()
	names := fakeNames{RefPolicy: {"Server (Request Security)", "P1"}, RefFilterList: {"All IP Traffic", "L1"}}
	cases := []struct {
		ctx  *Context
		line string
		want []string
	}{
		{nil, "ip", []string{"ipsec"}},
		{nil, "ipsec st", []string{"static"}},
		{staticCtx(g), "sh", []string{"show"}},
		{staticCtx(g), "show f", []string{"filteraction", "filterlist"}},
		{staticCtx(g), "add rule name=x pol", []string{"policy="}},
		{staticCtx(g), "add rule name=x policy=", []string{`policy="Server (Request Security)"`, "policy=P1"}},
		{staticCtx(g), "add filteraction a action=", []string{"action=block", "action=negotiate", "action=permit"}},
		{staticCtx(g), "add filter l me any mirrored=", []string{"mirrored=no", "mirrored=yes"}},
		{staticCtx(g), "delete policy ", []string{"all", "name="}},
		{staticCtx(g), "show filterlist name=L", []string{"name=L1"}},
	}
	for _, c := range cases {
		got, _ := g.Complete(c.ctx, c.line, names)
		require.Equal(t, c.want, got, c.line)
	}
}

type fakeNames map[Ref][]string

func (f fakeNames) Names(r Ref) []string { return f[r] }
