package shell_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/shell"
)

// termTimeout bounds every wait of the interactive tests: no test hangs.
const termTimeout = 10 * time.Second

// Key codes readline acts on.
const (
	keyEnter = "\r"
	keyTab   = "\t"
	keyCtrlC = "\x03"
	keyCtrlD = "\x04"
)

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// clean removes readline's escape sequences and carriage returns.
func clean(s string) string { return strings.ReplaceAll(ansi.ReplaceAllString(s, ""), "\r", "") }

// render replays what readline wrote on a minimal terminal (80 columns,
// \n also returns the carriage) and returns the screen lines with trailing
// blanks removed, and the cursor. readline redraws the line being edited
// on every key (\r, erase line, prompt and buffer), so only a replay shows
// what the user sees.
func render(raw string) (lines []string, row, col int) {
	screen := [][]rune{{}}
	put := func(r rune) {
		for len(screen[row]) <= col {
			screen[row] = append(screen[row], ' ')
		}
		screen[row][col] = r
		col++
	}
	down := func() {
		row++
		for len(screen) <= row {
			screen = append(screen, []rune{})
		}
	}
	rs := []rune(raw)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\n':
			down()
			col = 0
		case '\r':
			col = 0
		case '\b':
			col = max(0, col-1)
		case '\x1b':
			m := ansi.FindString(string(rs[i:]))
			if m == "" {
				continue
			}
			i += len([]rune(m)) - 1
			n := 1
			if p := strings.Trim(m[2:len(m)-1], "?"); p != "" {
				fmt.Sscan(p, &n)
			}
			switch m[len(m)-1] {
			case 'A':
				row = max(0, row-n)
			case 'B':
				for range n {
					down()
				}
			case 'C':
				col += n
			case 'D':
				col = max(0, col-n)
			case 'K': // erase the line (readline sends 2K)
				screen[row] = screen[row][:0]
			case 'J': // erase to the end of the screen
				if col < len(screen[row]) {
					screen[row] = screen[row][:col]
				}
				screen = screen[:row+1]
			}
		default:
			put(r)
		}
	}
	for _, l := range screen {
		lines = append(lines, strings.TrimRight(string(l), " "))
	}
	return lines, row, col
}

// term drives shell.Interactive over a pipe: keys go in through send, and
// the wait helpers poll the rendered screen. Every wait is bounded.
type term struct {
	t      *testing.T
	in     *io.PipeWriter
	screen *syncBuffer
	done   chan error
}

func startTerm(t *testing.T, e *env, history string) *term {
	t.Helper()
	pr, pw := io.Pipe()
	tm := &term{t: t, in: pw, screen: e.out, done: make(chan error, 1)}
	go func() {
		tm.done <- shell.Interactive(e.sess, shell.TermConfig{
			Stdin:         pr,
			Stdout:        e.out,
			Stderr:        e.err,
			HistoryFile:   history,
			ForceTerminal: true,
		})
	}()
	// readline's reader goroutine outlives Close until its input ends.
	t.Cleanup(func() { pw.Close() })
	return tm
}

// send types keys; it fails the test if readline stops reading.
func (tm *term) send(keys string) {
	tm.t.Helper()
	wrote := make(chan error, 1)
	go func() {
		_, err := io.WriteString(tm.in, keys)
		wrote <- err
	}()
	select {
	case err := <-wrote:
		require.NoError(tm.t, err)
	case <-time.After(termTimeout):
		tm.t.Fatalf("readline did not read %q; screen:\n%s", keys, tm.dump())
	}
}

func (tm *term) dump() string {
	lines, row, col := render(tm.screen.String())
	return fmt.Sprintf("%s\n(cursor at row %d, column %d)", strings.Join(lines, "\n"), row, col)
}

// until polls the screen until ok accepts it.
func (tm *term) until(what string, ok func(lines []string, row, col int) bool) ([]string, int) {
	tm.t.Helper()
	deadline := time.Now().Add(termTimeout)
	for {
		lines, row, col := render(tm.screen.String())
		if ok(lines, row, col) {
			return lines, row
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("timed out waiting for %s; screen:\n%s", what, tm.dump())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// editing waits until the cursor line reads line with the cursor at its
// end: what the user sees while typing (and after a completion).
func (tm *term) editing(line string) {
	tm.t.Helper()
	tm.until(fmt.Sprintf("the edit line %q", line), func(lines []string, row, col int) bool {
		return lines[row] == strings.TrimRight(line, " ") && col == len([]rune(line)) && row == len(lines)-1
	})
}

// submit types keys (ending in Enter or Ctrl-C) and waits until the
// screen shows, below the edited line, exactly the lines want followed by
// prompt with the cursor after it.
//
// Waiting for the whole expected output (rather than for the first
// prompt) matters: readline redraws the edit line after a write while its
// reader still counts as reading, which can happen just after Enter, so a
// prompt may flash up in the middle of a command's output.
func (tm *term) submit(keys, prompt string, want ...string) {
	tm.t.Helper()
	_, from, _ := render(tm.screen.String())
	tm.send(keys)
	if want == nil {
		want = []string{}
	}
	var last []string
	deadline := time.Now().Add(termTimeout)
	for {
		lines, row, col := render(tm.screen.String())
		if row > from && row == len(lines)-1 && lines[row] == strings.TrimRight(prompt, " ") && col == len(prompt) {
			last = lines[from+1 : row]
			if assert.ObjectsAreEqual(want, last) {
				return
			}
		}
		if time.Now().After(deadline) {
			assert.Equal(tm.t, want, last, "output of %q", keys)
			tm.t.Fatalf("timed out waiting for the output of %q; screen:\n%s", keys, tm.dump())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// wait waits for Interactive to return.
func (tm *term) wait() error {
	tm.t.Helper()
	select {
	case err := <-tm.done:
		return err
	case <-time.After(termTimeout):
		tm.t.Fatalf("Interactive did not return; screen:\n%s", tm.dump())
		return nil
	}
}

// outputLines splits command output as the screen shows it.
func outputLines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func TestInteractive(t *testing.T) {
	e := newEnv(t)
	e.run(`ipsec static add policy P1
ipsec static add filterlist L1
ipsec static add filteraction A1`)
	cfg := e.config()
	cfg.Interactive = true // caret errors
	e.sess = shell.New(cfg)
	g := e.sess.Grammar()
	static := g.Root.Lookup("ipsec", "static")
	require.NotNil(t, static)
	var addPolicy *grammar.Command
	for _, c := range static.Commands {
		if c.ID == "static.add.policy" {
			addPolicy = c
		}
	}
	require.NotNil(t, addPolicy)
	// What `show filterlist all format=table` prints on this store.
	tableOut, ok := e.exec("ipsec static show filterlist all format=table")
	require.True(t, ok, tableOut)
	history := filepath.Join(t.TempDir(), "history")
	tm := startTerm(t, e, history)

	tm.editing("netsh> ")

	// A context name moves into the context; the prompt follows.
	tm.submit("ipsec"+keyEnter, "netsh ipsec> ")

	// Tab completes a unique prefix, with a space after a word.
	tm.send("stat" + keyTab)
	tm.editing("netsh ipsec> static ")
	tm.submit(keyEnter, "netsh ipsec static> ")

	tm.send("sh" + keyTab)
	tm.editing("netsh ipsec static> show ")
	tm.submit("store"+keyEnter, "netsh ipsec static> ", "The Current IPsec Store is Local Store")

	// First Tab: the part filteraction and filterlist share; second Tab:
	// both listed under the edit line. Ctrl-C closes the list and keeps
	// the line. (Enter while the list is open makes readline print a
	// stray prompt line, racing with the command's output.)
	tm.send("show f" + keyTab)
	tm.editing("netsh ipsec static> show filter")
	tm.send(keyTab)
	tm.until("the candidate list", func(lines []string, row, col int) bool {
		return row == len(lines)-2 && lines[row] == "netsh ipsec static> show filter" &&
			regexp.MustCompile(`^filteraction +filterlist$`).MatchString(lines[row+1])
	})
	tm.send(keyCtrlC)
	tm.editing("netsh ipsec static> show filter")
	tm.submit("list all format=table"+keyEnter, "netsh ipsec static> ", outputLines(tableOut)...)

	// A tag prefix completes to the tag and its '=', without a space.
	tm.send("add rule name=x pol" + keyTab)
	tm.editing("netsh ipsec static> add rule name=x policy=")
	tm.submit("P1 filterlist=L1 filteraction=A1"+keyEnter, "netsh ipsec static> ")

	// After tag=, names of existing objects complete, quoted when they
	// hold spaces.
	tm.send(`show policy name="Cl` + keyTab)
	tm.editing(`netsh ipsec static> show policy name="Client (Respond Only)" `)
	tm.submit(keyCtrlC, "netsh ipsec static> ")

	// ? prints the help of the current context.
	tm.submit("?"+keyEnter, "netsh ipsec static> ", outputLines(g.ContextHelp(static))...)

	// A syntax error echoes the line with a caret under the offending
	// token and its position, then the netsh message and the usage.
	tm.submit("add policy P2 bogus=1"+keyEnter, "netsh ipsec static> ", outputLines("add policy P2 bogus=1\n"+
		"              ^ (line 1, column 15)\n"+
		"'bogus' is not a valid argument for this command.\n"+
		grammar.MsgSyntax+"\n"+
		grammar.Usage(addPolicy))...)

	// A value error points at the value.
	tm.submit("add filter L1 me any srcmask=33"+keyEnter, "netsh ipsec static> ",
		"add filter L1 me any srcmask=33",
		"                             ^ (line 1, column 30)",
		`ERR IPsec[05051] : "33" is not a valid mask: give a dotted mask such as 255.255.255.0 or a prefix length from 0 to 32.`)

	// Ctrl-C cancels a half-typed line: it is not run.
	tm.send("add policy Cancelled")
	tm.editing("netsh ipsec static> add policy Cancelled")
	tm.submit(keyCtrlC, "netsh ipsec static> ")
	lines, row, _ := render(e.out.String())
	assert.Equal(t, "netsh ipsec static> add policy Cancelled^C", lines[row-1])
	tm.submit("show policy Cancelled"+keyEnter, "netsh ipsec static> ",
		`ERR IPsec[05080] : Policy with name "Cancelled" does not exist.`)

	// Ctrl-D on an empty line ends the session.
	tm.send(keyCtrlD)
	require.NoError(t, tm.wait())
	assert.False(t, e.sess.Exited(), "Ctrl-D is not the exit command")
	assert.Equal(t, "netsh ipsec static>", e.sess.Prompt())
	assert.True(t, e.sess.Failed(), "the bogus tag and the missing policy failed")

	// The rule typed with a completed tag exists.
	e.out.take()
	js, ok := e.exec("show rule name=x policy=P1 format=json")
	require.True(t, ok, js)
	assert.Contains(t, js, `"filterlist": "L1"`)

	// History holds the entered lines as they ran, not the cancelled one.
	data, err := os.ReadFile(history)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"ipsec",
		"static ",
		"show store",
		"show filterlist all format=table",
		"add rule name=x policy=P1 filterlist=L1 filteraction=A1",
		"?",
		"add policy P2 bogus=1",
		"add filter L1 me any srcmask=33",
		"show policy Cancelled",
	}, strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"))
}

// exit ends the interactive loop by itself, with no further input.
func TestInteractiveExit(t *testing.T) {
	for _, word := range []string{"exit", "bye", "quit", "EXIT"} {
		t.Run(word, func(t *testing.T) {
			e := newEnv(t)
			tm := startTerm(t, e, "")
			tm.editing("netsh> ")
			tm.submit("ipsec static"+keyEnter, "netsh ipsec static> ")
			tm.send(word + keyEnter)
			require.NoError(t, tm.wait())
			assert.True(t, e.sess.Exited())
			assert.False(t, e.sess.Failed())
		})
	}
}

// Without a terminal (end of input), the loop ends at EOF after running
// every line.
func TestInteractiveEOF(t *testing.T) {
	e := newEnv(t)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- shell.Interactive(e.sess, shell.TermConfig{Stdin: pr, Stdout: e.out, Stderr: e.err, ForceTerminal: true})
	}()
	go func() {
		io.WriteString(pw, "ipsec static add filterlist FromPipe"+keyEnter)
		pw.Close()
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(termTimeout):
		t.Fatalf("Interactive did not return at EOF; screen:\n%s", clean(e.out.String()))
	}
	out, ok := e.exec("ipsec static show filterlist FromPipe format=table")
	require.True(t, ok, out)
	assert.Contains(t, out, "FromPipe")
}
