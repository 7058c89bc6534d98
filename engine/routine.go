package engine

import (
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
)

// routine holds the channels of one RoutinePoll.
type routine struct {
	quit     chan struct{}
	done     chan struct{}
	resets   chan struct{} // an interval changed; capacity 1
	stopOnce sync.Once
}

func newRoutine() *routine {
	return &routine{quit: make(chan struct{}), done: make(chan struct{}), resets: make(chan struct{}, 1)}
}

// kick tells RoutinePoll to re-read its intervals. It never blocks; a nil
// routine (not running) ignores it.
func (r *routine) kick() {
	if r == nil {
		return
	}
	select {
	case r.resets <- struct{}{}:
	default:
	}
}

// stop ends RoutinePoll and waits for it.
func (r *routine) stop() {
	if r == nil {
		return
	}
	r.stopOnce.Do(func() { close(r.quit) })
	<-r.done
}

// RoutinePoll is the engine's one goroutine while Running; Start starts
// it and Stop ends it. It multiplexes three tickers:
//
//   - watch (Options.WatchInterval): reads the store's write counters (two
//     read-only bbolt opens, see BenchmarkPollCheck) and re-compiles and
//     publishes when a location changed, so that a static change made by
//     any netsh process applies within about a second;
//   - poll (`pollinginterval` minutes of the assigned policy, the smallest
//     of the two stores', 180 without one): Refresh;
//   - summary (`ipsecloginterval` seconds): one Info log line with the SA
//     counts and the data path's drop counters (LogSummary).
func (e *Engine) RoutinePoll(r *routine) {
	defer close(r.done)
	pollEvery, logEvery := e.intervals()
	watch := e.newTicker(e.watchEvery)
	poll := e.newTicker(pollEvery)
	summary := e.newTicker(logEvery)
	defer watch.Stop()
	defer poll.Stop()
	defer summary.Stop()
	for {
		select {
		case <-r.quit:
			return
		case <-watch.C():
			e.check()
		case <-poll.C():
			if err := e.Refresh(); err != nil {
				e.log.Warn("policy refresh failed", "err", err)
			}
		case <-summary.C():
			e.LogSummary()
		case <-r.resets:
			p, l := e.intervals()
			if p != pollEvery {
				pollEvery = p
				poll.Reset(p)
			}
			if l != logEvery {
				logEvery = l
				summary.Reset(l)
			}
		}
	}
}

// intervals returns the polling and summary periods.
func (e *Engine) intervals() (poll, summary time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, l := e.polling, e.cfg.IPsecLogInterval
	if p < 1 {
		p = 1
	}
	if l < 60 {
		l = 60
	}
	return time.Duration(p) * time.Minute, time.Duration(l) * time.Second
}

// fileSig is what os.Stat tells of the store file.
type fileSig struct {
	mtime time.Time
	size  int64
	ino   uint64
}

// settled is how old the store file's modification time must be before an
// unchanged stat may stand for unchanged counters: the kernel stamps
// mtime from a coarse clock, so two writes a few milliseconds apart can
// leave the same mtime and size.
const settled = 2 * time.Second

// check re-compiles and publishes when the store changed (the watch
// tick). It reports whether it found a change. When the DB has a file
// (Path) whose stat is unchanged since the last tick and older than
// settled, the counters are not read: a tick then costs one stat instead
// of two bbolt opens (see BenchmarkPollCheck).
func (e *Engine) check() bool {
	if e.statUnchanged() {
		return false
	}
	defer e.publish()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != Running {
		return false
	}
	before := e.seq
	if err := e.syncLocked(); err != nil {
		e.log.Warn("store not readable", "err", err)
		return false
	}
	return before != e.seq
}

// statUnchanged reports whether the store file is as at the last call and
// settled. Only RoutinePoll calls it.
func (e *Engine) statUnchanged() bool {
	pather, ok := e.db.(interface{ Path() string })
	if !ok {
		return false
	}
	fi, err := os.Stat(pather.Path())
	e.sigMu.Lock()
	defer e.sigMu.Unlock()
	if err != nil {
		e.lastSig = fileSig{}
		return false
	}
	sig := fileSig{mtime: fi.ModTime(), size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		sig.ino = uint64(st.Ino)
	}
	same := sig == e.lastSig && time.Since(sig.mtime) > settled
	e.lastSig = sig
	return same
}

// LogSummary writes the summary line of `ipsecloginterval`: the live SA
// counts and the data path's counters of dropped packets.
func (e *Engine) LogSummary() {
	if e.running() != nil {
		return
	}
	var mm, qm int
	if e.neg != nil {
		mm, qm = len(e.neg.MMSAs()), len(e.neg.QMSAs())
	}
	var s ipsec.IPsecStats
	if e.dp != nil {
		s = e.dp.Stats()
	}
	e.log.Info("IPsec summary", "mmsas", mm, "qmsas", qm,
		"active_sas", s.ActiveSecurityAssociations,
		"bad_spi", s.BadSPIPackets, "not_decrypted", s.PacketsNotDecrypted,
		"not_authenticated", s.PacketsNotAuthenticated, "replayed", s.PacketsWithReplayDetection)
}

// timeTicker is Ticker over time.Ticker.
type timeTicker struct{ t *time.Ticker }

func (t timeTicker) C() <-chan time.Time   { return t.t.C }
func (t timeTicker) Reset(d time.Duration) { t.t.Reset(d) }
func (t timeTicker) Stop()                 { t.t.Stop() }
