// Package driver is the IPsec data path between a plaintext TUN device and
// the wire: it applies the Security Policy Database to every packet,
// protects outbound packets with the SAs the engine installs (ESP or AH,
// tunnel or transport mode, ESP optionally UDP-encapsulated for NAT
// traversal) and unprotects and checks inbound ones (RFC 4301 section 5).
//
// The pipeline is described at the top of send.go (outbound) and
// receive.go (inbound). Every goroutine is a routine* method owned by the
// Driver, started by Start and stopped by Close, which waits for all of
// them.
//
// Policy semantics follow netsh ipsec (reference section 10):
//
//   - permit passes traffic in clear, block drops it, both ways; traffic
//     no entry matches is permitted, as on Windows;
//   - negotiate protects outbound traffic with the outbound SA installed
//     for the entry (AddSA with Ref = Entry.ID). Without one the packet
//     is held in a bounded per-entry queue and one Acquire goes up; the
//     queue leaves when the SA arrives and is dropped on FailAcquire or
//     after AcquireTimeout;
//   - unprotected inbound traffic matching a negotiate entry is dropped
//     unless the entry has InPass, which accepts it (the reply, matching
//     the outbound entry, then triggers the negotiation);
//     the data path enforces this for packets it sees; cleartext packets
//     the kernel delivers straight from the wire to local sockets need
//     the kernel rules of an Enforcer (Config.Enforcer, driver/nft);
//   - Soft (fall back to clear when the peer does not answer IKE) is the
//     engine's business: on failure it installs a permit entry with
//     SetPolicy and calls FailAcquire; the driver sees only the new
//     policy;
//   - the default exemptions (ipsecexempt, reference section 4.5) are
//     checked before the SPD, both ways;
//   - before the first SetPolicy the boot mode (SetBootMode, reference
//     section 3.7) applies, in the kernel, through a BootEnforcer.
//
// The driver sees only what the host routes into the TUN device. A Router
// (Config.Router, driver/route) routes the destinations of the outbound
// negotiate and block entries there on every SetPolicy, with policy
// routing that lets the driver's own marked packets leave on the wire, so
// that transport mode works on the peers' wire addresses.
//
// The driver reports upward through the callbacks of Config and never
// imports the engine.
package driver

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/driver/tun"
)

// Defaults for the zero values of Config.
const (
	DefaultQueueLen       = 16
	DefaultMaxQueued      = 256
	DefaultAcquireTimeout = 30 * time.Second
	DefaultTickInterval   = time.Second
)

// Config is what New needs.
//
// The callbacks run on the goroutine that noticed the event, often the
// data path: they must not block, and may call Driver methods except
// Close.
type Config struct {
	// TUN is the plaintext side and Wire the network side. The Driver
	// owns both from New on: Close closes them.
	TUN  tun.Device
	Wire conn.Wire

	// Logger receives lifecycle messages and, at debug level, one record
	// per dropped packet. Nil discards. Keys are never logged.
	Logger *slog.Logger

	// Now is the clock of SA lifetimes and acquire timeouts; nil means
	// time.Now.
	Now func() time.Time

	// Rand is the source of CBC IVs, shared by all SAs and so safe for
	// concurrent use; nil means crypto/rand.
	Rand io.Reader

	// OnAcquire is called once per negotiate entry that has a packet to
	// send and no outbound SA, until the SA is added, FailAcquire is
	// called or the queue times out.
	OnAcquire func(Acquire)

	// OnExpire receives the soft and hard lifetime events of the SAD
	// (sadb.Event). A hard-expired SA has been removed and wiped.
	OnExpire func(sadb.Event)

	// OnIKE receives IKE messages that arrived on the NAT-T port, with
	// the Non-ESP Marker removed. msg aliases a driver buffer that is
	// valid only during the call: copy what must outlive it.
	OnIKE func(ep conn.Endpoint, msg []byte)

	// QueueLen bounds the packets held per entry while an SA is
	// negotiated (0: DefaultQueueLen); MaxQueued bounds them over all
	// entries (0: DefaultMaxQueued). Each held packet takes one 64 KiB
	// buffer.
	QueueLen, MaxQueued int

	// AcquireTimeout is how long packets are held for an SA (0:
	// DefaultAcquireTimeout).
	AcquireTimeout time.Duration

	// TickInterval is the period of the housekeeping routine that
	// applies SA time lifetimes and acquire timeouts (0:
	// DefaultTickInterval).
	TickInterval time.Duration

	// Enforcer, if not nil, applies the inbound policy in the kernel to
	// cleartext packets that do not enter the TUN device (see
	// Enforcer); nil programs no kernel rules, and such packets then
	// reach local sockets unchecked. The Driver owns it from New on:
	// Close closes it.
	Enforcer Enforcer

	// KeepaliveInterval is the period of the NAT keepalives (RFC 3948
	// section 2.3) sent for UDP-encapsulated outbound SAs, measured on
	// Now and checked every TickInterval: 0 means
	// DefaultKeepaliveInterval, a negative value sends none.
	KeepaliveInterval time.Duration

	// Router, if not nil, routes the destinations of the policy into the
	// TUN device on every SetPolicy (see Router); nil leaves routing to
	// the caller. The Driver owns it from New on: Close closes it.
	Router Router
}

// Acquire asks the engine to negotiate SAs for an outbound negotiate
// entry (RFC 4301 section 5.1.1 calls it triggering IKE).
type Acquire struct {
	// Entry is the outbound negotiate entry; install the outbound SA
	// with Ref = Entry.ID. Entry.Tunnel is the remote tunnel endpoint in
	// tunnel mode.
	Entry sadb.Entry
	// Fields are the selector fields of the first packet.
	Fields sadb.Fields
}

// State is the lifecycle stage of a Driver.
type State uint8

// Driver states, in order.
const (
	StateDown   State = iota // created, not started
	StateUp                  // started: routines running
	StateClosed              // closed: routines stopped, devices closed
)

// String returns "down", "up" or "closed".
func (s State) String() string {
	switch s {
	case StateDown:
		return "down"
	case StateUp:
		return "up"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Errors.
var (
	ErrConfig   = errors.New("driver: invalid configuration")
	ErrStarted  = errors.New("driver: already started")
	ErrClosed   = errors.New("driver: closed")
	ErrSAParams = errors.New("driver: invalid SA parameters")
)

// Driver is the data path. Its methods are safe for concurrent use.
type Driver struct {
	tun  tun.Device
	wire conn.Wire
	log  *slog.Logger
	now  func() time.Time
	rand io.Reader

	onAcquire func(Acquire)
	onExpire  func(sadb.Event)
	onIKE     func(conn.Endpoint, []byte)

	queueLen          int
	acquireTimeout    time.Duration
	tick              time.Duration
	keepaliveInterval time.Duration
	keepalive         keepaliveState // housekeeping routine only

	// Policy state, read lock-free by the data path.
	spd    atomic.Pointer[sadb.SPD]
	exempt atomic.Pointer[exemptions]
	sad    *sadb.SAD[*xform]

	// sas keeps the transforms by SA name so that a hard expiry, which
	// the SAD reports by name after removing the SA, can wipe the keys.
	sas struct {
		mu   sync.Mutex
		byID map[sadb.ID]*xform
	}

	// enforcer is Config.Enforcer and the TUN name it accepts; mu
	// serializes the stores of spd and exempt with Apply, so that the
	// kernel ends with the policy stored last. boot is the boot mode
	// (boot.go), in force until policySet.
	enforcer struct {
		mu        sync.Mutex
		e         Enforcer
		tunName   string
		boot      *bootState
		policySet bool
	}

	router Router // Config.Router; called under enforcer.mu

	pending pending
	pool    *boundedPool
	stats   counters
	diag    atomic.Uint32 // SetDiagnostics mask

	tunWriteMu sync.Mutex // serializes tun.Write across receive routines

	lifecycle struct {
		mu    sync.Mutex // guards state; held across Start and across AddSA's insertion
		state State
	}
	stop    chan struct{} // closed by Close
	running sync.WaitGroup
}

// exemptions is the ipsecexempt setting and the prefixes it needs.
type exemptions struct {
	level sadb.ExemptLevel
	local []netip.Prefix
}

// New checks cfg and returns a Driver in StateDown with an empty SPD, no
// SAs and the default exemption level (IKE only).
func New(cfg Config) (*Driver, error) {
	if cfg.TUN == nil || cfg.Wire == nil {
		return nil, fmt.Errorf("%w: TUN and Wire are required", ErrConfig)
	}
	if cfg.QueueLen < 0 || cfg.MaxQueued < 0 || cfg.AcquireTimeout < 0 || cfg.TickInterval < 0 {
		return nil, fmt.Errorf("%w: negative limit", ErrConfig)
	}
	d := &Driver{
		tun:            cfg.TUN,
		wire:           cfg.Wire,
		log:            cfg.Logger,
		now:            cfg.Now,
		rand:           cfg.Rand,
		onAcquire:      cfg.OnAcquire,
		onExpire:       cfg.OnExpire,
		onIKE:          cfg.OnIKE,
		queueLen:       cmp.Or(cfg.QueueLen, DefaultQueueLen),
		acquireTimeout: cmp.Or(cfg.AcquireTimeout, DefaultAcquireTimeout),
		tick:           cmp.Or(cfg.TickInterval, DefaultTickInterval),
		pool:           newBoundedPool(cmp.Or(cfg.MaxQueued, DefaultMaxQueued)),
		stop:           make(chan struct{}),
		router:         cfg.Router,

		keepaliveInterval: cmp.Or(cfg.KeepaliveInterval, DefaultKeepaliveInterval),
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Enforcer != nil || cfg.Router != nil {
		name, err := cfg.TUN.Name()
		if err != nil {
			return nil, fmt.Errorf("%w: TUN name for the enforcer and router: %w", ErrConfig, err)
		}
		d.enforcer.tunName = name
	}
	if cfg.Enforcer != nil {
		d.enforcer.e = cfg.Enforcer
	}
	if d.now == nil {
		d.now = time.Now
	}
	d.sad = sadb.NewSAD[*xform](sadb.Options{Now: d.now, OnEvent: d.onSADEvent})
	d.sas.byID = map[sadb.ID]*xform{}
	d.pending.flows = map[uint64]*flow{}
	d.exempt.Store(&exemptions{level: sadb.DefaultExemptLevel})
	return d, nil
}

// State returns the lifecycle stage.
func (d *Driver) State() State {
	d.lifecycle.mu.Lock()
	defer d.lifecycle.mu.Unlock()
	return d.lifecycle.state
}

// Start opens the wire and starts the routines: one reading the TUN
// device, one per receive function of the wire, one for housekeeping.
func (d *Driver) Start() error {
	d.lifecycle.mu.Lock()
	defer d.lifecycle.mu.Unlock()
	switch d.lifecycle.state {
	case StateUp:
		return ErrStarted
	case StateClosed:
		return ErrClosed
	}
	fns, err := d.wire.Open()
	if err != nil {
		return fmt.Errorf("driver: open wire: %w", err)
	}
	d.lifecycle.state = StateUp
	d.running.Add(2 + len(fns))
	go d.routineReadFromTUN()
	for i, fn := range fns {
		go d.routineReceiveFromWire(i, fn)
	}
	go d.routineHousekeeping()
	return nil
}

// Close stops the routines and waits for them, closes the TUN device and
// the wire, drops held packets and wipes every SA. It returns the devices'
// close errors; later calls return nil.
func (d *Driver) Close() error {
	d.lifecycle.mu.Lock()
	if d.lifecycle.state == StateClosed {
		d.lifecycle.mu.Unlock()
		return nil
	}
	d.lifecycle.state = StateClosed
	// Unlocked from here: a routine's callback may call State or AddSA,
	// which fail or return quickly once the state is closed.
	d.lifecycle.mu.Unlock()
	close(d.stop)
	err := errors.Join(d.tun.Close(), d.wire.Close())
	d.running.Wait()

	d.dropAllPending()
	for _, s := range d.sad.All() {
		_ = d.DeleteSA(s.ID())
	}
	d.enforcer.mu.Lock()
	if d.enforcer.e != nil {
		err = errors.Join(err, d.enforcer.e.Close())
	}
	if d.router != nil {
		err = errors.Join(err, d.router.Close())
	}
	d.enforcer.mu.Unlock()
	return err
}

// SetPolicy installs spd, replacing the previous SPD atomically: packets
// in flight finish with the snapshot they loaded. Nil is an empty SPD,
// which permits everything. Held packets keep waiting for their SA.
//
// The first SetPolicy ends boot mode (SetBootMode).
//
// With a Router, SetPolicy then replaces the routes for spd; with an
// Enforcer, the kernel rules. It returns their errors, also logged; the
// SPD is installed in the data path either way. Without them it returns
// nil.
func (d *Driver) SetPolicy(spd *sadb.SPD) error {
	d.enforcer.mu.Lock()
	defer d.enforcer.mu.Unlock()
	d.spd.Store(spd)
	d.enforcer.policySet = true // ends boot mode (SetBootMode)
	return errors.Join(d.route(), d.enforce())
}

// SetExemptions sets the ipsecexempt level and the host's interface
// prefixes, which level 0 and 1 need for directed broadcasts. The slice is
// copied. With an Enforcer, the kernel rules follow the new level, and its
// error is returned as by SetPolicy.
func (d *Driver) SetExemptions(level sadb.ExemptLevel, local []netip.Prefix) error {
	d.enforcer.mu.Lock()
	defer d.enforcer.mu.Unlock()
	d.exempt.Store(&exemptions{level: level, local: slices.Clone(local)})
	return d.enforce()
}

// exempted reports whether f bypasses the SPD.
func (d *Driver) exempted(f *sadb.Fields) bool {
	ex := d.exempt.Load()
	return sadb.Exempt(*f, ex.level, ex.local)
}

// SendIKE sends an IKE message on the NAT-T port behind the Non-ESP
// Marker (RFC 3948 section 2.2), from local (port 0: 4500) to remote. msg
// is not kept.
func (d *Driver) SendIKE(local, remote netip.AddrPort, msg []byte) error {
	b := make([]byte, nonESPMarkerLen+len(msg))
	copy(b[nonESPMarkerLen:], msg)
	_, err := d.wire.Send([][]byte{b}, []conn.Endpoint{{Kind: conn.KindUDP, Local: local, Remote: remote}})
	return err
}

const nonESPMarkerLen = 4

// Routines.

// maxIOErrors is how many I/O errors in a row a routine survives (with a
// pause of ioErrorPause after each) before it gives up.
const (
	maxIOErrors  = 10
	ioErrorPause = time.Second / 3
)

// ioError decides what a routine does after err: it reports false when
// the routine must stop (the device was closed, the driver is closing, or
// too many errors in a row), true after logging and pausing.
func (d *Driver) ioError(routine string, err error, streak *int) bool {
	if errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) {
		return false
	}
	select {
	case <-d.stop:
		return false
	default:
	}
	*streak++
	if *streak >= maxIOErrors {
		d.log.Error("routine gives up after repeated errors", "routine", routine, "err", err)
		return false
	}
	d.log.Warn("I/O error", "routine", routine, "err", err)
	if errors.Is(err, io.ErrShortBuffer) {
		return true // one oversized packet was dropped; nothing to wait for
	}
	t := time.NewTimer(ioErrorPause)
	defer t.Stop()
	select {
	case <-d.stop:
		return false
	case <-t.C:
		return true
	}
}

// newBatch returns n buffers of bufSize bytes for a routine's lifetime.
func newBatch(n int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, bufSize)
	}
	return bufs
}

// routineReadFromTUN runs the outbound pipeline (send.go). It stops when
// the TUN device is closed.
func (d *Driver) routineReadFromTUN() {
	defer d.running.Done()
	const name = "ReadFromTUN"
	d.log.Debug("routine started", "routine", name)
	defer d.log.Debug("routine stopped", "routine", name)

	batch := max(d.tun.BatchSize(), 1)
	bufs := newBatch(batch)
	sizes := make([]int, batch)
	out := make([][]byte, 0, batch)
	eps := make([]conn.Endpoint, 0, batch)
	streak := 0
	for {
		n, err := d.tun.Read(bufs, sizes, headroom)
		for i := range n {
			if pkt, ep, ok := d.outbound(bufs[i], sizes[i]); ok {
				out = append(out, pkt)
				eps = append(eps, ep)
			}
		}
		d.send(out, eps)
		out, eps = out[:0], eps[:0]
		if err == nil {
			streak = 0
		} else if !d.ioError(name, err, &streak) {
			return
		}
	}
}

// routineReceiveFromWire runs the inbound pipeline (receive.go) for one
// receive function of the wire. It stops when the wire is closed.
func (d *Driver) routineReceiveFromWire(index int, recv conn.ReceiveFunc) {
	defer d.running.Done()
	name := fmt.Sprintf("ReceiveFromWire/%d", index)
	d.log.Debug("routine started", "routine", name)
	defer d.log.Debug("routine stopped", "routine", name)

	batch := max(d.wire.BatchSize(), 1)
	bufs := newBatch(batch)
	sizes := make([]int, batch)
	eps := make([]conn.Endpoint, batch)
	out := make([][]byte, 0, batch)
	streak := 0
	for {
		n, err := recv(bufs, sizes, eps)
		for i := range n {
			if pkt, ok := d.inbound(bufs[i][:sizes[i]], &eps[i]); ok {
				out = append(out, pkt)
			}
		}
		d.writeTUN(out)
		out = out[:0]
		if err == nil {
			streak = 0
		} else if !d.ioError(name, err, &streak) {
			return
		}
	}
}

// routineHousekeeping applies SA time lifetimes (sadb.SAD.Expire) and
// acquire timeouts and sends NAT keepalives (keepalive.go) every
// TickInterval. It stops when Close closes stop.
func (d *Driver) routineHousekeeping() {
	defer d.running.Done()
	const name = "Housekeeping"
	d.log.Debug("routine started", "routine", name)
	defer d.log.Debug("routine stopped", "routine", name)

	t := time.NewTicker(d.tick)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			now := d.now()
			d.sad.Expire()
			d.expirePending(now)
			d.sendKeepalives(now)
		}
	}
}

// send hands a batch to the wire, skipping packets that fail.
func (d *Driver) send(bufs [][]byte, eps []conn.Endpoint) {
	for len(bufs) > 0 {
		n, err := d.wire.Send(bufs, eps)
		if err == nil {
			return
		}
		d.drop(&d.stats.SendErrors, "wire send", err)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		bufs, eps = bufs[n+1:], eps[n+1:]
	}
}

// writeTUN writes a batch to the TUN device, skipping packets that fail.
// tun.Device.Write must not run concurrently with itself, and there is
// one receive routine per wire source.
func (d *Driver) writeTUN(bufs [][]byte) {
	if len(bufs) == 0 {
		return
	}
	d.tunWriteMu.Lock()
	defer d.tunWriteMu.Unlock()
	for len(bufs) > 0 {
		n, err := d.tun.Write(bufs, 0)
		if err == nil {
			return
		}
		d.drop(&d.stats.TUNWriteErrors, "tun write", err)
		if errors.Is(err, os.ErrClosed) {
			return
		}
		bufs = bufs[n+1:]
	}
}
