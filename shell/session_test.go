package shell_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/shell"
	"github.com/gonetsh/gonetsh/store"
)

// The prompt after each line: contexts, abbreviations, a context path
// with a command (no move), .., pushd/popd, and lines that fail.
func TestContextNavigation(t *testing.T) {
	e := newEnv(t)
	steps := []struct {
		line   string
		ok     bool
		prompt string
	}{
		{"", true, "netsh>"},
		{"ipsec", true, "netsh ipsec>"},
		{"static", true, "netsh ipsec static>"},
		{"..", true, "netsh ipsec>"},
		{"dynamic", true, "netsh ipsec dynamic>"},
		{"static", true, "netsh ipsec static>"}, // a sibling, found through the parent
		{"..", true, "netsh ipsec>"},
		{"..", true, "netsh>"},
		{"..", true, "netsh>"}, // the root has no parent
		{"IPSEC STATIC", true, "netsh ipsec static>"},
		{"..", true, "netsh ipsec>"},
		{"..", true, "netsh>"},
		{"ips st", true, "netsh ipsec static>"},
		{"..", true, "netsh ipsec>"},
		{"..", true, "netsh>"},
		{"ipsec static show store", true, "netsh>"}, // runs without moving
		{"ipsec static ?", true, "netsh>"},
		{"pushd ipsec static", true, "netsh ipsec static>"},
		{"pushd ipsec", true, "netsh ipsec>"}, // an ancestor's child, from static
		{"pushd", true, "netsh ipsec>"},
		{"popd", true, "netsh ipsec>"},
		{"popd", true, "netsh ipsec static>"},
		{"popd", true, "netsh>"},
		{"popd", true, "netsh>"}, // empty stack: nothing to pop
		{"pushd ipsec nowhere", false, "netsh>"},
		{"static", false, "netsh>"}, // not a child of the root
		{"ipsec bogus", false, "netsh>"},
	}
	for i, s := range steps {
		out, ok := e.exec(s.line)
		assert.Equal(t, s.ok, ok, "step %d %q: %s", i, s.line, out)
		assert.Equal(t, s.prompt, e.sess.Prompt(), "step %d %q", i, s.line)
	}
	out, _ := e.exec("pushd ipsec nowhere")
	assert.Equal(t, "The following command was not found: ipsec nowhere.\n", out)
	assert.False(t, e.sess.Exited())
}

func TestEnter(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.sess.Enter("ipsec static"))
	assert.Equal(t, "netsh ipsec static>", e.sess.Prompt())
	assert.Equal(t, "static", e.sess.Context().Name)
	err := e.sess.Enter("ipsec static show")
	require.EqualError(t, err, "The following command was not found: ipsec static show.")
	assert.Equal(t, "netsh ipsec static>", e.sess.Prompt(), "a failed Enter keeps the context")
	assert.False(t, e.sess.Failed(), "Enter is not a command")
}

// Failed() is sticky: false until a command fails, then true for good.
// Every kind of failure counts; help and empty lines do not.
func TestFailedSemantics(t *testing.T) {
	ok := []string{"", "   ", "?", "ipsec static add ?", "ipsec static show", "ipsec static show store",
		"ipsec static add policy P", "ipsec", "..", "show mode"}
	e := newEnv(t)
	for _, l := range ok {
		out, succeeded := e.exec(l)
		require.True(t, succeeded, "%q: %s", l, out)
		require.False(t, e.sess.Failed(), "after %q", l)
	}
	failing := []string{
		"bogus",                     // command not found
		"ipsec static add policy",   // missing parameter
		"ipsec static add policy P", // 05005
		"ipsec static add filter L me any srcmask=40", // value error
		"ipsec static show policy Nope",               // 05080
		"ipsec static set store domain",               // 05089
		"exec no-such-file",                           // file
	}
	for _, l := range failing {
		f := newEnv(t)
		f.run("ipsec static add policy P")
		out, succeeded := f.exec(l)
		assert.False(t, succeeded, "%q should fail: %s", l, out)
		assert.True(t, f.sess.Failed(), "after %q", l)
		out, succeeded = f.exec("ipsec static show store")
		assert.True(t, succeeded, out)
		assert.True(t, f.sess.Failed(), "Failed stays true after a later success (%q)", l)
	}
}

func TestExitCommands(t *testing.T) {
	for _, l := range []string{"exit", "bye", "quit", "ipsec static exit", "QUIT"} {
		e := newEnv(t)
		assert.False(t, e.sess.Exited())
		out, ok := e.exec(l)
		assert.True(t, ok, out)
		assert.Empty(t, out)
		assert.True(t, e.sess.Exited(), l)
		assert.False(t, e.sess.Failed(), l)
	}
}

// RunScript: comments, blank lines, a UTF-8 BOM and CRLF are skipped or
// removed; a failing line does not stop the script and is reported on
// Config.Err with its line number; exit stops it; the result says whether
// every line succeeded.
func TestRunScript(t *testing.T) {
	e := newEnv(t)
	script := "\ufeff# comment\r\n\r\n  # indented comment\r\npushd ipsec static\r\n" +
		"add filterlist S1\r\nadd filterlist S1\r\nadd filterlist S2\r\nexit\r\nadd filterlist S3\r\n"
	ok := e.sess.RunScript(strings.NewReader(script), "test.netsh")
	assert.False(t, ok)
	assert.Equal(t, "ERR IPsec[05010] : Filter List with name \"S1\" already exists.\n", e.out.take())
	assert.Equal(t, "netsh: test.netsh, line 6: add filterlist S1\n", e.err.take())
	assert.True(t, e.sess.Exited())
	assert.True(t, e.sess.Failed())
	assert.Equal(t, "netsh ipsec static>", e.sess.Prompt(), "the script's pushd stays in effect")

	g := newEnv(t)
	assert.True(t, g.sess.RunScript(strings.NewReader("ipsec static add filterlist A\n\nipsec static add filterlist B\n"), "ok.netsh"))
	assert.False(t, g.sess.Failed())
	assert.Empty(t, g.err.String())
	out, okShow := g.exec("ipsec static show filterlist B")
	assert.True(t, okShow, out)
}

// exec inside exec, and a script that runs itself: the nesting stops at
// 16 levels with one message, and every level reports its failing line.
func TestExecNested(t *testing.T) {
	e := newEnv(t)
	e.writeFile("outer.netsh", "exec inner.netsh\nipsec static add filterlist AfterInner\n")
	e.writeFile("inner.netsh", "ipsec static add filterlist FromInner\nipsec static add filterlist FromInner\n")
	out, ok := e.exec("exec outer.netsh")
	assert.False(t, ok)
	assert.Equal(t, "ERR IPsec[05010] : Filter List with name \"FromInner\" already exists.\n", out)
	assert.Equal(t, "netsh: inner.netsh, line 2: ipsec static add filterlist FromInner\n"+
		"netsh: outer.netsh, line 1: exec inner.netsh\n", e.err.take())
	out, ok = e.exec("ipsec static show filterlist AfterInner")
	assert.True(t, ok, out)

	f := newEnv(t)
	f.writeFile("self.netsh", "exec self.netsh\n")
	out, ok = f.exec("exec self.netsh")
	assert.False(t, ok)
	assert.Equal(t, "The file self.netsh could not be opened: scripts are nested more than 16 deep.\n", out)
	assert.Equal(t, strings.Repeat("netsh: self.netsh, line 1: exec self.netsh\n", 16), f.err.take())
}

// With Config.Interactive the failing line is echoed with a caret under
// the offending token; columns count characters, not bytes.
func TestCaret(t *testing.T) {
	cases := []struct {
		line string
		want string
	}{
		{"ipsec static add filterlist L1 colour=red", "" +
			"ipsec static add filterlist L1 colour=red\n" +
			"                               ^ (line 1, column 32)\n" +
			"'colour' is not a valid argument for this command.\n"},
		{`ipsec static add filterlist "Ünïcödé Liste" colour=red`, "" +
			`ipsec static add filterlist "Ünïcödé Liste" colour=red` + "\n" +
			"                                            ^ (line 1, column 45)\n" +
			"'colour' is not a valid argument for this command.\n"},
		{"ipsec static add filter L1 me any dstmask=255.0.255.0", "" +
			"ipsec static add filter L1 me any dstmask=255.0.255.0\n" +
			"                                          ^ (line 1, column 43)\n" +
			`ERR IPsec[05051] : "255.0.255.0" is not a valid mask: give a dotted mask such as 255.255.255.0 or a prefix length from 0 to 32.` + "\n"},
		{"frobnicate now", "" +
			"frobnicate now\n" +
			"^ (line 1, column 1)\n" +
			"The following command was not found: frobnicate now.\n"},
		// No position: the message alone.
		{"ipsec static add filterlist", "One or more essential parameters were not entered.\n"},
		// Store errors have no position either.
		{"ipsec static show policy Nope", "ERR IPsec[05080] : Policy with name \"Nope\" does not exist.\n"},
	}
	for _, c := range cases {
		e := newEnv(t)
		cfg := e.config()
		cfg.Interactive = true
		e.sess = shell.New(cfg)
		out, ok := e.exec(c.line)
		assert.False(t, ok)
		assert.True(t, strings.HasPrefix(out, c.want), "%q printed:\n%s", c.line, out)
	}
	// Without Interactive there is no echo.
	e := newEnv(t)
	out, _ := e.exec("frobnicate now")
	assert.Equal(t, "The following command was not found: frobnicate now.\n", out)
}

// batchScript is run with and without batch mode; its output must not
// depend on the mode.
var batchScript = []string{
	"add policy B1 description=batched",
	"add policy b1",
	"add filterlist BL",
	"add filter BL me any protocol=TCP dstport=80",
	"add filter BL me wsus.example.test",
	"add filteraction BA action=block",
	"add filteraction BN qmsec=\"ESP[3DES,SHA1]:3600s\"",
	"add rule name=R1 policy=B1 filterlist=BL filteraction=BA psk=k",
	"add rule name=R2 policy=B1 filterlist=BL filteraction=Nope",
	"set rule name=R1 policy=B1 filteraction=BN",
	"set policy B1 assign=yes",
	"set defaultrule B1 activate=no",
	"delete filterlist BL",
	"delete filter BL me wsus.example.test",
	"show policy B1 level=verbose",
	"show filterlist BL level=verbose format=table",
	"set filterlist BL newname=BatchList",
	"delete filteraction BA",
	"show all format=json",
	"dump",
}

// set batch mode=enable ... disable prints what the same commands print
// without batch mode and writes the store once.
func TestBatchMode(t *testing.T) {
	plain := newEnv(t)
	batch := newEnv(t)
	plain.run("ipsec static")
	batch.run("ipsec static")
	seqPlain := plain.seq(store.Local)
	seqBatch := batch.seq(store.Local)
	require.Equal(t, seqPlain, seqBatch)

	out, ok := batch.exec("set batch mode=enable")
	require.True(t, ok, out)
	require.Empty(t, out)
	writes := 0
	for _, line := range batchScript {
		pOut, pOK := plain.exec(line)
		bOut, bOK := batch.exec(line)
		assert.Equal(t, pOK, bOK, "%q: success", line)
		assert.Equal(t, pOut, bOut, "%q: output", line)
		assert.Equal(t, seqBatch, batch.seq(store.Local), "%q: batch mode wrote the store", line)
		if pOK && !strings.HasPrefix(line, "show") && line != "dump" {
			writes++
		}
	}
	assert.Equal(t, seqPlain+uint64(writes), plain.seq(store.Local), "one write per successful command without batch mode")
	require.Greater(t, writes, 1)

	out, ok = batch.exec("set batch mode=disable")
	require.True(t, ok, out)
	assert.Empty(t, out)
	assert.Equal(t, seqBatch+1, batch.seq(store.Local), "the batch is written once")
	assert.True(t, batch.sess.Failed(), "the batch held failing lines")
	assert.True(t, plain.sess.Failed())

	// The stores are the same, GUIDs and times included (same clock and
	// GUID sequence), read back through fresh sessions.
	plain.newSession()
	batch.newSession()
	p, _ := plain.exec("ipsec static show all format=json")
	b, _ := batch.exec("ipsec static show all format=json")
	assert.Equal(t, p, b)

	// A second disable writes nothing more.
	out, ok = batch.exec("ipsec static set batch mode=disable")
	assert.True(t, ok, out)
	assert.Equal(t, seqBatch+1, batch.seq(store.Local))
}

// Close writes a batch left pending (netsh exiting in batch mode); an
// empty batch writes nothing.
func TestBatchClose(t *testing.T) {
	e := newEnv(t)
	e.run("ipsec static set batch enable\nipsec static set batch enable")
	require.NoError(t, e.sess.Close())
	assert.Equal(t, uint64(0), e.seq(store.Local), "an empty batch writes nothing")

	e.newSession()
	e.run("ipsec static set batch enable\nipsec static add policy Pending\nipsec static add filterlist Pending")
	assert.Equal(t, uint64(0), e.seq(store.Local))
	require.NoError(t, e.sess.Close())
	assert.Equal(t, uint64(1), e.seq(store.Local))
	require.NoError(t, e.sess.Close(), "a second Close is a no-op")
	assert.Equal(t, uint64(1), e.seq(store.Local))

	e.newSession()
	out, ok := e.exec("ipsec static show policy Pending format=table")
	assert.True(t, ok, out)
	assert.Contains(t, out, "Pending")
}

// set store inside batch mode writes the batch of the store it leaves and
// batches the new one.
func TestBatchStoreSwitch(t *testing.T) {
	e := newEnv(t)
	e.run(`ipsec static set batch enable
ipsec static add policy InLocal
ipsec static set store persistent`)
	assert.Equal(t, uint64(1), e.seq(store.Local), "leaving the local store wrote its batch")
	e.run("ipsec static add policy InPersistent")
	assert.Equal(t, uint64(0), e.seq(store.Persistent), "the persistent store is batched")
	e.run("ipsec static set batch disable")
	assert.Equal(t, uint64(1), e.seq(store.Persistent))
	assert.Equal(t, uint64(1), e.seq(store.Local))

	e.newSession()
	_, ok := e.exec("ipsec static show policy InLocal")
	assert.True(t, ok)
	_, ok = e.exec("ipsec static show policy InPersistent")
	assert.False(t, ok, "InPersistent went to the persistent store")
	e.run("ipsec static set store persistent")
	_, ok = e.exec("ipsec static show policy InPersistent")
	assert.True(t, ok)
}

// Every store-changing command is one write, and a failing one writes
// nothing.
func TestOneWritePerCommand(t *testing.T) {
	e := newEnv(t)
	e.run("ipsec static add policy P")
	require.Equal(t, uint64(1), e.seq(store.Local))
	for _, l := range []string{
		"ipsec static add policy P",
		"ipsec static add rule name=R policy=P filterlist=Nope filteraction=Permit",
		"ipsec static delete filterlist \"All IP Traffic\"",
		"ipsec static add filter L me any srcmask=99",
		"ipsec static show policy all",
	} {
		_, _ = e.exec(l)
		assert.Equal(t, uint64(1), e.seq(store.Local), "%q wrote the store", l)
	}
	e.run("ipsec static add filterlist Spare")
	assert.Equal(t, uint64(2), e.seq(store.Local))
	// delete ... all keeps the lists in use, reports them, and still
	// writes the deletion of the others.
	out, ok := e.exec("ipsec static delete filterlist all")
	assert.False(t, ok)
	assert.Equal(t, ""+
		"ERR IPsec[05084] : Filter List \"All ICMP Traffic\" is used by rule \"ID 2\" in policy \"Server (Request Security)\" and cannot be deleted.\n"+
		"ERR IPsec[05084] : Filter List \"All IP Traffic\" is used by rule \"ID 1\" in policy \"Server (Request Security)\" and cannot be deleted.\n", out)
	assert.Equal(t, uint64(3), e.seq(store.Local))
	_, ok = e.exec("ipsec static show filterlist Spare")
	assert.False(t, ok, "Spare was deleted")
	out, _ = e.exec("ipsec static show filterlist all format=table")
	assert.Regexp(t, "(?s)All ICMP Traffic.*All IP Traffic.*No. of FilterLists     : 2\n$", out)
}

// The default response rule cannot be deleted; netsh says so with the
// store's code 05086.
func TestDeleteDefaultRule(t *testing.T) {
	e := newEnv(t)
	e.run("ipsec static add policy P")
	out, ok := e.exec("ipsec static delete rule id=0 policy=P")
	assert.False(t, ok)
	assert.Equal(t, "ERR IPsec[05086] : The default response rule of policy \"P\" cannot be deleted.\n", out)
}

// In a usage block every tag is separated from its description.
func TestUsageTagColumn(t *testing.T) {
	g := grammar.New()
	for _, c := range g.Commands(g.Root.Lookup("ipsec", "static")) {
		for _, t2 := range c.Tags {
			assert.Contains(t, grammar.Usage(c), fmt.Sprintf("  %s ", t2.Name), "%s: tag %s", c.Path(), t2.Name)
		}
	}
}

// delete filter matches a DNS name by the name as typed, so a filter
// stays deletable when its name no longer resolves.
func TestDeleteFilterUnresolvableName(t *testing.T) {
	e := newEnv(t)
	e.run(`ipsec static add filter L me wsus.example.test protocol=TCP dstport=8530
ipsec static add filter L me gw.example.test`)
	e.dns.forget("wsus.example.test")
	out, ok := e.exec("ipsec static add filter L me wsus.example.test")
	assert.False(t, ok)
	assert.Equal(t, "ERR IPsec[05050] : The DNS name \"wsus.example.test\" could not be resolved.\n", out)
	out, ok = e.exec("ipsec static delete filter L me WSUS.example.test protocol=TCP dstport=8530")
	assert.True(t, ok, out)
	assert.Empty(t, out)
	out, ok = e.exec("ipsec static show filterlist L format=json")
	require.True(t, ok, out)
	assert.NotContains(t, out, "wsus.example.test")
	assert.Contains(t, out, `"dstaddr": "gw.example.test"`)
	out, ok = e.exec("ipsec static delete filter L me wsus.example.test")
	assert.False(t, ok)
	assert.Equal(t, "ERR IPsec[05087] : No filter in Filter List \"L\" matches the given specification.\n", out)
}
