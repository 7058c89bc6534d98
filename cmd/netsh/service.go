package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gonetsh/gonetsh/engine"
	"github.com/gonetsh/gonetsh/engine/control"
	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/shell"
	"github.com/gonetsh/gonetsh/store"
)

// socketName is the control socket of the gonetsh service, in the store
// directory.
const socketName = "control.sock"

// runService is `netsh service`: the engine as a foreground daemon that
// serves the control socket until ctx ends, SIGTERM or SIGINT. It logs on
// stderr and returns the exit status.
//
// Every connection gets its own shell session over the one engine; the
// control server runs the requests of all connections one at a time. The
// sessions run `ipsec dynamic` commands only (lines relative to netsh>, as
// shell.Config.Forward sends them); anything else is refused, so that a
// client cannot reach the store or the file system through the service.
//
// w, if not nil, joins the data path and the negotiator to the engine
// (dataplaneWiring; tests add fakes there).
func runService(ctx context.Context, g *grammar.Grammar, storeDir string, db *store.DB, stderr io.Writer,
	w *wiring) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()

	opt := engineOptions(db, log)
	if w == nil {
		w = &wiring{}
	}
	if w.Options != nil {
		if err := w.Options(&opt, log); err != nil {
			log.Error("the data path did not start", "err", err)
			return 1
		}
	}
	if w.Close != nil {
		defer w.Close()
	}
	eng, err := engine.New(opt)
	if err == nil && w.Attach != nil {
		err = w.Attach(eng)
	}
	if err == nil {
		err = eng.Start(context.Background())
	}
	if err != nil {
		log.Error("the IPsec engine did not start", "err", err)
		return 1
	}
	defer eng.Stop()

	path := filepath.Join(storeDir, socketName)
	l, err := control.Listen(path)
	if err != nil {
		log.Error("control socket", "path", path, "err", err)
		return 1
	}
	// Root may always connect; so may the user the service runs as, so
	// that a service started without root (tests, development) is usable
	// by its owner. Everyone else is refused.
	self := uint32(os.Geteuid())
	srv := control.NewServer(control.ServerOptions{
		NewHandler: func() control.Handler { return newServiceSession(g, db, eng) },
		AllowUID:   func(uid uint32) bool { return uid == 0 || uid == self },
		Refresh: func() ([]byte, bool) {
			if err := eng.Refresh(); err != nil {
				return []byte(err.Error() + "\n"), false
			}
			return nil, true
		},
		Logger: log,
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	log.Info("gonetsh service running", "socket", path, "protocol", control.Version, "store", storeDir)

	status := 0
	select {
	case <-ctx.Done():
		log.Info("gonetsh service stopping")
	case err := <-served:
		log.Error("control socket failed", "err", err)
		status = 1
	}
	srv.Close() // waits for a running command; removes the socket
	if status == 0 {
		<-served
	}
	eng.Stop()
	log.Info("gonetsh service stopped")
	return status
}

// wiring joins what hangs off the engine in the service. Each hook may
// be nil.
type wiring struct {
	// Options completes the engine's options before the engine is made.
	Options func(*engine.Options, *slog.Logger) error
	// Attach runs after engine.New and before Start.
	Attach func(*engine.Engine) error
	// Close runs after the engine stopped.
	Close func()
}

// serviceSession is the shell session of one control connection.
type serviceSession struct {
	g         *grammar.Grammar
	sess      *shell.Session
	out, diag bytes.Buffer
}

func newServiceSession(g *grammar.Grammar, db *store.DB, eng *engine.Engine) *serviceSession {
	h := &serviceSession{g: g}
	h.sess = shell.New(shell.Config{Grammar: g, Store: db, Engine: eng, Out: &h.out, Err: &h.diag})
	return h
}

// errNotDynamic answers a line that is not an `ipsec dynamic` command.
var errNotDynamic = []byte("The gonetsh service runs ipsec dynamic commands only.\n")

// Exec runs one line from netsh>. A line that does not parse is left to
// the session, which reports the error as netsh would.
func (h *serviceSession) Exec(line string) (output, diag []byte, ok bool) {
	inv, err := h.g.Parse(h.g.Root, line)
	if err == nil && (inv == nil || inv.Cmd == nil || inv.Help != grammar.NoHelp ||
		!strings.HasPrefix(inv.Cmd.ID, "dynamic.")) {
		return errNotDynamic, nil, false
	}
	h.out.Reset()
	h.diag.Reset()
	ok = h.sess.Exec(line)
	return bytes.Clone(h.out.Bytes()), bytes.Clone(h.diag.Bytes()), ok
}

func (h *serviceSession) Close() { h.sess.Close() }

// dialService connects to the service of storeDir. It returns nil and no
// error when no service listens there, and an error when one answered but
// did not accept this shell.
func dialService(storeDir string) (*control.Client, error) {
	c, err := control.Dial(filepath.Join(storeDir, socketName))
	if err == nil {
		return c, nil
	}
	if errors.Is(err, control.ErrRefused) || errors.Is(err, control.ErrVersion) || errors.Is(err, control.ErrProtocol) {
		return nil, err
	}
	return nil, nil
}
