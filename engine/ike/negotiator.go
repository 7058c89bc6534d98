package ike

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
)

// Ports of IKE (RFC 2408 section 2.5.2) and of NAT traversal (RFC 3947
// section 4).
const (
	PortIKE  = 500
	PortNATT = 4500
)

// Config configures a Negotiator. Kernel, Policy and Transport are
// required; the other fields have defaults.
type Config struct {
	Kernel    Kernel
	Policy    Policy
	Transport Transport

	Logger *slog.Logger     // default: discard
	Now    func() time.Time // default: time.Now
	Rand   io.Reader        // cookies, nonces, SPIs, DH secrets; default crypto/rand

	// ExchangeLog gets one line per IKE message sent or received (the
	// ikelogging log): direction, peers, exchange, cookies, message ID
	// and payload list. It never holds key material. Nil: none.
	ExchangeLog io.Writer

	// ForceEncap makes quick mode use UDP encapsulation (RFC 3947
	// modes 3 and 4) whenever the peer supports NAT-T, also without a
	// NAT; by default only a detected NAT does.
	ForceEncap bool

	// RetransmitInterval is the first retransmission delay (doubling per
	// try, default 1 s); RetransmitTries the number of retransmissions
	// before giving up (default 5).
	RetransmitInterval time.Duration
	RetransmitTries    int

	// HalfOpenPerPeer and HalfOpenTotal bound the responder main modes
	// not yet authenticated (defaults 16 and 1024).
	HalfOpenPerPeer int
	HalfOpenTotal   int

	// DPDDelay is the idle time after which an R-U-THERE is sent
	// (RFC 3706); 0 disables sending (received ones are answered).
	DPDDelay time.Duration

	// Tick is the period of the housekeeping goroutine (default 100 ms).
	Tick time.Duration

	// Certificates configures certificate authentication (AuthRootCA).
	Certificates CertConfig
}

// ErrConfig is returned by New for an unusable Config.
var ErrConfig = errors.New("ike: invalid config")

// Negotiator is an IKEv1 negotiator. Its methods may be called
// concurrently.
//
// One mutex guards all negotiation state. Kernel and Policy are called
// with it held, so they must not call back into the Negotiator;
// Transport.Send is called after it is released, so a Transport may
// deliver synchronously (as the in-memory tests do). Each exchange is a
// set of role-named steps (initiatorMM2, responderMM3, respondQM1, ...)
// over a state record (mmState, qmExchange); key derivation lives in
// keys.go, the wire format in codec.go.
type Negotiator struct {
	cfg Config
	log *slog.Logger

	crlCheck atomic.Int32 // CertConfig.StrongCRLCheck, changed by SetStrongCRLCheck

	mu      sync.Mutex
	mms     map[[8]byte]*mmState // by initiator cookie
	qsas    []*qmSA
	stats   ipsec.IKEStats
	outbox  []outMsg // sent after mu is released
	cur     inbound  // the datagram being handled, for the exchange log
	closed  bool
	stop    chan struct{}
	done    chan struct{}
	started bool
}

// inbound is a received encrypted datagram, logged once decrypted.
type inbound struct {
	local, remote netip.AddrPort
	msg           []byte
	logged        bool
}

type outMsg struct {
	local, remote netip.AddrPort
	msg           []byte
}

// New returns a Negotiator; Start runs its housekeeping.
func New(cfg Config) (*Negotiator, error) {
	if cfg.Kernel == nil || cfg.Policy == nil || cfg.Transport == nil {
		return nil, fmt.Errorf("%w: Kernel, Policy and Transport are required", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.RetransmitInterval <= 0 {
		cfg.RetransmitInterval = time.Second
	}
	if cfg.RetransmitTries <= 0 {
		cfg.RetransmitTries = 5
	}
	if cfg.HalfOpenPerPeer <= 0 {
		cfg.HalfOpenPerPeer = 16
	}
	if cfg.HalfOpenTotal <= 0 {
		cfg.HalfOpenTotal = 1024
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	n := &Negotiator{
		cfg:  cfg,
		log:  cfg.Logger.With("component", "ike"),
		mms:  make(map[[8]byte]*mmState),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	n.crlCheck.Store(int32(cfg.Certificates.StrongCRLCheck))
	if err := n.loadCertificates(); err != nil {
		return nil, err
	}
	return n, nil
}

// Start runs the housekeeping goroutine (retransmissions, rekeying,
// expiry, DPD) until Close.
func (n *Negotiator) Start() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started || n.closed {
		return
	}
	n.started = true
	go n.routineHousekeeping()
}

// routineHousekeeping is owned by the Negotiator; Close stops it.
func (n *Negotiator) routineHousekeeping() {
	defer close(n.done)
	t := time.NewTicker(n.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			n.Housekeep()
		}
	}
}

// Close stops housekeeping, deletes every SA (notifying the peers) and
// makes later calls no-ops.
func (n *Negotiator) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	started := n.started
	n.mu.Unlock()
	if started {
		close(n.stop)
		<-n.done
	}
	n.flush()
	return nil
}

// Flush deletes all SAs, main mode and quick mode, sending DELETE
// notifications to the peers.
func (n *Negotiator) Flush() { n.flush() }

func (n *Negotiator) flush() {
	n.mu.Lock()
	for _, q := range append([]*qmSA(nil), n.qsas...) {
		n.deleteQMSA(q, true)
	}
	for _, mm := range n.mms {
		n.deleteMM(mm, mm.established, "flush")
	}
	out := n.takeOutbox()
	n.mu.Unlock()
	n.send(out)
}

func (n *Negotiator) now() time.Time { return n.cfg.Now() }

func (n *Negotiator) random(b []byte) {
	if _, err := io.ReadFull(n.cfg.Rand, b); err != nil {
		// A failing random source is not recoverable; fall back to the
		// system's.
		_, _ = rand.Read(b)
	}
}

func (n *Negotiator) randomU32() uint32 {
	var b [4]byte
	n.random(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// newSPI returns an SPI for an inbound SA (RFC 4303: 1-255 reserved).
func (n *Negotiator) newSPI() uint32 {
	n.stats.TotalGetSPI++
	for {
		if s := n.randomU32(); s > 255 {
			return s
		}
	}
}

func (n *Negotiator) takeOutbox() []outMsg {
	o := n.outbox
	n.outbox = nil
	return o
}

func (n *Negotiator) send(out []outMsg) {
	for _, o := range out {
		if err := n.cfg.Transport.Send(o.local, o.remote, o.msg); err != nil {
			n.mu.Lock()
			n.stats.SendFailures++
			n.mu.Unlock()
			n.log.Warn("send failed", "remote", o.remote, "err", err)
		}
	}
}

// queue schedules msg for sending once mu is released and logs it.
func (n *Negotiator) queue(local, remote netip.AddrPort, msg []byte, what string) {
	n.outbox = append(n.outbox, outMsg{local, remote, msg})
	n.exchangeLog("send", local, remote, msg, what)
}

func (n *Negotiator) exchangeLog(dir string, local, remote netip.AddrPort, msg []byte, what string) {
	if n.cfg.ExchangeLog == nil {
		return
	}
	h, err := DecodeHeader(msg)
	if err != nil {
		fmt.Fprintf(n.cfg.ExchangeLog, "%s %s %s<->%s malformed (%d bytes)\n",
			n.now().UTC().Format(time.RFC3339Nano), dir, local, remote, len(msg))
		return
	}
	fmt.Fprintf(n.cfg.ExchangeLog, "%s %s %s %s<->%s icookie %x rcookie %x mid %08x %s%s (%d bytes)\n",
		n.now().UTC().Format(time.RFC3339Nano), dir, exchangeName(h.Exchange), local, remote,
		h.CookieI, h.CookieR, h.MsgID, what, encryptedMark(h.Flags), len(msg))
}

// logPlain logs a received unencrypted message with its payloads.
func (n *Negotiator) logPlain(local, remote netip.AddrPort, msg []byte) {
	if n.cfg.ExchangeLog == nil {
		return
	}
	what := "(malformed)"
	if m, err := Decode(msg); err == nil {
		what = m.summary()
	}
	n.exchangeLog("recv", local, remote, msg, what)
}

// open decrypts the message being received (openEncrypted) and logs it
// with its payloads.
func (n *Negotiator) open(k *phase1Keys, h Header, msg, iv []byte) (*Message, []byte, error) {
	m, next, err := openEncrypted(k, h, msg, iv)
	if n.cfg.ExchangeLog != nil && bytes.Equal(msg, n.cur.msg) {
		what := "(undecryptable)"
		if err == nil {
			what = m.summary()
		}
		n.exchangeLog("recv", n.cur.local, n.cur.remote, msg, what)
		n.cur.logged = true
	}
	return m, next, err
}

func exchangeName(e uint8) string {
	switch e {
	case exchIdentity:
		return "main-mode"
	case exchQuick:
		return "quick-mode"
	case exchInformational:
		return "informational"
	}
	return fmt.Sprintf("exchange-%d", e)
}

func encryptedMark(f uint8) string {
	if f&flagEncryption != 0 {
		return " [E]"
	}
	return ""
}

// Receive handles one IKE datagram (without Non-ESP Marker) that arrived
// on local from remote. msg is copied.
func (n *Negotiator) Receive(local, remote netip.AddrPort, msg []byte) {
	msg = bytes.Clone(msg)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.receive(local, remote, msg)
	out := n.takeOutbox()
	n.mu.Unlock()
	n.send(out)
}

func (n *Negotiator) receive(local, remote netip.AddrPort, msg []byte) {
	// IKE here is IPv4 only (ID_IPV4_* payloads, the IPv4 SPD).
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	if !local.Addr().Is4() || !remote.Addr().Is4() {
		n.stats.InvalidPacketsReceived++
		return
	}
	h, err := DecodeHeader(msg)
	if err != nil {
		n.stats.InvalidPacketsReceived++
		n.log.Debug("dropped malformed datagram", "remote", remote, "err", err)
		return
	}
	mm := n.mms[h.CookieI]
	if mm == nil {
		if h.Exchange == exchIdentity && h.CookieR == ([8]byte{}) && h.MsgID == 0 && h.Flags&flagEncryption == 0 {
			n.logPlain(local, remote, msg)
			n.respondMM1(local, remote, h, msg)
			return
		}
		n.stats.InvalidCookiesReceived++
		n.log.Debug("unknown cookies", "remote", remote, "icookie", fmt.Sprintf("%x", h.CookieI))
		return
	}
	// A retransmitted MM1 still has no responder cookie; it is answered
	// from the cache.
	mm1 := h.Exchange == exchIdentity && h.CookieR == ([8]byte{}) && h.MsgID == 0 && !mm.initiator
	if mm.ckyR != ([8]byte{}) && h.CookieR != mm.ckyR && !mm1 || mm.remote.Addr() != remote.Addr() && !mm.natt {
		n.stats.InvalidCookiesReceived++
		return
	}
	if h.Flags&flagEncryption == 0 {
		n.logPlain(local, remote, msg)
	} else {
		n.cur = inbound{local: local, remote: remote, msg: msg}
		defer func() {
			if !n.cur.logged {
				n.exchangeLog("recv", local, remote, msg, "(not decrypted)")
			}
			n.cur = inbound{}
		}()
	}
	switch h.Exchange {
	case exchIdentity:
		n.mainModeReceive(mm, local, remote, h, msg)
	case exchQuick:
		n.quickModeReceive(mm, local, remote, h, msg)
	case exchInformational:
		n.informationalReceive(mm, local, remote, h, msg)
	default:
		n.stats.InvalidPacketsReceived++
	}
}

// retx is a message awaiting its answer, retransmitted with back-off.
type retx struct {
	local, remote netip.AddrPort
	msg           []byte
	next          time.Time
	delay         time.Duration
	tries         int
}

func (n *Negotiator) arm(r *retx, local, remote netip.AddrPort, msg []byte) {
	*r = retx{local: local, remote: remote, msg: msg, delay: n.cfg.RetransmitInterval}
	r.next = n.now().Add(r.delay)
}

// due retransmits r when its time has come; it reports false when the
// tries are exhausted.
func (n *Negotiator) due(r *retx, now time.Time) bool {
	if r.msg == nil || now.Before(r.next) {
		return true
	}
	if r.tries >= n.cfg.RetransmitTries {
		return false
	}
	r.tries++
	r.delay *= 2
	r.next = now.Add(r.delay)
	n.queue(r.local, r.remote, r.msg, "retransmit")
	return true
}

// SoftFallbackAfter is how long an acquire for a soft filter (`soft=yes`)
// waits for the peer's first answer: without one, the acquire fails
// (Kernel.FailAcquire, where the data path falls back to clear text) and
// counts a soft association, while main mode keeps trying for the other
// acquires. Windows Server 2003 falls back after 3 seconds.
const SoftFallbackAfter = 3 * time.Second

// softFallback fails the soft acquires waiting on mm, whose peer has not
// answered MM1.
func (n *Negotiator) softFallback(mm *mmState) {
	kept := mm.pending[:0]
	for _, r := range mm.pending {
		if r.rekeyOf == nil && r.acq.Filter.Soft {
			n.log.Info("no answer from the peer: soft fallback to clear text", "remote", mm.remote, "filter", r.acq.Filter.Name)
			n.stats.SoftAssociations++
			n.failAcquire(r.acq)
			continue
		}
		kept = append(kept, r)
	}
	clear(mm.pending[len(kept):])
	mm.pending = kept
}

// Housekeep runs one round of timers: retransmission and give-up,
// expiry and rekeying, DPD. The housekeeping goroutine calls it every
// Tick; tests with a fake clock call it directly.
func (n *Negotiator) Housekeep() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	now := n.now()
	for _, mm := range n.mms {
		n.housekeepMM(mm, now)
	}
	for _, q := range append([]*qmSA(nil), n.qsas...) {
		n.housekeepQM(q, now)
	}
	out := n.takeOutbox()
	n.mu.Unlock()
	n.send(out)
}

func (n *Negotiator) housekeepMM(mm *mmState, now time.Time) {
	if !mm.established {
		if mm.initiator && mm.state == mmSentSA && now.Sub(mm.created) >= SoftFallbackAfter {
			n.softFallback(mm)
		}
		if !n.due(&mm.rx, now) {
			n.log.Info("main mode timed out", "remote", mm.remote, "state", mm.state)
			n.failMM(mm, "no answer")
			return
		}
		// A responder's half-open state goes after the initiator's
		// give-up time.
		if !mm.initiator && now.Sub(mm.touched) > n.giveUpAfter() {
			n.failMM(mm, "half-open timeout")
		}
		return
	}
	for id, q := range mm.qms {
		if q.initiator && !n.due(&q.rx, now) {
			n.log.Info("quick mode timed out", "remote", mm.remote, "mid", id)
			n.failQM(mm, q, "no answer")
			continue
		}
		// Finished exchanges stay to answer duplicates, unfinished
		// responder ones until the initiator would have given up.
		if (q.done || !q.initiator) && now.Sub(q.touched) > n.giveUpAfter() {
			delete(mm.qms, id)
			if !q.done {
				n.dropEarly(q)
			}
			q.close()
			if !q.done {
				n.stats.ReceiveFailures++
				n.stats.NegotiationFailures++
			}
		}
	}
	if now.After(mm.expires) {
		n.log.Info("main mode SA expired", "remote", mm.remote)
		n.deleteMM(mm, true, "expired")
		return
	}
	n.dpdTick(mm, now)
}

func (n *Negotiator) giveUpAfter() time.Duration {
	d, t := time.Duration(0), n.cfg.RetransmitInterval
	for i := 0; i <= n.cfg.RetransmitTries; i++ {
		d += t
		t *= 2
	}
	return d
}

// Stats returns the IKE counters.
func (n *Negotiator) Stats() ipsec.IKEStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.stats
	peers := map[netip.Addr]bool{}
	for _, mm := range n.mms {
		if !mm.initiator && !mm.established {
			s.ActiveReceive++
		}
		for _, q := range mm.qms {
			if !q.initiator && !q.done {
				s.ActiveReceive++
			}
		}
		if mm.established {
			s.ISADBListSize++
		}
		peers[mm.remote.Addr()] = true
	}
	s.ConnectionListSize = uint64(len(peers))
	return s
}

// MMSAs returns the established main mode SAs.
func (n *Negotiator) MMSAs() []ipsec.MMSA {
	n.mu.Lock()
	defer n.mu.Unlock()
	var r []ipsec.MMSA
	for _, mm := range n.mms {
		if mm.established {
			r = append(r, mm.info())
		}
	}
	return r
}

// QMSAs returns the installed quick mode SA pairs.
func (n *Negotiator) QMSAs() []ipsec.QMSA {
	n.mu.Lock()
	defer n.mu.Unlock()
	r := make([]ipsec.QMSA, 0, len(n.qsas))
	for _, q := range n.qsas {
		r = append(r, q.info)
	}
	return r
}
