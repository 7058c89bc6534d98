// Package engine is gonetsh's IPsec service: it owns the Security Policy
// Database compiled from the policy store and the machine configuration,
// and gives `ipsec dynamic` its read API.
//
// What hangs off the engine does so behind interfaces declared here (nil
// means absent; everything else still works): the data path (DataPath:
// the driver, adapted by cmd/netsh) and the IKE negotiator (Negotiator,
// satisfied by *ike.Negotiator). The engine answers the negotiator's
// policy questions (ike.Policy, policy.go), turns the data path's
// acquires into negotiations (Acquire), and acts on every `set config`
// property (config.go).
//
// # Lifecycle
//
// New returns a Created engine; Start makes it Running; Stop makes it
// Stopped, after which Start may run it again. A Running engine owns one
// goroutine, RoutinePoll (routine.go), which Stop ends and waits for.
//
// # Start-up order
//
// Start reads the configuration and hands it to the DataPath (SetConfig)
// before it compiles the assigned policies and hands the SPD over
// (SetPolicy): a DataPath enforces `set config bootmode` (with the boot
// exemptions) from its own start until its first SetPolicy, so until the
// first policy is applied the boot mode is what protects the host. Start
// always calls SetPolicy once, even with an empty SPD ("no policy
// assigned" is a policy too); a store that cannot be read fails Start and
// leaves the DataPath in boot mode.
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
// `dynamic show`, and RoutinePoll checks the counters every
// Options.WatchInterval (default 500 ms) so that a change written by any
// netsh process is applied within about a second without a command. It
// also re-applies everything every `pollinginterval` minutes of the
// assigned policy (Refresh). Refresh re-compiles unconditionally (with the
// host's addresses and servers gathered anew) and keeps the applied SPD
// when the result is equal (agent.SPD.Equal); the DataPath gets SetPolicy
// only when the served SPD changed.
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
// One mutex (mu) serialises every method; the SPD a method returns is
// immutable and may be kept. Calls into the DataPath are serialised by a
// second mutex (pushMu), taken before mu and never while holding it; the
// Negotiator is never called with mu held, so that it may call back into
// the engine (ike.Policy) from its own goroutines.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gonetsh/gonetsh/engine/agent"
	"github.com/gonetsh/gonetsh/engine/ike"
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

// DataPath is the IPsec data path as the engine drives it (the driver,
// adapted by cmd/netsh). Its methods are called one at a time, never with
// the engine's lock held, so a DataPath may call Engine.Acquire from its
// own goroutines.
type DataPath interface {
	// SetPolicy replaces the SPD the data path enforces: the merged SPD
	// the engine serves, static-derived and dynamic entries, specific
	// filters in rank order. spd is immutable and may be kept. Until its
	// first SetPolicy a DataPath enforces the boot mode of the last
	// SetConfig. It is called only when the served SPD changed.
	SetPolicy(spd *agent.SPD) error
	// SetConfig hands over the machine configuration: ipsecexempt
	// (default exemptions), bootmode and bootexemptions, and
	// ipsecdiagnostics (which drop events are logged). It is called at
	// Start, before the first SetPolicy, and whenever one of those four
	// properties changes. c is a copy.
	SetConfig(c store.Config) error
	// Stats returns the IPsec counters of `show stats type=ipsec`.
	Stats() ipsec.IPsecStats
}

// Negotiator is the IKE negotiator as the engine drives it (satisfied by
// *ike.Negotiator). The engine never calls it with its lock held.
type Negotiator interface {
	// Acquire starts (or joins) the negotiation of SAs for an outbound
	// negotiate filter (see Engine.Acquire).
	Acquire(a ike.Acquire)
	// MMSAs and QMSAs return the live SAs (`show mmsas|qmsas`); the
	// slices are the caller's.
	MMSAs() []ipsec.MMSA
	QMSAs() []ipsec.QMSA
	// Stats returns the IKE counters of `show stats type=ike`.
	Stats() ipsec.IKEStats
	// Flush deletes every SA (`dynamic delete all`, Stop).
	Flush()
	// SetStrongCRLCheck sets the certificate revocation check of `set
	// config strongcrlcheck`: 0 none, 1 fail when revoked, 2 fail on any
	// CRL error.
	SetStrongCRLCheck(level uint8)
}

// Ticker is a periodic clock tick (time.Ticker's methods); tests inject
// fakes through Options.NewTicker.
type Ticker interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// Options wires an Engine. Only DB is required.
type Options struct {
	DB     DB
	Logger *slog.Logger          // nil: discard
	Host   func() agent.HostInfo // this host's addresses and servers, gathered at each call; nil: none
	Now    func() time.Time      // nil: time.Now

	// DataPath is the driver; nil: none (the SPD is only served).
	DataPath DataPath
	// NewNegotiator, if set, is called once by New with the engine's
	// answers to the negotiator's policy questions and its IKE log writer
	// (see Engine.IKELog).
	NewNegotiator func(policy ike.Policy, ikeLog io.Writer) Negotiator

	// IKELogPath is the file `set config ikelogging 1` appends IKE's log
	// to (cmd/netsh: <store dir>/ike.log); "": IKE logging discards.
	IKELogPath string
	// OpenLog opens the IKE log file for appending; nil: os.OpenFile with
	// O_APPEND|O_CREATE|O_WRONLY, mode 0600.
	OpenLog func(path string) (io.WriteCloser, error)

	// WatchInterval is how often RoutinePoll checks the store's write
	// counters; 0: 500 ms.
	WatchInterval time.Duration
	// NewTicker makes RoutinePoll's tickers; nil: time.NewTicker.
	NewTicker func(d time.Duration) Ticker
}

// DefaultWatchInterval is the default of Options.WatchInterval.
const DefaultWatchInterval = 500 * time.Millisecond

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
	ErrNoDB         = errors.New("engine: no policy store given")
	ErrNotRunning   = errors.New("engine: the IPsec engine is not running")
	ErrRunning      = errors.New("engine: the IPsec engine is already running")
	ErrNoNegotiator = errors.New("engine: no IKE negotiator")
	ErrNoQMPolicy   = errors.New("engine: the filter's quick mode policy is not in the SPD")
	ErrNoPeer       = errors.New("engine: the filter names no peer (no tunnel endpoint and no single destination host)")
)

// sources are the locations compiled into the SPD, in merge order.
var sources = [...]store.Location{store.Persistent, store.Local}

// Engine is the IPsec service. It is safe for concurrent use.
type Engine struct {
	db         DB
	log        *slog.Logger
	host       func() agent.HostInfo
	now        func() time.Time
	dp         DataPath
	neg        Negotiator
	ikeLog     *ikeLog
	watchEvery time.Duration
	newTicker  func(time.Duration) Ticker
	sigMu      sync.Mutex
	lastSig    fileSig // the store file at the last watch tick

	// pushMu serialises the calls into the DataPath and the application
	// of the configuration; it is taken before mu, never under it.
	pushMu sync.Mutex
	pushed struct {
		spd    *agent.SPD   // the SPD of the last SetPolicy
		spdOK  bool         // SetPolicy succeeded since Start
		cfg    store.Config // the configuration last applied
		cfgSet bool         // cfg was applied since Start
	}

	mu      sync.Mutex // guards everything below
	state   State
	seq     [len(sources)]uint64 // store write counters at the last compilation
	spd     *agent.SPD           // applied SPD; never nil while Running
	applied time.Time            // when spd last changed
	cfg     store.Config         // the configuration as last read or written
	polling int                  // pollinginterval (minutes) of the assigned policies
	dyn     dynState             // the dynamic policies and rules (dynamic.go)
	routine *routine             // RoutinePoll's channels while Running
}

// New returns a Created engine.
func New(opt Options) (*Engine, error) {
	if opt.DB == nil {
		return nil, ErrNoDB
	}
	e := &Engine{db: opt.DB, log: opt.Logger, host: opt.Host, now: opt.Now, dp: opt.DataPath,
		watchEvery: opt.WatchInterval, newTicker: opt.NewTicker}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.host == nil {
		e.host = func() agent.HostInfo { return agent.HostInfo{} }
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.watchEvery <= 0 {
		e.watchEvery = DefaultWatchInterval
	}
	if e.newTicker == nil {
		e.newTicker = func(d time.Duration) Ticker { return timeTicker{time.NewTicker(d)} }
	}
	e.ikeLog = newIKELog(opt.IKELogPath, opt.OpenLog, e.log)
	if opt.NewNegotiator != nil {
		e.neg = opt.NewNegotiator(e, e.ikeLog)
	}
	return e, nil
}

// State returns the lifecycle state.
func (e *Engine) State() State {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state
}

// Start reads the configuration, compiles the assigned policies into the
// SPD, makes the engine Running, applies the configuration and then the
// SPD (see Start-up order in the package documentation) and starts
// RoutinePoll. A store that cannot be read fails Start and leaves the
// state as it was.
func (e *Engine) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.pushMu.Lock()
	defer e.pushMu.Unlock()
	e.mu.Lock()
	if e.state == Running {
		e.mu.Unlock()
		return ErrRunning
	}
	cfg, err := e.db.Config()
	if err != nil {
		e.mu.Unlock()
		return err
	}
	e.cfg = cfg
	e.spd, e.dyn = &agent.SPD{}, dynState{}
	if err := e.compileLocked(); err != nil {
		e.spd = nil
		e.mu.Unlock()
		return err
	}
	e.state = Running
	r := newRoutine()
	e.routine = r
	e.log.Info("engine started", "policies", len(e.spd.MMPolicies)+len(e.spd.QMPolicies),
		"qmfilters", len(e.spd.QMSpecific))
	e.mu.Unlock()

	e.pushed.spd, e.pushed.spdOK, e.pushed.cfgSet = nil, false, false
	e.publishPushLocked()
	go e.RoutinePoll(r)
	return nil
}

// Stop makes the engine Stopped, ends RoutinePoll, deletes the SAs
// (Negotiator.Flush), closes the IKE log and drops the SPD. It is
// idempotent. The DataPath keeps the last SPD it was given.
func (e *Engine) Stop() {
	e.mu.Lock()
	if e.state != Running {
		e.mu.Unlock()
		return
	}
	e.state, e.spd, e.dyn = Stopped, nil, dynState{}
	r := e.routine
	e.routine = nil
	e.mu.Unlock()
	r.stop()
	if e.neg != nil {
		e.neg.Flush()
	}
	e.ikeLog.set(false)
	e.log.Info("engine stopped")
}

// Refresh re-reads the configuration, re-gathers the host's addresses and
// servers, re-compiles the assigned policies and the dynamic rules, and
// applies whatever changed (`netsh gpupdate`, and every pollinginterval).
// An unchanged SPD is not handed to the DataPath again.
func (e *Engine) Refresh() error {
	defer e.publish()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != Running {
		return ErrNotRunning
	}
	cfg, err := e.db.Config()
	if err != nil {
		return err
	}
	e.cfg = cfg
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
	polling := 0
	for i, loc := range sources {
		n, err := e.db.Seq(loc)
		if err != nil {
			return err
		}
		seq[i] = n
		err = e.db.View(loc, func(st *store.State) error {
			if p, ok := st.AssignedPolicy(); ok && p.PollingInterval > 0 &&
				(polling == 0 || p.PollingInterval < polling) {
				polling = p.PollingInterval
			}
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
	if polling == 0 {
		polling = store.DefaultPollingInterval
	}
	if polling != e.polling {
		e.polling = polling
		e.routine.kick()
	}
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
	defer e.publish()
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
// transaction, and acts on it at once (config.go). A value out of range
// changes nothing and returns the store's CodeInvalid error.
func (e *Engine) SetConfig(p store.ConfigProperty, v store.ConfigValue) error {
	defer e.publish()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != Running {
		return ErrNotRunning
	}
	var nc store.Config
	err := e.db.UpdateConfig(func(c *store.Config) error {
		if err := c.Set(p, v); err != nil {
			return err
		}
		nc = c.Clone()
		return nil
	})
	if err != nil {
		return err
	}
	e.cfg = nc
	e.log.Info("configuration changed", "property", p.String())
	return nil
}

// Stats returns the IKE counters of the Negotiator and the IPsec counters
// of the DataPath (reference 5.9); the block of an absent one is zero.
func (e *Engine) Stats() (ipsec.Stats, error) {
	if err := e.running(); err != nil {
		return ipsec.Stats{}, err
	}
	var s ipsec.Stats
	if e.neg != nil {
		s.IKE = e.neg.Stats()
	}
	if e.dp != nil {
		s.IPsec = e.dp.Stats()
	}
	return s, nil
}

// running returns ErrNotRunning unless the engine runs.
func (e *Engine) running() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != Running {
		return ErrNotRunning
	}
	return nil
}
