// Command netsh is gonetsh's netsh.exe: the interactive prompt, one-shot
// commands (`netsh ipsec static show all`) and scripts (`netsh -f file`);
// `netsh service` runs the gonetsh service (service.go), to which shells on
// the same store send their `ipsec dynamic` commands.
//
// Exit status: 0 when every command succeeded, 1 when any failed (netsh's
// own behaviour varies by helper; see README), 2 for bad invocations.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gonetsh/gonetsh/engine"
	"github.com/gonetsh/gonetsh/engine/hostinfo"
	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/shell"
	"github.com/gonetsh/gonetsh/store"
)

const usage = `
Usage: netsh [-a AliasFile] [-c Context] [-r RemoteMachine] 
             [Command | -f ScriptFile]

gonetsh options (they never clash with netsh words):
  --store DIR       policy store directory (default: /var/lib/gonetsh as root,
                    else $XDG_STATE_HOME/gonetsh)
  --history FILE    interactive history file (default: <store dir>/history)
  --locale en-US    output locale; en-US is the only one
  --clock TIME      pin the store clock (RFC 3339) so Last Modified is
                    repeatable, for suites that compare show output

netsh service       run the gonetsh service (the IPsec engine) in the
                    foreground until SIGTERM; netsh shells on the same store
                    send their ipsec dynamic commands to it over the socket
                    <store dir>/control.sock (also: --service)
  --dataplane auto|on|off
                    the service's data path: a TUN device (gonetsh0), the
                    IKE and ESP sockets, kernel rules and routes in this
                    network namespace; auto (default) means on as root
netsh gpupdate      make the IPsec engine (the service's, or this netsh's)
                    re-read the policy store, the configuration and this
                    host's addresses and servers now
`

// options are the parsed command line.
type options struct {
	alias, context, script string
	storeDir, history      string
	clock                  time.Time
	help, service          bool
	dataplane              string // auto, on, off
	command                []string
}

func parseArgs(args []string) (options, error) {
	var o options
	for i := 0; i < len(args); i++ {
		a := args[i]
		value := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("option %s needs a value", a)
			}
			i++
			return args[i], nil
		}
		var err error
		switch {
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			switch name {
			case "store", "history", "locale", "clock", "dataplane":
				if !hasVal {
					if val, err = value(); err != nil {
						return o, err
					}
				}
			case "help", "service":
			default:
				return o, fmt.Errorf("unknown option --%s", name)
			}
			switch name {
			case "store":
				o.storeDir = val
			case "history":
				o.history = val
			case "clock":
				if o.clock, err = time.Parse(time.RFC3339, val); err != nil {
					return o, fmt.Errorf("--clock wants an RFC 3339 time such as 2026-11-27T09:05:07Z")
				}
			case "locale":
				if !strings.EqualFold(val, "en-US") {
					return o, fmt.Errorf("locale %s is not available; en-US is the only one", val)
				}
			case "help":
				o.help = true
			case "service":
				o.service = true
			case "dataplane":
				switch v := strings.ToLower(val); v {
				case "auto", "on", "off":
					o.dataplane = v
				default:
					return o, fmt.Errorf("--dataplane wants auto, on or off")
				}
			}
		case len(a) == 2 && (a[0] == '-' || a[0] == '/'):
			switch strings.ToLower(a[1:]) {
			case "?", "h":
				o.help = true
			case "a":
				o.alias, err = value()
			case "c":
				o.context, err = value()
			case "f":
				o.script, err = value()
			case "r", "u", "p":
				return o, fmt.Errorf("remote machines are not supported: gonetsh manages this computer only")
			default:
				o.command = args[i:]
				i = len(args)
			}
			if err != nil {
				return o, err
			}
		default:
			o.command = args[i:]
			i = len(args)
		}
	}
	if len(o.command) == 1 && strings.EqualFold(o.command[0], "service") {
		o.service, o.command = true, nil
	}
	if o.script != "" && len(o.command) > 0 {
		return o, fmt.Errorf("a command and -f cannot be combined")
	}
	if o.service && (o.script != "" || len(o.command) > 0 || o.alias != "" || o.context != "") {
		return o, fmt.Errorf("service takes no command, script, alias file or context")
	}
	return o, nil
}

// commandLine joins argv back into one netsh line, quoting what the
// invoking shell unquoted: `name=My Policy` becomes `name="My Policy"`.
func commandLine(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		parts[i] = a
		if a != "" && !strings.ContainsAny(a, " \t") {
			continue
		}
		if tag, val, ok := strings.Cut(a, "="); ok && tag != "" && !strings.ContainsAny(tag, " \t\"") {
			parts[i] = tag + `="` + val + `"`
		} else {
			parts[i] = `"` + a + `"`
		}
	}
	return strings.Join(parts, " ")
}

func defaultStoreDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/gonetsh"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "gonetsh")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "gonetsh")
	}
	return filepath.Join(home, ".local", "state", "gonetsh")
}

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdin, stdout, stderr)
}

// runContext is run; ending ctx stops `netsh service` as SIGTERM does.
func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "netsh: %v\n", err)
		fmt.Fprint(stdout, usage)
		return 2
	}
	g := grammar.New()
	if o.help {
		fmt.Fprint(stdout, usage)
		fmt.Fprint(stdout, g.ContextHelp(g.Root))
		return 0
	}
	if o.storeDir == "" {
		o.storeDir = defaultStoreDir()
	}
	if err := os.MkdirAll(o.storeDir, 0o700); err != nil {
		fmt.Fprintf(stdout, "%v\n", store.WithCause(store.CodeStoreOpen, err))
		return 1
	}
	var sopt store.Options
	if !o.clock.IsZero() {
		sopt.Clock = func() time.Time { return o.clock }
	}
	db, err := store.Open(o.storeDir, sopt)
	if err != nil {
		fmt.Fprintln(stdout, err)
		return 1
	}
	if o.service {
		return runService(ctx, g, o.storeDir, db, stderr, dataplaneWiring(o.dataplane, o.storeDir))
	}
	interactive := o.script == "" && len(o.command) == 0
	cfg := shell.Config{Grammar: g, Store: db, Out: stdout, Err: stderr, Interactive: interactive}
	// When a gonetsh service answers on the store's control socket, the
	// dynamic commands run there. Otherwise the IPsec engine runs in this
	// process until it exits, and the first dynamic command says so.
	svc, refused := dialService(o.storeDir)
	if svc != nil {
		r := newRemote(o.storeDir, g, db, svc, stderr)
		defer r.Close()
		cfg.Forward, cfg.Refresh = r.Exec, r.Refresh
	} else {
		// The in-process engine starts at the first dynamic command, so
		// static commands keep netsh's cold start short.
		var eng *engine.Engine
		defer func() {
			if eng != nil {
				eng.Stop()
			}
		}()
		cfg.StartEngine = func() (shell.Engine, error) {
			if eng = startEngine(db, stderr); eng == nil {
				return nil, fmt.Errorf("The IPsec engine could not be started.")
			}
			return eng, nil
		}
		var once sync.Once
		cfg.OnDynamic = func() {
			once.Do(func() {
				if refused != nil {
					fmt.Fprintf(stderr, "netsh: the gonetsh service did not accept this shell: %v\n", refused)
				}
				fmt.Fprintln(stderr, engineNotice)
			})
		}
	}
	sess := shell.New(cfg)
	if o.context != "" {
		if err := sess.Enter(o.context); err != nil {
			fmt.Fprintln(stdout, err)
			return 1
		}
	}
	if o.alias != "" {
		// A failing line of the alias file is reported and the session
		// goes on, as after exec; only a missing file or exit ends it.
		f, err := os.Open(o.alias)
		if err != nil {
			fmt.Fprintf(stdout, "The file %s could not be opened.\n", o.alias)
			return 1
		}
		sess.RunScript(f, o.alias)
		f.Close()
		if sess.Exited() {
			return status(sess)
		}
	}
	switch {
	case o.script != "":
		f, err := os.Open(o.script)
		if err != nil {
			fmt.Fprintf(stdout, "The file %s could not be opened.\n", o.script)
			return 1
		}
		defer f.Close()
		sess.RunScript(f, o.script)
	case len(o.command) > 0:
		sess.Exec(commandLine(o.command))
	default:
		history := o.history
		if history == "" {
			history = filepath.Join(o.storeDir, "history")
		}
		if err := shell.Interactive(sess, shell.TermConfig{Stdin: stdin, Stdout: stdout, Stderr: stderr, HistoryFile: history}); err != nil {
			fmt.Fprintf(stderr, "netsh: %v\n", err)
		}
	}
	return status(sess)
}

// engineNotice is printed on stderr at the first dynamic command.
const engineNotice = "netsh: no gonetsh service is running; the IPsec engine runs inside this netsh process until it exits."

// startEngine starts an in-process engine over db; on failure it reports
// on stderr and returns nil. The engine logs warnings (an assigned policy
// that does not compile) on stderr.
func startEngine(db *store.DB, stderr io.Writer) *engine.Engine {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := engine.New(engineOptions(db, log))
	if err == nil {
		err = eng.Start(context.Background())
	}
	if err != nil {
		fmt.Fprintf(stderr, "netsh: the IPsec engine did not start: %v\n", err)
		return nil
	}
	return eng
}

// ikeLogName is the IKE log file of `set config ikelogging 1`, in the
// store directory.
const ikeLogName = "ike.log"

// engineOptions wires an engine over db, in a shell or in the service:
// host discovery (engine/hostinfo) and the IKE log beside the store.
func engineOptions(db *store.DB, log *slog.Logger) engine.Options {
	return engine.Options{
		DB:         db,
		Logger:     log,
		Host:       hostinfo.Gather,
		IKELogPath: filepath.Join(filepath.Dir(db.Path()), ikeLogName),
	}
}

func status(sess *shell.Session) int {
	sess.Close()
	if sess.Failed() {
		return 1
	}
	return 0
}
