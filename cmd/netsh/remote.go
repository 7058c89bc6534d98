package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/gonetsh/gonetsh/engine"
	"github.com/gonetsh/gonetsh/engine/control"
	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/store"
)

// remote runs a shell's dynamic commands and gpupdate on the gonetsh
// service (shell.Config.Forward and Refresh).
//
// When the service does not answer (it stopped or restarted since the
// last command), the next command dials the socket again: a service that
// answers gets the command; otherwise the shell hosts the engine itself
// from then on, says so once on stderr, and runs the command there, in a
// session built as the service builds its sessions. A command is sent
// again after a lost connection only if the service never answered it
// (it may have run if the service died after running it and before
// answering).
type remote struct {
	storeDir string
	g        *grammar.Grammar
	db       *store.DB
	stderr   io.Writer

	mu     sync.Mutex
	c      *control.Client // nil once local
	local  *serviceSession // the in-process fallback
	eng    *engine.Engine
	notice sync.Once
}

func newRemote(storeDir string, g *grammar.Grammar, db *store.DB, c *control.Client, stderr io.Writer) *remote {
	return &remote{storeDir: storeDir, g: g, db: db, c: c, stderr: stderr}
}

// Close closes the connection or stops the in-process engine.
func (r *remote) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c != nil {
		r.c.Close()
	}
	if r.eng != nil {
		r.local.Close()
		r.eng.Stop()
	}
}

// reconnectLocked replaces a lost connection: by a new one when a service
// answers, else by the in-process engine.
func (r *remote) reconnectLocked(lost error) error {
	r.c.Close()
	r.c = nil
	c, refused := dialService(r.storeDir)
	if c != nil {
		r.c = c
		return nil
	}
	eng := startEngine(r.db, r.stderr)
	if eng == nil {
		return fmt.Errorf("The IPsec engine could not be started.")
	}
	r.eng, r.local = eng, newServiceSession(r.g, r.db, eng)
	r.notice.Do(func() {
		fmt.Fprintf(r.stderr, "netsh: the gonetsh service stopped answering (%v).\n", lost)
		if refused != nil {
			fmt.Fprintf(r.stderr, "netsh: the gonetsh service did not accept this shell: %v\n", refused)
		}
		fmt.Fprintln(r.stderr, engineNotice)
	})
	return nil
}

// Exec is shell.Config.Forward.
func (r *remote) Exec(line string) ([]byte, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for attempt := 0; r.c != nil; attempt++ {
		out, diag, ok, err := r.c.Exec(line)
		if err == nil {
			r.stderr.Write(diag)
			return out, ok, nil
		}
		if attempt > 0 {
			return out, false, fmt.Errorf("netsh: the gonetsh service did not answer: %v", err)
		}
		if err := r.reconnectLocked(err); err != nil {
			return nil, false, err
		}
	}
	out, diag, ok := r.local.Exec(line)
	r.stderr.Write(diag)
	return out, ok, nil
}

// Refresh is shell.Config.Refresh (gpupdate).
func (r *remote) Refresh() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for attempt := 0; r.c != nil; attempt++ {
		out, ok, err := r.c.Refresh()
		switch {
		case errors.Is(err, control.ErrUnsupported):
			return fmt.Errorf("The gonetsh service is too old for gpupdate; restart it with this version of netsh.")
		case err == nil && !ok:
			return errors.New(strings.TrimSuffix(string(out), "\n"))
		case err == nil:
			return nil
		case attempt > 0:
			return fmt.Errorf("netsh: the gonetsh service did not answer: %v", err)
		}
		if err := r.reconnectLocked(err); err != nil {
			return err
		}
	}
	return r.eng.Refresh()
}
