package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chzyer/readline"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/grammar"
)

// These tests drive run() in-process, each on its own store directory
// (--store <t.TempDir()>), and a few cases through the built binary for the
// real exit status. They never run the generated 10,000-line workload of
// bench/script.sh: that is a benchmark (make bench), not a test.

// result is what one netsh invocation printed and returned.
type result struct {
	out, err string
	code     int
}

// netsh runs run() with --store dir, stdin as standard input.
func netsh(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"--store", dir}, args...), strings.NewReader(stdin), &out, &errb)
	return result{out.String(), errb.String(), code}
}

// ok runs a command that must succeed silently.
func ok(t *testing.T, dir string, args ...string) {
	t.Helper()
	r := netsh(t, dir, "", args...)
	require.Equal(t, result{"", "", 0}, r, "netsh %q", args)
}

// writeFile writes a script into dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// policyNames returns the names of the policies of the store in dir.
func policyNames(t *testing.T, dir string) []string {
	t.Helper()
	r := netsh(t, dir, "", "ipsec", "static", "show", "policy", "all", "format=json")
	require.Equal(t, 0, r.code, r.out)
	var doc struct {
		Policies []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		} `json:"policies"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.out), &doc), r.out)
	var names []string
	for _, p := range doc.Policies {
		names = append(names, p.Name)
	}
	return names
}

var builtinPolicies = []string{"Server (Request Security)", "Client (Respond Only)", "Secure Server (Require Security)"}

// skipOnTerminal skips interactive tests when the test process runs on a
// terminal: readline decides terminal mode from the process's own file
// descriptors, not from the injected stdin (see the report on shell.Interactive).
func skipOnTerminal(t *testing.T) {
	t.Helper()
	if readline.DefaultIsTerminal() {
		t.Skip("stdin and stdout are a terminal: readline would switch it to raw mode")
	}
}

func TestOneShotShowStore(t *testing.T) {
	r := netsh(t, t.TempDir(), "", "ipsec", "static", "show", "store")
	assert.Equal(t, result{"The Current IPsec Store is Local Store\n", "", 0}, r)
}

func TestOneShotAddPolicy(t *testing.T) {
	dir := t.TempDir()
	ok(t, dir, "ipsec", "static", "add", "policy", "name=X")
	r := netsh(t, dir, "", "ipsec", "static", "add", "policy", "name=X")
	assert.Equal(t, result{"ERR IPsec[05005] : Policy with name \"X\" already exists.\n", "", 1}, r)
	assert.Equal(t, append(builtinPolicies, "X"), policyNames(t, dir))
}

// A Unix shell removes the quotes of `name="My Policy"`: run gets one argv
// element with a space, and must hand it to netsh as one value.
func TestArgvWithSpaces(t *testing.T) {
	dir := t.TempDir()
	ok(t, dir, "ipsec", "static", "add", "policy", "name=My Policy", "description=two words = one value")
	ok(t, dir, "ipsec", "static", "add", "filterlist", "Web Servers") // positional, no tag
	ok(t, dir, "ipsec", "static", "add", "filter", "filterlist=Web Servers", "srcaddr=me", "dstaddr=any", "description=")

	r := netsh(t, dir, "", "ipsec", "static", "show", "policy", "name=My Policy", "format=json")
	require.Equal(t, 0, r.code, r.out)
	var doc struct {
		Policies []struct{ Name, Description string } `json:"policies"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.out), &doc))
	require.Len(t, doc.Policies, 1)
	assert.Equal(t, "My Policy", doc.Policies[0].Name)
	assert.Equal(t, "two words = one value", doc.Policies[0].Description)

	// The positional form names the same object.
	r = netsh(t, dir, "", "ipsec", "static", "show", "filterlist", "Web Servers", "format=json")
	require.Equal(t, 0, r.code, r.out)
	assert.Contains(t, r.out, `"name": "Web Servers"`)
	assert.Contains(t, r.out, `"srcaddr": "me"`)

	ok(t, dir, "ipsec", "static", "set", "policy", "My Policy", "newname=Our Policy")
	assert.Equal(t, append(builtinPolicies, "Our Policy"), policyNames(t, dir))
}

func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"ipsec", "static", "show", "all"}, "ipsec static show all"},
		{[]string{"add", "policy", "name=My Policy"}, `add policy name="My Policy"`},
		{[]string{"add", "policy", "My Policy"}, `add policy "My Policy"`},
		{[]string{"add", "filter", "description=a=b c"}, `add filter description="a=b c"`},
		{[]string{"add", "rule", ""}, `add rule ""`},
		{[]string{"x", "has space=1 2"}, `x "has space=1 2"`},
	} {
		assert.Equal(t, c.want, commandLine(c.argv), "%q", c.argv)
	}
}

func TestContextWithCommand(t *testing.T) {
	dir := t.TempDir()
	want := netsh(t, dir, "", "ipsec", "static", "show", "policy", "all")
	require.Equal(t, 0, want.code)
	require.Contains(t, want.out, "Policy Name            : Server (Request Security)\n")

	r := netsh(t, dir, "", "-c", "ipsec static", "show", "policy", "all")
	assert.Equal(t, want, r)

	// The command runs in the -c context: a bare `add policy` works.
	ok(t, dir, "-c", "ipsec static", "add", "policy", "InContext")
	assert.Contains(t, policyNames(t, dir), "InContext")

	r = netsh(t, dir, "", "-c", "ipsec nowhere", "show", "all")
	assert.Equal(t, result{"The following command was not found: ipsec nowhere.\n", "", 1}, r)
}

func TestContextInteractiveEOF(t *testing.T) {
	skipOnTerminal(t)
	dir := t.TempDir()
	r := netsh(t, dir, "", "-c", "ipsec static")
	assert.Equal(t, result{"", "", 0}, r, "stdin at EOF ends the prompt cleanly")

	// Lines typed at the prompt run in the -c context.
	r = netsh(t, dir, "add policy Typed\nshow store\nexit\nadd policy AfterExit\n", "-c", "ipsec static")
	assert.Equal(t, 0, r.code, r.out)
	assert.Contains(t, r.out, "The Current IPsec Store is Local Store\n")
	assert.Equal(t, append(builtinPolicies, "Typed"), policyNames(t, dir))

	// A failing line at the prompt makes the exit status 1.
	r = netsh(t, dir, "add policy Typed\n", "-c", "ipsec static")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.out, `ERR IPsec[05005] : Policy with name "Typed" already exists.`)
}

func TestHelp(t *testing.T) {
	g := grammar.New()
	want := usage + g.ContextHelp(g.Root)
	for _, arg := range []string{"/?", "-?", "-h", "/h", "--help"} {
		dir := filepath.Join(t.TempDir(), "store")
		r := netsh(t, dir, "", arg)
		assert.Equal(t, result{want, "", 0}, r, arg)
		assert.NoDirExists(t, dir, "help touches no store")
	}
	assert.True(t, strings.HasPrefix(want, "\nUsage: netsh [-a AliasFile] [-c Context] [-r RemoteMachine]"))
	assert.Contains(t, want, "The following sub-contexts are available:\n ipsec\n")
}

func TestBadInvocation(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--bogus"}, "unknown option --bogus"},
		{[]string{"--bogus=1", "ipsec"}, "unknown option --bogus"},
		{[]string{"-r", "host"}, "remote machines are not supported: gonetsh manages this computer only"},
		{[]string{"-r", "host", "ipsec", "static", "show", "all"}, "remote machines are not supported: gonetsh manages this computer only"},
		{[]string{"-u", "admin"}, "remote machines are not supported: gonetsh manages this computer only"},
		{[]string{"-p", "*"}, "remote machines are not supported: gonetsh manages this computer only"},
		{[]string{"--locale", "fr-FR"}, "locale fr-FR is not available; en-US is the only one"},
		{[]string{"--locale=fr-FR", "ipsec", "static", "show", "store"}, "locale fr-FR is not available; en-US is the only one"},
		{[]string{"-f"}, "option -f needs a value"},
		{[]string{"-c"}, "option -c needs a value"},
		{[]string{"-a"}, "option -a needs a value"},
		{[]string{"--locale"}, "option --locale needs a value"},
		{[]string{"-f", "script.netsh", "ipsec", "static", "show", "all"}, "a command and -f cannot be combined"},
	} {
		dir := filepath.Join(t.TempDir(), "store")
		r := netsh(t, dir, "", c.args...)
		assert.Equal(t, result{usage, "netsh: " + c.msg + "\n", 2}, r, "%q", c.args)
		assert.NoDirExists(t, dir, "a bad invocation touches no store")
	}
}

func TestLocale(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--locale", "en-US", "ipsec", "static", "show", "store"},
		{"--locale=en-us", "ipsec", "static", "show", "store"},
	} {
		assert.Equal(t, result{"The Current IPsec Store is Local Store\n", "", 0}, netsh(t, dir, "", args...), "%q", args)
	}
}

// A script written on Windows: UTF-8 BOM, CRLF, comments, blank lines, a
// failing line in the middle and exit before the end.
func TestScript(t *testing.T) {
	dir := t.TempDir()
	script := writeFile(t, t.TempDir(), "setup.netsh", strings.Join([]string{
		"\ufeff# lock-down script",
		"",
		"pushd ipsec static",
		"   # indented comment",
		"set store location=local",
		"add policy First",
		"add policy First",
		"\t",
		"add policy name=Second desc=\"after the failure\"",
		"popd",
		"exit",
		"ipsec static add policy AfterExit",
		"",
	}, "\r\n"))

	r := netsh(t, dir, "", "-f", script)
	assert.Equal(t, result{
		"ERR IPsec[05005] : Policy with name \"First\" already exists.\n",
		"netsh: " + script + ", line 7: add policy First\n",
		1,
	}, r)
	assert.Equal(t, append(builtinPolicies, "First", "Second"), policyNames(t, dir))
}

func TestScriptSuccess(t *testing.T) {
	dir := t.TempDir()
	script := writeFile(t, t.TempDir(), "ok.netsh", "pushd ipsec static\nadd filterlist L\nadd filter L me any\npopd\n")
	assert.Equal(t, result{"", "", 0}, netsh(t, dir, "", "-f", script))
}

func TestScriptWithContext(t *testing.T) {
	dir := t.TempDir()
	script := writeFile(t, t.TempDir(), "ctx.netsh", "add policy FromContext\nset policy FromContext assign=y\n")
	assert.Equal(t, result{"", "", 0}, netsh(t, dir, "", "-c", "ipsec static", "-f", script))
	assert.Equal(t, append(builtinPolicies, "FromContext"), policyNames(t, dir))
}

func TestScriptMissing(t *testing.T) {
	name := filepath.Join(t.TempDir(), "missing.netsh")
	r := netsh(t, t.TempDir(), "", "-f", name)
	assert.Equal(t, result{"The file " + name + " could not be opened.\n", "", 1}, r)
}

// Exit status as main's doc comment states it: 0 when every command
// succeeded, 1 when any failed, 2 for a bad invocation.
func TestExitStatus(t *testing.T) {
	scripts := t.TempDir()
	good := writeFile(t, scripts, "good.netsh", "ipsec static add policy G\n")
	mixed := writeFile(t, scripts, "mixed.netsh", "ipsec static add policy M\nipsec static delete policy Nope\nipsec static add policy M2\n")
	for _, c := range []struct {
		name string
		args []string
		want int
	}{
		{"one-shot ok", []string{"ipsec", "static", "show", "store"}, 0},
		{"one-shot show ok", []string{"ipsec", "static", "show", "policy", "all", "format=table"}, 0},
		{"one-shot ipsec error", []string{"ipsec", "static", "delete", "policy", "Nope"}, 1},
		{"one-shot unknown command", []string{"ipsec", "static", "frobnicate"}, 1},
		{"one-shot syntax error", []string{"ipsec", "static", "add", "policy"}, 1},
		{"script ok", []string{"-f", good}, 0},
		{"script with a failing line", []string{"-f", mixed}, 1},
		{"bad invocation", []string{"--bogus"}, 2},
		{"remote", []string{"-r", "host"}, 2},
	} {
		r := netsh(t, t.TempDir(), "", c.args...)
		assert.Equal(t, c.want, r.code, "%s: %q\n%s%s", c.name, c.args, r.out, r.err)
	}
}

func TestAliasFile(t *testing.T) {
	skipOnTerminal(t)
	files := t.TempDir()

	// The alias file runs first; the prompt then starts in the context the
	// file left, and stdin at EOF ends it.
	dir := t.TempDir()
	alias := writeFile(t, files, "alias file.netsh", "pushd ipsec static\nadd policy FromAlias\n")
	r := netsh(t, dir, "", "-a", alias)
	assert.Equal(t, result{"", "", 0}, r)
	assert.Equal(t, append(builtinPolicies, "FromAlias"), policyNames(t, dir))

	r = netsh(t, dir, "add policy Typed\n", "-a", writeFile(t, files, "push.netsh", "pushd ipsec static\n"))
	assert.Equal(t, result{"", "", 0}, r)
	assert.Equal(t, append(builtinPolicies, "FromAlias", "Typed"), policyNames(t, dir))

	// A failing line of the alias file is reported; the prompt still runs.
	dir = t.TempDir()
	failing := writeFile(t, files, "failing.netsh", "pushd ipsec static\ndelete policy Nope\n")
	r = netsh(t, dir, "add policy AfterFailure\n", "-a", failing)
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "ERR IPsec[05080] : Policy with name \"Nope\" does not exist.\n", r.out)
	assert.Equal(t, "netsh: "+failing+", line 2: delete policy Nope\n", r.err)
	assert.Contains(t, policyNames(t, dir), "AfterFailure")

	// exit in the alias file ends netsh before the prompt.
	dir = t.TempDir()
	r = netsh(t, dir, "ipsec static add policy NotTyped\n", "-a", writeFile(t, files, "exit.netsh", "exit\n"))
	assert.Equal(t, result{"", "", 0}, r)
	assert.Equal(t, builtinPolicies, policyNames(t, dir))

	name := filepath.Join(files, "missing.netsh")
	r = netsh(t, t.TempDir(), "", "-a", name)
	assert.Equal(t, result{"The file " + name + " could not be opened.\n", "", 1}, r)
}

// ---- through the built binary ----

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// binary builds cmd/netsh once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		buildDir, buildErr = os.MkdirTemp("", "netsh-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "netsh")
		out, err := exec.Command(goTool, "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		if errors.Is(buildErr, exec.ErrNotFound) {
			t.Skip("no go tool to build the binary")
		}
		t.Fatalf("go build: %v", buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// exe runs the binary with --store dir; stdin is a pipe (never a terminal).
func exe(t *testing.T, dir string, stdin io.Reader, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"--store", dir}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{out.String(), errb.String(), code}
}

func TestBinaryExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	assert.Equal(t, result{"The Current IPsec Store is Local Store\n", "", 0},
		exe(t, dir, nil, "ipsec", "static", "show", "store"))
	assert.Equal(t, result{"", "", 0}, exe(t, dir, nil, "ipsec", "static", "add", "policy", "name=My Policy"))
	assert.Equal(t, result{"ERR IPsec[05005] : Policy with name \"My Policy\" already exists.\n", "", 1},
		exe(t, dir, nil, "ipsec", "static", "add", "policy", "name=My Policy"))

	r := exe(t, dir, nil, "--bogus")
	assert.Equal(t, result{usage, "netsh: unknown option --bogus\n", 2}, r)
	r = exe(t, dir, nil, "-r", "host", "ipsec", "static", "show", "all")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.err, "remote machines are not supported")

	missing := filepath.Join(t.TempDir(), "missing.netsh")
	assert.Equal(t, result{"The file " + missing + " could not be opened.\n", "", 1}, exe(t, dir, nil, "-f", missing))

	script := writeFile(t, t.TempDir(), "s.netsh", "pushd ipsec static\r\nadd policy S\r\nadd policy S\r\nexit\r\n")
	r = exe(t, dir, nil, "-f", script)
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "netsh: "+script+", line 3: add policy S\n", r.err)

	// Interactive on a pipe: the lines run, EOF ends the prompt.
	r = exe(t, dir, strings.NewReader("add policy Piped\n"), "-c", "ipsec static")
	assert.Equal(t, result{"", "", 0}, r)
	r = exe(t, dir, strings.NewReader(""), "-c", "ipsec static")
	assert.Equal(t, result{"", "", 0}, r)

	r = exe(t, dir, nil, "/?")
	assert.Equal(t, 0, r.code)
	assert.True(t, strings.HasPrefix(r.out, usage), r.out)
}

// The engine runs in-process: the first dynamic command prints the notice
// once on stderr, and set config values persist to the next invocation.
func TestDynamicInProcessEngine(t *testing.T) {
	dir := t.TempDir()
	r := netsh(t, dir, "", "ipsec", "dynamic", "set", "config", "property=ipsecdiagnostics", "value=7")
	assert.Equal(t, result{"", engineNotice + "\n", 0}, r)

	script := writeFile(t, t.TempDir(), "d.netsh",
		"pushd ipsec dynamic\nshow config\nset config bootmode value=block\nshow stats type=ike\n")
	r = netsh(t, dir, "", "-f", script)
	assert.Equal(t, 0, r.code, r.out)
	assert.Equal(t, engineNotice+"\n", r.err, "the notice is printed once")
	assert.Contains(t, r.out, "IPsecDiagnostics       : 7\n")
	assert.Contains(t, r.out, "IKE Main Mode Statistics\n")

	r = netsh(t, dir, "", "ipsec", "dynamic", "show", "config")
	assert.Contains(t, r.out, "IPsec boot mode        : BLOCK\n")

	r = netsh(t, dir, "", "ipsec", "dynamic", "show", "mmsas")
	assert.Equal(t, result{"ERR IPsec[05070] : No Main Mode SAs in SPD.\n", engineNotice + "\n", 1}, r)

	// Static commands print no notice.
	assert.Equal(t, result{"The Current IPsec Store is Local Store\n", "", 0},
		netsh(t, dir, "", "ipsec", "static", "show", "store"))
}
