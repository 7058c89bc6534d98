package engine

import (
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"

	"github.com/gonetsh/gonetsh/store"
)

// What the engine does with each `set config` property (reference 3.7),
// at Start and at once when it changes (no restart needed, unlike Windows):
//
//   - ipsecexempt, bootmode, bootexemptions, ipsecdiagnostics: handed to
//     the DataPath (SetConfig) whenever one of them changed;
//   - ikelogging: 1 opens Options.IKELogPath for appending and the
//     negotiator's log writer (IKELog) writes there; 0 closes it and the
//     writer discards;
//   - strongcrlcheck: Negotiator.SetStrongCRLCheck;
//   - ipsecloginterval: the period of RoutinePoll's summary log line.

// publish hands the DataPath and the Negotiator what changed since the
// last publish: the configuration first, then the served SPD. It must be
// called without mu held (mutating methods defer it before locking).
func (e *Engine) publish() {
	e.pushMu.Lock()
	defer e.pushMu.Unlock()
	e.publishPushLocked()
}

// publishPushLocked is publish with pushMu held.
func (e *Engine) publishPushLocked() {
	e.mu.Lock()
	if e.state != Running {
		e.mu.Unlock()
		return
	}
	cfg := e.cfg.Clone()
	spd := e.viewLocked()
	r := e.routine
	e.mu.Unlock()

	old, first := e.pushed.cfg, !e.pushed.cfgSet
	if first || !sameDataPathConfig(old, cfg) {
		if e.dp != nil {
			if err := e.dp.SetConfig(cfg.Clone()); err != nil {
				e.log.Warn("data path did not take the configuration", "err", err)
			}
		}
	}
	if first || old.IKELogging != cfg.IKELogging {
		e.ikeLog.set(cfg.IKELogging == 1)
	}
	if e.neg != nil && (first || old.StrongCRLCheck != cfg.StrongCRLCheck) {
		e.neg.SetStrongCRLCheck(uint8(cfg.StrongCRLCheck))
	}
	if first || old.IPsecLogInterval != cfg.IPsecLogInterval {
		r.kick()
	}
	e.pushed.cfg, e.pushed.cfgSet = cfg, true

	if e.pushed.spdOK && (spd == e.pushed.spd || spd.Equal(e.pushed.spd)) {
		return
	}
	if e.dp != nil {
		if err := e.dp.SetPolicy(spd); err != nil {
			e.log.Warn("data path did not take the SPD", "err", err)
			return // retried at the next publish
		}
	}
	e.pushed.spd, e.pushed.spdOK = spd, true
}

// sameDataPathConfig reports whether a and b agree on what the DataPath
// gets.
func sameDataPathConfig(a, b store.Config) bool {
	return a.IPsecExempt == b.IPsecExempt && a.BootMode == b.BootMode &&
		a.IPsecDiagnostics == b.IPsecDiagnostics && slices.Equal(a.BootExemptions, b.BootExemptions)
}

// IKELog returns the writer the negotiator logs to (it also gets it from
// Options.NewNegotiator): it appends to Options.IKELogPath while
// `ikelogging` is 1 and discards otherwise. Switching takes effect at
// once. Writes are serialised; a write error closes the file and is
// logged once.
func (e *Engine) IKELog() io.Writer { return e.ikeLog }

// IKELogPath returns Options.IKELogPath, the file `ikelogging 1` writes
// (`show config` prints it).
func (e *Engine) IKELogPath() string { return e.ikeLog.path }

// ikeLog is the engine-owned IKE log writer.
type ikeLog struct {
	path string
	open func(string) (io.WriteCloser, error)
	log  *slog.Logger

	mu sync.Mutex
	w  io.WriteCloser // nil: discard
}

func newIKELog(path string, open func(string) (io.WriteCloser, error), log *slog.Logger) *ikeLog {
	if open == nil {
		open = func(p string) (io.WriteCloser, error) {
			return os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		}
	}
	return &ikeLog{path: path, open: open, log: log}
}

// set opens (on) or closes the file.
func (l *ikeLog) set(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case on && l.w == nil && l.path != "":
		w, err := l.open(l.path)
		if err != nil {
			l.log.Warn("IKE log file not opened; IKE logging discards", "path", l.path, "err", err)
			return
		}
		l.w = w
	case !on && l.w != nil:
		l.w.Close()
		l.w = nil
	}
}

func (l *ikeLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return len(p), nil
	}
	if _, err := l.w.Write(p); err != nil {
		l.log.Warn("IKE log write failed; IKE logging discards until ikelogging is set again", "path", l.path, "err", err)
		l.w.Close()
		l.w = nil
	}
	return len(p), nil
}
