// Package shell is the netsh command interpreter: the context stack
// (netsh>, netsh ipsec>, netsh ipsec static>), the global commands, the
// dispatch of parsed ipsec commands to the policy store, netsh-shaped output
// and errors, scripts (-f, exec) and the interactive prompt.
//
// A Session is not safe for concurrent use; each netsh process, script or
// test owns one.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/store"
)

// Store is what the shell needs of the policy store (satisfied by
// *store.DB).
type Store interface {
	View(loc store.Location, fn func(*store.State) error) error
	Update(loc store.Location, fn func(*store.State) error) error
	BeginBatch(loc store.Location) error
	Flush() error
	Export(loc store.Location, w io.Writer) error
	Import(loc store.Location, r io.Reader) error
}

// Resolver turns a DNS name into an IPv4 address.
type Resolver func(ctx context.Context, name string) (netip.Addr, error)

// Config wires a Session. Only Store is required.
type Config struct {
	Grammar  *grammar.Grammar // nil: grammar.New()
	Store    Store
	Out      io.Writer        // command output and netsh's messages; nil: os.Stdout
	Err      io.Writer        // diagnostics netsh would not print (script line numbers); nil: os.Stderr
	Host     string           // computer name shown on Store lines; "": os.Hostname
	Resolver Resolver         // nil: the system resolver
	TimeZone *time.Location   // zone of Last Modified times; nil: time.Local
	Now      func() time.Time // the time of `show mmsas|qmsas` titles; nil: time.Now
	Open     func(name string) (io.ReadCloser, error)
	Create   func(name string) (io.WriteCloser, error)
	// Interactive makes errors point at the offending token with a caret.
	Interactive bool
	// Engine runs the `ipsec dynamic` commands; nil: they answer that the
	// session has no engine.
	Engine Engine
	// StartEngine, if set and Engine is nil, is called once at the first
	// dynamic command to start the engine lazily.
	StartEngine func() (Engine, error)
	// OnDynamic, if set, is called before each dynamic command runs on
	// Engine (cmd/netsh prints its one-time notice from it).
	OnDynamic func()
	// Forward, if set, runs the dynamic commands in place of Engine (a
	// gonetsh service runs them; see cmd/netsh). It gets the command as a
	// line relative to the root context (the current context's path, then
	// the line as typed) and returns what the command printed and whether
	// it succeeded; a failed command has printed its own error. An error
	// means the command could not be delivered or answered.
	Forward func(line string) (output []byte, ok bool, err error)
	// Refresh, if set, runs `gpupdate` in place of Engine.Refresh (the
	// gonetsh service refreshes; see cmd/netsh). Its error is printed.
	Refresh func() error
}

// Session is one netsh invocation: current context, pushd stack, current
// store, batch mode, and whether any command failed.
type Session struct {
	cfg     Config
	g       *grammar.Grammar
	ctx     *grammar.Context
	stack   []*grammar.Context
	loc     store.Location
	batch   bool
	offline bool
	failed  bool
	exited  bool
	depth   int // nested exec
}

// New returns a session at the root context on the local store.
func New(cfg Config) *Session {
	if cfg.Grammar == nil {
		cfg.Grammar = grammar.New()
	}
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	if cfg.Err == nil {
		cfg.Err = os.Stderr
	}
	if cfg.Host == "" {
		h, _ := os.Hostname()
		cfg.Host = strings.ToUpper(h)
	}
	if cfg.Resolver == nil {
		cfg.Resolver = systemResolve
	}
	if cfg.TimeZone == nil {
		cfg.TimeZone = time.Local
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Open == nil {
		cfg.Open = func(name string) (io.ReadCloser, error) { return os.Open(name) }
	}
	if cfg.Create == nil {
		cfg.Create = func(name string) (io.WriteCloser, error) { return os.Create(name) }
	}
	return &Session{cfg: cfg, g: cfg.Grammar, ctx: cfg.Grammar.Root, loc: store.Local}
}

func systemResolve(ctx context.Context, name string) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", name)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("%s has no IPv4 address", name)
	}
	return ips[0].Unmap(), nil
}

// Prompt returns the prompt of the current context, e.g. "netsh ipsec static>".
func (s *Session) Prompt() string { return s.ctx.Prompt() }

// Context returns the current context.
func (s *Session) Context() *grammar.Context { return s.ctx }

// Grammar returns the session's grammar.
func (s *Session) Grammar() *grammar.Grammar { return s.g }

// Enter makes path (e.g. "ipsec static") the current context, as `-c` does.
func (s *Session) Enter(path string) error {
	inv, err := s.g.Parse(s.g.Root, path)
	if err != nil || inv == nil || !inv.Enter {
		return fmt.Errorf("The following command was not found: %s.", path)
	}
	s.ctx = inv.Ctx
	return nil
}

// Exited reports whether exit, bye or quit ended the session.
func (s *Session) Exited() bool { return s.exited }

// Failed reports whether any command of the session failed.
func (s *Session) Failed() bool { return s.failed }

// Close ends the session: a pending batch is written.
func (s *Session) Close() error {
	if !s.batch {
		return nil
	}
	s.batch = false
	if err := s.cfg.Store.Flush(); err != nil {
		s.printErr(err)
		s.failed = true
		return err
	}
	return nil
}

// Exec runs one line in the current context and reports whether it
// succeeded. Output and netsh's messages go to Config.Out.
func (s *Session) Exec(line string) bool {
	inv, err := s.g.Parse(s.ctx, line)
	if err != nil {
		s.fail(line, err)
		return false
	}
	if inv == nil {
		return true
	}
	if err := s.run(inv); err != nil {
		s.fail(line, err)
		return false
	}
	return true
}

func (s *Session) fail(line string, err error) {
	s.failed = true
	if isScriptFailed(err) {
		return // the script's own lines reported their errors
	}
	var ge *grammar.Error
	if errors.As(err, &ge) && s.cfg.Interactive && ge.Pos.Column > 0 {
		fmt.Fprintf(s.cfg.Out, "%s\n%s^ (line %d, column %d)\n", line,
			strings.Repeat(" ", caretCol(line, ge.Pos.Offset)), ge.Pos.Line, ge.Pos.Column)
	}
	s.printErr(err)
}

// caretCol is the display column of byte offset off in line.
func caretCol(line string, off int) int {
	if off > len(line) {
		off = len(line)
	}
	return len([]rune(line[:off]))
}

func (s *Session) printErr(err error) {
	var ge *grammar.Error
	if errors.As(err, &ge) {
		fmt.Fprintln(s.cfg.Out, ge.Error())
		if ge.ShowUsage() {
			fmt.Fprint(s.cfg.Out, grammar.Usage(ge.Cmd))
		}
		return
	}
	fmt.Fprintln(s.cfg.Out, err.Error())
}

func (s *Session) run(inv *grammar.Invocation) error {
	switch {
	case inv.Enter:
		s.ctx = inv.Ctx
		return nil
	case inv.Help == grammar.HelpContext:
		fmt.Fprint(s.cfg.Out, s.g.ContextHelp(inv.Ctx))
		return nil
	case inv.Help == grammar.HelpGroup:
		fmt.Fprint(s.cfg.Out, s.g.GroupHelp(inv.Ctx, inv.Group))
		return nil
	case inv.Help == grammar.HelpCommand:
		fmt.Fprint(s.cfg.Out, grammar.Usage(inv.Cmd))
		return nil
	}
	if h, ok := globalHandlers[inv.Cmd.ID]; ok {
		return h(s, inv)
	}
	if h, ok := staticHandlers[inv.Cmd.ID]; ok {
		return h(s, inv)
	}
	if strings.HasPrefix(inv.Cmd.ID, "dynamic.") {
		if s.cfg.Forward != nil {
			return s.forward(inv)
		}
		return s.runDynamic(inv)
	}
	return fmt.Errorf("The following command was not found: %s.", strings.TrimSpace(inv.Line))
}

// forward runs a dynamic command through Config.Forward.
func (s *Session) forward(inv *grammar.Invocation) error {
	line := strings.TrimSpace(strings.Join(append(s.ctx.Path(), inv.Line), " "))
	out, ok, err := s.cfg.Forward(line)
	if _, werr := s.cfg.Out.Write(out); err == nil {
		err = werr
	}
	if err == nil && !ok {
		err = errScriptFailed // the service printed the error
	}
	return err
}

var globalHandlers map[string]func(*Session, *grammar.Invocation) error

func init() {
	globalHandlers = map[string]func(*Session, *grammar.Invocation) error{
		"global.up": func(s *Session, _ *grammar.Invocation) error {
			if s.ctx.Parent != nil {
				s.ctx = s.ctx.Parent
			}
			return nil
		},
		"global.help": func(s *Session, inv *grammar.Invocation) error {
			fmt.Fprint(s.cfg.Out, s.g.ContextHelp(inv.Ctx))
			return nil
		},
		"global.exit": func(s *Session, _ *grammar.Invocation) error {
			s.exited = true
			return nil
		},
		"global.pushd": func(s *Session, inv *grammar.Invocation) error {
			target := s.ctx
			if v, ok := inv.Get("context"); ok && v.Str == ".." {
				if s.ctx.Parent != nil {
					target = s.ctx.Parent
				}
			} else if ok && v.Str != "" {
				t, err := s.g.Parse(s.ctx, v.Str)
				if err != nil || t == nil || !t.Enter {
					return fmt.Errorf("The following command was not found: %s.", v.Str)
				}
				target = t.Ctx
			}
			s.stack = append(s.stack, s.ctx)
			s.ctx = target
			return nil
		},
		"global.popd": func(s *Session, _ *grammar.Invocation) error {
			if n := len(s.stack); n > 0 {
				s.ctx, s.stack = s.stack[n-1], s.stack[:n-1]
			}
			return nil
		},
		"global.exec": func(s *Session, inv *grammar.Invocation) error {
			v, _ := inv.Get("file")
			return s.execFile(v.Str)
		},
		"global.gpupdate": (*Session).gpupdate,
		"global.dump":     (*Session).dump,
		"ipsec.dump":      (*Session).dump,
		"global.abort":    func(*Session, *grammar.Invocation) error { return nil },
		"global.commit":   func(*Session, *grammar.Invocation) error { return nil },
		"global.offline": func(s *Session, _ *grammar.Invocation) error {
			s.offline = true
			return nil
		},
		"global.online": func(s *Session, _ *grammar.Invocation) error {
			s.offline = false
			return nil
		},
		"global.set.mode": func(s *Session, inv *grammar.Invocation) error {
			v, _ := inv.Get("mode")
			s.offline = v.Int == 0
			return nil
		},
		"global.show.mode": func(s *Session, _ *grammar.Invocation) error {
			if s.offline {
				fmt.Fprintln(s.cfg.Out, "offline")
			} else {
				fmt.Fprintln(s.cfg.Out, "online")
			}
			return nil
		},
	}
}

// maxExecDepth bounds nested exec so that a script that runs itself stops.
const maxExecDepth = 16

func (s *Session) execFile(name string) error {
	if s.depth >= maxExecDepth {
		return fmt.Errorf("The file %s could not be opened: scripts are nested more than %d deep.", name, maxExecDepth)
	}
	f, err := s.cfg.Open(name)
	if err != nil {
		return fmt.Errorf("The file %s could not be opened.", name)
	}
	defer f.Close()
	s.depth++
	defer func() { s.depth-- }()
	if !s.RunScript(f, name) {
		return errScriptFailed
	}
	return nil
}

// errScriptFailed marks an exec whose lines already reported their errors.
var errScriptFailed = errors.New("")
