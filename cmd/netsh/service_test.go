package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/engine"
	"github.com/gonetsh/gonetsh/engine/agent"
	"github.com/gonetsh/gonetsh/engine/control"
	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

// syncBuffer is a bytes.Buffer safe for the service goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitSocket waits until a service answers on the socket of dir.
func waitSocket(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := control.Dial(filepath.Join(dir, socketName))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no service on %s: %v", dir, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startService runs `netsh --store dir service` in a goroutine until the
// returned stop is called; stop returns its exit status and its log. The
// test fails if the service is left running.
func startService(t *testing.T, dir string) (stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, []string{"--store", dir, "--dataplane=off", "service"}, strings.NewReader(""), &log, &log)
	}()
	waitSocket(t, dir)
	var once sync.Once
	var code int
	stop = func() (int, string) {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the service did not stop")
			}
		})
		return code, log.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestServiceOneShot(t *testing.T) {
	dir := t.TempDir()
	stop := startService(t, dir)

	r := netsh(t, dir, "", "ipsec", "dynamic", "show", "config")
	assert.Equal(t, 0, r.code, r.out)
	assert.Equal(t, "", r.err, "no notice: the service runs the command")
	assert.Contains(t, r.out, "IPsecexempt            : ")

	// One shell sets, another sees it: both went to the one engine.
	ok(t, dir, "ipsec", "dynamic", "set", "config", "ipsecexempt", "value=0")
	r = netsh(t, dir, "", "ipsec", "dynamic", "show", "config")
	assert.Contains(t, r.out, "IPsecexempt            : 0\n")
	ok(t, dir, "ipsec", "dynamic", "set", "config", "ipsecexempt", "value=3")
	r = netsh(t, dir, "", "-c", "ipsec dynamic", "show", "config")
	assert.Contains(t, r.out, "IPsecexempt            : 3\n")

	// A failing command fails the shell with the service's message.
	r = netsh(t, dir, "", "ipsec", "dynamic", "set", "config", "ipsecexempt", "value=9")
	assert.Equal(t, 1, r.code)
	assert.NotEmpty(t, r.out)
	assert.Equal(t, "", r.err)

	// Static commands stay in the shell.
	assert.Equal(t, result{"The Current IPsec Store is Local Store\n", "", 0},
		netsh(t, dir, "", "ipsec", "static", "show", "store"))

	code, log := stop()
	assert.Equal(t, 0, code, log)
	assert.Contains(t, log, "gonetsh service running")
	assert.Contains(t, log, "protocol=2")
	assert.Contains(t, log, "gonetsh service stopped")
	_, err := os.Lstat(filepath.Join(dir, socketName))
	assert.True(t, errors.Is(err, os.ErrNotExist), "socket left behind: %v", err)

	// With the service gone the shell hosts the engine again.
	r = netsh(t, dir, "", "ipsec", "dynamic", "show", "config")
	assert.Equal(t, engineNotice+"\n", r.err)
	assert.Contains(t, r.out, "IPsecexempt            : 3\n", "the setting persisted in the store")
}

// The same invocations print the same output and status whether the engine
// runs in the service or in the shell; only the notice differs. (The
// script's failing line makes both print its line number on stderr.)
func TestServiceSameAsInProcess(t *testing.T) {
	script := writeFile(t, t.TempDir(), "d.netsh",
		"pushd ipsec dynamic\nshow config\nset config bootmode value=block\nshow stats type=ike\npopd\n"+
			"ipsec\ndynamic show config\ndynamic set config property=ipsecloginterval value=600\n"+
			"dynamic set config property=ipsecexempt value=99\n") // fails: line 9
	invocations := [][]string{
		{"ipsec", "dynamic", "set", "config", "property=ipsecdiagnostics", "value=7"},
		{"-f", script},
		{"ipsec", "dynamic", "show", "config"},
		{"ipsec", "dynamic", "show", "stats"},
		{"ipsec", "dynamic", "show", "qmfilter", "all"},
		{"ipsec", "dynamic", "set", "config", "property=ipsecdiagnostics", "value=99"},
		{"ipsec", "dynamic", "show", "config", "?"},
	}
	local, remote := t.TempDir(), t.TempDir()
	startService(t, remote)
	var all strings.Builder
	for _, args := range invocations {
		want := netsh(t, local, "", args...)
		got := netsh(t, remote, "", args...)
		all.WriteString(want.out)
		// The IKE log file is in each store directory.
		assert.Equal(t, want.out, strings.ReplaceAll(got.out, remote, local), "%q", args)
		assert.Equal(t, want.code, got.code, "%q", args)
		assert.Equal(t, strings.Replace(want.err, engineNotice+"\n", "", 1), got.err, "%q", args)
	}
	assert.Contains(t, all.String(), "IPsec boot mode        : BLOCK\n", "the comparison saw real output")
	assert.Contains(t, all.String(), "IPsecloginterval       : 600\n")
	assert.Contains(t, all.String(), "IKE log file           : "+filepath.Join(local, "ike.log")+"\n")
}

// Many shells at once: every command runs, each shell sees its own output.
func TestServiceConcurrentShells(t *testing.T) {
	dir := t.TempDir()
	startService(t, dir)
	const shells = 12
	scripts := t.TempDir()
	var wg sync.WaitGroup
	results := make([]result, shells)
	for i := range shells {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Scripts, not the prompt: readline has process-wide state.
			var out, errb bytes.Buffer
			script := filepath.Join(scripts, fmt.Sprintf("%d.netsh", i))
			lines := fmt.Appendf(nil, "ipsec dynamic set config ipsecloginterval value=%d\nipsec dynamic show stats\n"+
				"ipsec dynamic add mmpolicy name=p%d\n"+
				"ipsec dynamic add rule srcaddr=10.0.%d.1 dstaddr=any mmpolicy=p%d actioninbound=block actionoutbound=block\n", 60+i, i, i, i)
			if err := os.WriteFile(script, lines, 0o600); err != nil {
				results[i] = result{err.Error(), "", -1}
				return
			}
			code := run([]string{"--store", dir, "-f", script}, nil, &out, &errb)
			results[i] = result{out.String(), errb.String(), code}
		}()
	}
	wg.Wait()
	for i, r := range results {
		assert.Equal(t, 0, r.code, "shell %d: %s", i, r.out)
		assert.Equal(t, "", r.err, "shell %d", i)
		assert.Contains(t, r.out, "IKE Main Mode Statistics", "shell %d", i)
	}
	r := netsh(t, dir, "", "ipsec", "dynamic", "show", "config")
	assert.Regexp(t, `IPsecloginterval\s+: (6\d|7[01])\n`, r.out)
	// The SPD holds every shell's rule: a mirrored block rule from one
	// host to any gives two specific filters (no address is local).
	r = netsh(t, dir, "", "ipsec", "dynamic", "show", "rule")
	assert.Contains(t, r.out, fmt.Sprintf("\n%d Rule(s)\n", shells))
	r = netsh(t, dir, "", "ipsec", "dynamic", "show", "qmfilter", "all", "type=specific")
	assert.Contains(t, r.out, fmt.Sprintf("\n%d Specific Filter(s)\n", 2*shells))
	for i := range shells {
		assert.Contains(t, r.out, fmt.Sprintf("Source Address         : 10.0.%d.1 (255.255.255.255)\n", i))
	}
}

// The service runs dynamic commands only: a client cannot reach the store
// or the file system through it.
func TestServiceRefusesOtherLines(t *testing.T) {
	dir := t.TempDir()
	startService(t, dir)
	c, err := control.Dial(filepath.Join(dir, socketName))
	require.NoError(t, err)
	defer c.Close()
	for _, line := range []string{
		"ipsec static add policy name=X",
		"exec /etc/passwd",
		"ipsec dynamic",
		"ipsec dynamic ?",
		"exit",
	} {
		out, _, ok, err := c.Exec(line)
		require.NoError(t, err, line)
		assert.False(t, ok, line)
		assert.Equal(t, string(errNotDynamic), string(out), line)
	}
	// A line that does not parse gets netsh's own error.
	out, _, ok, err := c.Exec("ipsec dynamic show nosuchthing")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Contains(t, string(out), "not found")
	// The session is still at netsh> and still works.
	out, _, ok, err = c.Exec("ipsec dynamic show config")
	require.NoError(t, err)
	assert.True(t, ok, string(out))
	assert.Equal(t, []string{"Server (Request Security)", "Client (Respond Only)", "Secure Server (Require Security)"}, policyNames(t, dir))
}

func TestServiceTwiceOnOneStore(t *testing.T) {
	dir := t.TempDir()
	startService(t, dir)
	var log bytes.Buffer
	code := run([]string{"--store", dir, "--dataplane=off", "service"}, nil, &log, &log)
	assert.Equal(t, 1, code)
	assert.Contains(t, log.String(), "socket in use")
	waitSocket(t, dir) // the first service still answers
}

func TestServiceArgs(t *testing.T) {
	for _, c := range []struct {
		args    []string
		service bool
		err     bool
	}{
		{[]string{"service"}, true, false},
		{[]string{"SERVICE"}, true, false},
		{[]string{"--service"}, true, false},
		{[]string{"service", "x"}, false, false}, // a netsh command line
		{[]string{"-f", "s", "--service"}, false, true},
		{[]string{"-c", "ipsec", "service"}, false, true},
	} {
		o, err := parseArgs(c.args)
		if c.err {
			assert.Error(t, err, "%q", c.args)
			continue
		}
		require.NoError(t, err, "%q", c.args)
		assert.Equal(t, c.service, o.service, "%q", c.args)
	}
}

// The binary: SIGTERM stops the service cleanly (status 0, socket removed).
func TestBinaryServiceSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	cmd := exec.Command(binary(t), "--store", dir, "--dataplane=off", "service")
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-waited
		}
	})
	waitSocket(t, dir)

	r := exe(t, dir, nil, "ipsec", "dynamic", "show", "config")
	assert.Equal(t, 0, r.code, r.out)
	assert.Equal(t, "", r.err)
	assert.Contains(t, r.out, "IPsecexempt")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-waited:
		require.NoError(t, err, log.String())
	case <-time.After(10 * time.Second):
		t.Fatal("the service ignored SIGTERM")
	}
	assert.Contains(t, log.String(), "gonetsh service stopped")
	_, err := os.Lstat(filepath.Join(dir, socketName))
	assert.True(t, errors.Is(err, os.ErrNotExist), "socket left behind: %v", err)
}

// recordingDataPath is the service's data path in tests: it records the
// SPDs the engine applies.
type recordingDataPath struct {
	mu   sync.Mutex
	spds []*agent.SPD
}

func (d *recordingDataPath) SetPolicy(spd *agent.SPD) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.spds = append(d.spds, spd)
	return nil
}

func (d *recordingDataPath) SetConfig(store.Config) error { return nil }
func (d *recordingDataPath) Stats() ipsec.IPsecStats      { return ipsec.IPsecStats{} }

func (d *recordingDataPath) last() *agent.SPD {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.spds[len(d.spds)-1]
}

// A static `set policy assign=yes` by another netsh process reaches the
// service's data path within 2 s with no command sent to the service; the
// service's show qmfilter type=specific then lists its specific filters.
func TestServiceAppliesStaticChange(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	require.NoError(t, err)
	dp := &recordingDataPath{}
	ctx, cancel := context.WithCancel(context.Background())
	var log syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runService(ctx, grammar.New(), dir, db, &log, &wiring{Options: func(o *engine.Options, _ *slog.Logger) error { o.DataPath = dp; return nil }})
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitSocket(t, dir)
	require.Empty(t, dp.last().QMSpecific, "nothing assigned at start")

	ok(t, dir, "ipsec", "static", "set", "policy", "name=Secure Server (Require Security)", "assign=yes")
	require.Eventually(t, func() bool { return dp.last().PolicyName == store.PolicySecureServer },
		2*time.Second, 10*time.Millisecond, "the watch applies the change without a command")
	require.Len(t, dp.last().QMSpecific, 4)

	r := netsh(t, dir, "", "ipsec", "dynamic", "show", "qmfilter", "all", "type=specific")
	assert.Equal(t, 0, r.code, r.out)
	assert.Equal(t, "", r.err)
	assert.Contains(t, r.out, "Policy name            : Require Security\nWeight                 : 8192\n")
	assert.Contains(t, r.out, "\n4 Specific Filter(s)\n")
}

// gpupdate reaches the service's engine (a Refresh request), at the
// prompt and as a one-shot command.
func TestServiceGpupdate(t *testing.T) {
	dir := t.TempDir()
	stop := startService(t, dir)
	assert.Equal(t, result{"Updating policy...\n\nComputer Policy update has completed successfully.\n", "", 0},
		netsh(t, dir, "", "gpupdate"))
	_, log := stop()
	assert.Contains(t, log, "gonetsh service stopped")

	// Without a service the shell refreshes its own engine, with the notice.
	assert.Equal(t, result{"Updating policy...\n\nComputer Policy update has completed successfully.\n", engineNotice + "\n", 0},
		netsh(t, dir, "", "gpupdate"))
}

// A shell that was talking to the service reconnects to the restarted
// service at its next dynamic command, and hosts the engine itself (with
// the notice, once) when no service answers any more.
func TestShellReconnects(t *testing.T) {
	skipOnTerminal(t)
	dir := t.TempDir()
	stopA := startService(t, dir)

	p := startPrompt(t, "--store", dir)
	typeLine, out, errb := p.typeLine, &p.out, &p.err

	typeLine("ipsec dynamic add mmpolicy name=first", "")
	typeLine("ipsec dynamic show mmpolicy name=first", "Policy Name            : first\n")
	code, _ := stopA()
	require.Equal(t, 0, code)
	startService(t, dir)

	// The new service runs the command: it does not know "first".
	typeLine("ipsec dynamic add mmpolicy name=second", "")
	typeLine("ipsec dynamic show mmpolicy all", "Policy Name            : second\n")
	assert.NotContains(t, out.String(), "Policy Name            : first\n\n")
	r := netsh(t, dir, "", "ipsec", "dynamic", "show", "mmpolicy", "name=second")
	assert.Equal(t, 0, r.code, "another shell finds it in the new service: %s", r.out)
	assert.Equal(t, "", errb.String(), "no notice while a service answers")
	assert.Equal(t, 0, p.exit())
}

// After the service stops for good the shell hosts the engine: the notice
// once, and the commands run.
func TestShellFallsBackToInProcess(t *testing.T) {
	skipOnTerminal(t)
	dir := t.TempDir()
	stop := startService(t, dir)
	p := startPrompt(t, "--store", dir, "-c", "ipsec dynamic")
	typeLine, errb := p.typeLine, &p.err
	typeLine("set config ipsecloginterval value=120", "")
	typeLine("show config", "IPsecloginterval       : 120\n")
	stop()
	typeLine("show mmpolicy name=gone", "ERR IPsec[13004] : The specified main mode policy was not found.\n")
	typeLine("show config", "IPsecloginterval       : 120\nIPsecexempt")
	assert.Regexp(t, `^netsh: the gonetsh service stopped answering \(.*\)\.\n`+regexp.QuoteMeta(engineNotice)+"\n$", errb.String())
	assert.Equal(t, 1, p.exit(), "the show of a missing policy failed")
}

// prompt is an interactive netsh running in a goroutine, its standard
// input a pipe the test types into.
type prompt struct {
	t        *testing.T
	typed    *io.PipeWriter
	out, err syncBuffer
	exited   chan int
}

func startPrompt(t *testing.T, args ...string) *prompt {
	in, typed := io.Pipe()
	p := &prompt{t: t, typed: typed, exited: make(chan int, 1)}
	go func() { p.exited <- run(args, in, &p.out, &p.err) }()
	return p
}

// typeLine types line and waits until the output holds want.
func (p *prompt) typeLine(line, want string) {
	p.t.Helper()
	_, err := io.WriteString(p.typed, line+"\n")
	require.NoError(p.t, err)
	require.Eventually(p.t, func() bool { return strings.Contains(p.out.String(), want) },
		10*time.Second, 5*time.Millisecond, "after %q: %s", line, p.out.String())
}

// exit ends the input and returns the exit status.
func (p *prompt) exit() int {
	p.typed.Close()
	return <-p.exited
}
