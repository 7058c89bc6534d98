// Package engine is gonetsh's IPsec service: it owns the Security Policy
// Database compiled from the policy store and the machine configuration,
// and gives `ipsec dynamic` its read API.
//
// This slice has no negotiator and no data path yet: Start compiles the
// assigned policies, the read API serves the SPD, the configuration and
// the statistics (all zero until the negotiator and the driver feed them).
//
// # Lifecycle
//
// New returns a Created engine; Start makes it Running; Stop makes it
// Stopped, after which Start may run it again. There are no goroutines yet.
//
// # SPD
//
// The SPD is the assigned policy of the persistent store followed by the
// assigned policy of the local store (Windows applies the persistent
// policy first, and it stays applied under the local one), each compiled by agent.Compile for
// the current HostInfo. Merging concatenates the lists: persistent
// policies, filters and specific filters first, then the local ones; the
// specific filters are not re-ranked across the two stores and policies of
// the same name in both (e.g. "Default Response") are both kept. The
// domain store is not read. A location whose policy does not compile
// (agent.RuleError) is logged and contributes nothing.
//
// The engine notices store changes by their write counters (DB.Seq): every
// read of the SPD first re-compiles if either location changed since the
// last compilation, so a static `set policy assign=yes` shows at the next
// `dynamic show`. Refresh re-compiles unconditionally (e.g. after the
// host's addresses changed) and keeps the applied SPD when the result is
// equal (agent.SPD.Equal).
//
// # Dynamic policies and rules
//
// `ipsec dynamic add|set|delete` objects live in the engine only (see
// dynamic.go): Stop and a new engine drop them; the configuration, which
// is in the store, stays. The SPD served is the static-derived one plus
// the dynamic objects, specific filters merged by rank.
//
// # Locking
//
// One mutex serialises every method; the SPD a method returns is
// immutable and may be kept.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gonetsh/gonetsh/engine/agent"
	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

// DB is what the engine needs of the policy store (satisfied by *store.DB).
type DB interface {
	View(loc store.Location, fn func(*store.State) error) error
	Seq(loc store.Location) (uint64, error)
	Config() (store.Config, error)
	UpdateConfig(fn func(*store.Config) error) error
}

// Options wires an Engine. Only DB is required.
type Options struct {
	DB     DB
	Logger *slog.Logger          // nil: discard
	Host   func() agent.HostInfo // this host's addresses and servers; nil: none
	Now    func() time.Time      // nil: time.Now
}

// State is the lifecycle state of an Engine.
type State uint8

// Lifecycle states.
const (
	Created State = iota
	Running
	Stopped
)

func (s State) String() string {
	switch s {
	case Created:
		return "created"
	case Running:
		return "running"
	case Stopped:
		return "stopped"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Errors of the engine's methods.
var (
	ErrNoDB       = errors.New("engine: no policy store given")
	ErrNotRunning = errors.New("engine: the IPsec engine is not running")
	ErrRunning    = errors.New("engine: the IPsec engine is already running")
)

// sources are the locations compiled into the SPD, in merge order.
var sources = [...]store.Location{store.Persistent, store.Local}

// Engine is the IPsec service. It is safe for concurrent use.
type Engine struct {
	db   DB
	log  *slog.Logger
	host func() agent.HostInfo
	now  func() time.Time

	mu      sync.Mutex // guards everything below
	state   State
	seq     [len(sources)]uint64 // store write counters at the last compilation
	spd     *agent.SPD           // applied SPD; never nil while Running
	applied time.Time            // when spd last changed
	stats   ipsec.Stats
	dyn     dynState // the dynamic policies and rules (dynamic.go)
}

// New returns a Created engine.
func New(opt Options) (*Engine, error) {
	if opt.DB == nil {
		return nil, ErrNoDB
	}
	e := &Engine{db: opt.DB, log: opt.Logger, host: opt.Host, now: opt.Now}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.host == nil {
		e.host = func() agent.HostInfo { return agent.HostInfo{} }
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e, nil
}

// State returns the lifecycle state.
func (e *Engine) State() State {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state
}

// Start compiles the assigned policies into the SPD and makes the engine
// Running. A store that cannot be read fails Start and leaves the state
// as it was.
func (e *Engine) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state == Running {
		return ErrRunning
	}
	e.spd, e.dyn = &agent.SPD{}, dynState{}
	if err := e.compileLocked(); err != nil {
		e.spd = nil
		return err
	}
	e.state = Running
	e.log.Info("engine started", "policies", len(e.spd.MMPolicies)+len(e.spd.QMPolicies),
		"qmfilters", len(e.spd.QMSpecific))
	return nil
}

// Stop makes the engine Stopped and drops the SPD and the counters. It is
// idempotent.
func (e *Engine) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != Running {
		return
	}
	e.state, e.spd, e.stats, e.dyn = Stopped, nil, ipsec.Stats{}, dynState{}
	e.log.Info("engine stopped")
}

// Refresh re-compiles the assigned policies and applies the result unless
// it equals the applied SPD.
func (e *Engine) Refresh() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != Running {
		return ErrNotRunning
	}
	e.recompileDynamicLocked()
	return e.compileLocked()
}

// syncLocked re-compiles when a location was written since the last
// compilation.
func (e *Engine) syncLocked() error {
	for i, loc := range sources {
		n, err := e.db.Seq(loc)
		if err != nil {
			return err
		}
		if n != e.seq[i] {
			return e.compileLocked()
		}
	}
	return nil
}

// compileLocked compiles every source location and applies the merged
// SPD if it differs from the applied one.
func (e *Engine) compileLocked() error {
	host := e.host()
	var parts [len(sources)]*agent.SPD
	var seq [len(sources)]uint64
	for i, loc := range sources {
		n, err := e.db.Seq(loc)
		if err != nil {
			return err
		}
		seq[i] = n
		err = e.db.View(loc, func(st *store.State) error {
			spd, err := agent.Compile(st, host)
			if err != nil {
				var re *agent.RuleError
				if !errors.As(err, &re) {
					return err
				}
				e.log.Warn("assigned policy not applied", "store", loc.String(), "err", err)
				spd = &agent.SPD{}
			}
			parts[i] = spd
			return nil
		})
		if err != nil {
			return err
		}
	}
	e.seq = seq
	merged := merge(parts[:])
	if merged.Equal(e.spd) {
		e.log.Debug("SPD unchanged")
		return nil
	}
	e.spd, e.applied = merged, e.now()
	e.log.Info("SPD applied", "policy", merged.PolicyName, "mmfilters", len(merged.MMSpecific),
		"qmfilters", len(merged.QMSpecific))
	return nil
}

// merge concatenates the SPDs in order. PolicyGUID and PolicyName are
// those of the last SPD with an assigned policy (the local one wins).
func merge(parts []*agent.SPD) *agent.SPD {
	if len(parts) == 1 {
		return parts[0]
	}
	m := &agent.SPD{}
	for _, p := range parts {
		if p.PolicyGUID != "" {
			m.PolicyGUID, m.PolicyName = p.PolicyGUID, p.PolicyName
		}
		m.MMPolicies = append(m.MMPolicies, p.MMPolicies...)
		m.QMPolicies = append(m.QMPolicies, p.QMPolicies...)
		m.MMFilters = append(m.MMFilters, p.MMFilters...)
		m.MMSpecific = append(m.MMSpecific, p.MMSpecific...)
		m.QMFilters = append(m.QMFilters, p.QMFilters...)
		m.QMSpecific = append(m.QMSpecific, p.QMSpecific...)
	}
	return m
}

// SPD returns the applied SPD, first re-compiling if the store changed:
// the static-derived SPD with the dynamic policies and rules (dynamic.go).
// The SPD is immutable.
func (e *Engine) SPD() (*agent.SPD, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != Running {
		return nil, ErrNotRunning
	}
	if err := e.syncLocked(); err != nil {
		return nil, err
	}
	return e.viewLocked(), nil
}

// Applied returns when the applied SPD last changed (the zero Time before
// Start).
func (e *Engine) Applied() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.applied
}

// MMPolicies returns the main mode policies of the SPD (see SPD).
func (e *Engine) MMPolicies() ([]ipsec.MMPolicy, error) {
	spd, err := e.SPD()
	if err != nil {
		return nil, err
	}
	return slices.Clip(spd.MMPolicies), nil
}

// QMPolicies returns the quick mode policies of the SPD (see SPD).
func (e *Engine) QMPolicies() ([]ipsec.QMPolicy, error) {
	spd, err := e.SPD()
	if err != nil {
		return nil, err
	}
	return slices.Clip(spd.QMPolicies), nil
}

// MMFilters returns the generic main mode filters in policy order and the
// specific ones in rank order (see SPD).
func (e *Engine) MMFilters() (generic, specific []ipsec.MMFilter, err error) {
	spd, err := e.SPD()
	if err != nil {
		return nil, nil, err
	}
	return slices.Clip(spd.MMFilters), slices.Clip(spd.MMSpecific), nil
}

// QMFilters returns the generic quick mode filters in policy order and the
// specific ones in rank order (see SPD).
func (e *Engine) QMFilters() (generic, specific []ipsec.QMFilter, err error) {
	spd, err := e.SPD()
	if err != nil {
		return nil, nil, err
	}
	return slices.Clip(spd.QMFilters), slices.Clip(spd.QMSpecific), nil
}

// Config returns the machine IPsec configuration from the store.
func (e *Engine) Config() (store.Config, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != Running {
		return store.Config{}, ErrNotRunning
	}
	return e.db.Config()
}

// SetConfig sets one configuration property in the store, in one
// transaction. A value out of range changes nothing and returns the
// store's CodeInvalid error. The new values take effect at the next start,
// as on Windows (reference 3.7: restart needed).
func (e *Engine) SetConfig(p store.ConfigProperty, v store.ConfigValue) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != Running {
		return ErrNotRunning
	}
	if err := e.db.UpdateConfig(func(c *store.Config) error { return c.Set(p, v) }); err != nil {
		return err
	}
	e.log.Info("configuration changed", "property", p.String())
	return nil
}

// Stats returns the IKE and IPsec counters (reference 5.9). They are all
// zero in this build: the negotiator and the driver will feed them.
func (e *Engine) Stats() (ipsec.Stats, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != Running {
		return ipsec.Stats{}, ErrNotRunning
	}
	return e.stats, nil
}
