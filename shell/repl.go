package shell

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/chzyer/readline"

	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/store"
)

// TermConfig is the terminal of an interactive session. Tests inject Stdin
// and Stdout and force terminal mode.
type TermConfig struct {
	Stdin       io.Reader
	Stdout      io.Writer
	Stderr      io.Writer
	HistoryFile string // "" keeps no history
	// ForceTerminal treats Stdin as a terminal (raw key handling: Tab
	// completes, Ctrl-C cancels the line, Ctrl-D on an empty line leaves).
	ForceTerminal bool
}

// Interactive runs the prompt until exit, bye, quit or Ctrl-D. Ctrl-C
// cancels the line being typed. History is kept in HistoryFile.
func Interactive(s *Session, tc TermConfig) error {
	cfg := &readline.Config{
		Prompt:            s.Prompt() + " ",
		HistoryFile:       tc.HistoryFile,
		HistorySearchFold: true,
		AutoComplete:      &completer{s: s},
		InterruptPrompt:   "^C",
		EOFPrompt:         "",
		Stdin:             io.NopCloser(tc.Stdin),
		Stdout:            tc.Stdout,
		Stderr:            tc.Stderr,
	}
	// Terminal mode follows the streams given, not the process's own: an
	// in-process caller with a pipe must never put the real terminal in
	// raw mode.
	cfg.FuncIsTerminal = func() bool { return isTerminal(tc.Stdin) && isTerminal(tc.Stdout) }
	if tc.ForceTerminal {
		cfg.FuncIsTerminal = func() bool { return true }
		cfg.FuncMakeRaw = func() error { return nil }
		cfg.FuncExitRaw = func() error { return nil }
		cfg.FuncGetWidth = func() int { return 80 }
	}
	rl, err := readline.NewEx(cfg)
	if err != nil {
		return err
	}
	defer rl.Close()
	// Output goes through readline so that it does not garble the line
	// being edited.
	out := rl.Stdout()
	s.cfg.Out = out
	var buf bytes.Buffer
	for !s.Exited() {
		line, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			continue
		}
		if err != nil { // io.EOF: Ctrl-D or end of input
			break
		}
		// Fix: a command's output reaches readline in one write. Right
		// after Enter readline's reader may still count as reading, and
		// then it redraws the prompt after a write; with several writes
		// (caret line, message, usage) the prompt landed in the middle of
		// the output and stayed there.
		buf.Reset()
		s.cfg.Out = &buf
		s.Exec(line)
		s.cfg.Out = out
		if buf.Len() > 0 {
			_, _ = out.Write(buf.Bytes()) // a terminal write error leaves nothing to report to
		}
		rl.SetPrompt(s.Prompt() + " ")
	}
	return nil
}

// completer adapts grammar.Complete to readline: candidates are the rest
// of each completion after the partial word.
type completer struct{ s *Session }

func (c *completer) Do(line []rune, pos int) ([][]rune, int) {
	cands, partial := c.s.g.Complete(c.s.ctx, string(line[:pos]), storeNames{c.s})
	out := make([][]rune, 0, len(cands))
	for _, cand := range cands {
		rest := cand[len(partial):]
		if !strings.HasSuffix(cand, "=") {
			rest += " "
		}
		out = append(out, []rune(rest))
	}
	return out, len([]rune(partial))
}

// storeNames lists object names of the session's current store for
// completion; a store that cannot be read offers none.
type storeNames struct{ s *Session }

func (n storeNames) Names(r grammar.Ref) []string {
	var out []string
	_ = n.s.view(func(st *store.State) error {
		switch r {
		case grammar.RefPolicy:
			for _, p := range st.Policies {
				out = append(out, p.Name)
			}
		case grammar.RefFilterList:
			for _, l := range st.FilterLists {
				out = append(out, l.Name)
			}
		case grammar.RefFilterAction:
			for _, a := range st.FilterActions {
				out = append(out, a.Name)
			}
		case grammar.RefRule:
			for _, p := range st.Policies {
				for _, r := range p.Rules {
					out = append(out, r.Name)
				}
			}
		}
		return nil
	})
	return out
}

// isTerminal reports whether v is an *os.File open on a terminal.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && readline.IsTerminal(int(f.Fd()))
}
