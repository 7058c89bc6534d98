package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/engine/enginetest"
	"github.com/gonetsh/gonetsh/engine/ike"
	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

type wiredEngine struct {
	*Engine
	db                   *store.DB
	dp                   *fakeDataPath
	neg                  *enginetest.Negotiator
	pol                  ike.Policy
	ikeW                 io.Writer // the negotiator's log writer
	clock                *fakeClock
	log                  *memFile
	files                map[string]*memFile
	watch, poll, summary *fakeTicker
}

// wired starts an engine with a fake data path, negotiator and clock over
// a fresh store in dir.
func wired(t *testing.T, dir string) *wiredEngine {
	t.Helper()
	db, err := store.Open(dir, store.Options{Clock: func() time.Time { return t0 }})
	require.NoError(t, err)
	w := &wiredEngine{db: db, dp: &fakeDataPath{}, neg: &enginetest.Negotiator{}, clock: newFakeClock(),
		log: &memFile{}, files: map[string]*memFile{}}
	e, err := New(Options{
		DB: db, Host: host, Now: func() time.Time { return t0 },
		Logger:   slog.New(slog.NewTextHandler(w.log, nil)),
		DataPath: w.dp,
		NewNegotiator: func(p ike.Policy, l io.Writer) Negotiator {
			w.pol, w.ikeW = p, l
			return w.neg
		},
		IKELogPath: "/var/lib/gonetsh/ike.log",
		OpenLog: func(path string) (io.WriteCloser, error) {
			f := &memFile{}
			w.files[path] = f
			return f, nil
		},
		NewTicker: w.clock.NewTicker,
	})
	require.NoError(t, err)
	w.Engine = e
	require.NoError(t, e.Start(context.Background()))
	t.Cleanup(e.Stop)
	w.watch, w.poll, w.summary = w.clock.wait()
	return w
}

// The configuration reaches the data path before the first policy, and
// Start hands over a policy even when none is assigned (boot mode ends).
func TestStartOrder(t *testing.T) {
	w := wired(t, t.TempDir())
	require.Equal(t, []string{"config", "policy"}, w.dp.calls)
	require.Equal(t, store.DefaultConfig(), w.dp.configs[0])
	require.Empty(t, w.dp.spds[0].QMSpecific)
	require.Same(t, w.Engine, w.pol, "the negotiator asks the engine")
	require.Equal(t, []uint8{1}, w.neg.CRLChecks(), "strongcrlcheck's default reaches the negotiator at start")
	require.Equal(t, DefaultWatchInterval, w.watch.Period())
	require.Equal(t, 180*time.Minute, w.poll.Period(), "no policy assigned: the default polling interval")
	require.Equal(t, 3600*time.Second, w.summary.Period())
}

// Re-applying an unchanged policy does not call SetPolicy again; a change
// does, once.
func TestUnchangedPolicyNotReapplied(t *testing.T) {
	w := wired(t, t.TempDir())
	require.NoError(t, w.Refresh())
	_, err := w.SPD()
	require.NoError(t, err)
	require.False(t, w.check())
	require.Equal(t, 1, w.dp.policies())

	assign(t, w.db, store.Local, store.PolicySecureServer)
	require.True(t, w.check())
	require.Equal(t, 2, w.dp.policies())
	require.NotEmpty(t, w.dp.lastSPD().QMSpecific)
	require.NoError(t, w.Refresh())
	require.False(t, w.check())
	require.Equal(t, 2, w.dp.policies())

	// A dynamic policy changes the served SPD: the data path gets the
	// merge, once.
	require.NoError(t, w.AddMMPolicy(ipsec.MMPolicy{Name: "m", Offers: ipsec.DefaultMMOffers}))
	require.Equal(t, 3, w.dp.policies())
	require.Equal(t, "m", w.dp.lastSPD().MMPolicies[len(w.dp.lastSPD().MMPolicies)-1].Name)
	require.False(t, w.check())
	require.Equal(t, 3, w.dp.policies())
}

// The watch tick applies a change written by another process without any
// command.
func TestWatchTickAppliesStoreChange(t *testing.T) {
	dir := t.TempDir()
	w := wired(t, dir)
	other, err := store.Open(dir, store.Options{})
	require.NoError(t, err)
	assign(t, other, store.Local, store.PolicySecureServer)
	w.watch.fire()
	require.Eventually(t, func() bool { return w.dp.policies() == 2 }, 5*time.Second, time.Millisecond)
	require.Equal(t, store.PolicySecureServer, w.dp.lastSPD().PolicyName)
}

// The poll ticker follows the assigned policy's pollinginterval and its
// tick refreshes.
func TestPollingInterval(t *testing.T) {
	w := wired(t, t.TempDir())
	require.NoError(t, w.db.Update(store.Local, func(st *store.State) error {
		p, err := st.Policy(store.PolicySecureServer)
		if err != nil {
			return err
		}
		p.Assigned, p.PollingInterval = true, 5
		return st.PutPolicy(p)
	}))
	require.True(t, w.check())
	require.Eventually(t, func() bool { return w.poll.Period() == 5*time.Minute }, 5*time.Second, time.Millisecond)
	w.poll.fire() // a Refresh of an unchanged store
	w.watch.fire()
	w.watch.fire() // RoutinePoll handled the poll tick before these returned
	require.Equal(t, 2, w.dp.policies())
}

// Each set config property takes effect at once.
func TestConfigActions(t *testing.T) {
	w := wired(t, t.TempDir())
	set := func(p store.ConfigProperty, v store.ConfigValue) {
		t.Helper()
		require.NoError(t, w.SetConfig(p, v))
	}

	set(store.ConfigIPsecExempt, store.ConfigValue{Int: 0})
	c, n := w.dp.lastConfig()
	require.Equal(t, 2, n)
	require.Equal(t, 0, c.IPsecExempt)
	set(store.ConfigBootMode, store.ConfigValue{BootMode: store.BootBlock})
	set(store.ConfigBootExemptions, store.ConfigValue{Exemptions: []store.BootExemption{
		{Protocol: ipsec.ProtoTCP, DstPort: 22, Direction: ipsec.Inbound}}})
	set(store.ConfigIPsecDiagnostics, store.ConfigValue{Int: 7})
	c, n = w.dp.lastConfig()
	require.Equal(t, 5, n)
	require.Equal(t, store.BootBlock, c.BootMode)
	require.Equal(t, "TCP:0:22:inbound", c.BootExemptions[0].String())
	require.Equal(t, 7, c.IPsecDiagnostics)

	// Properties the data path does not use do not call it.
	set(store.ConfigStrongCRLCheck, store.ConfigValue{Int: 2})
	require.Equal(t, []uint8{1, 2}, w.neg.CRLChecks())
	_, n = w.dp.lastConfig()
	require.Equal(t, 5, n)

	// ikelogging: the negotiator's writer discards, then appends to the file.
	w.ikeW.Write([]byte("dropped\n"))
	require.Empty(t, w.files)
	set(store.ConfigIKELogging, store.ConfigValue{Int: 1})
	w.ikeW.Write([]byte("kept\n"))
	f := w.files["/var/lib/gonetsh/ike.log"]
	require.NotNil(t, f)
	require.Equal(t, "kept\n", f.String())
	set(store.ConfigIKELogging, store.ConfigValue{Int: 0})
	w.IKELog().Write([]byte("dropped again\n"))
	require.Equal(t, "kept\n", f.String())
	require.True(t, f.closed)
	require.Equal(t, "/var/lib/gonetsh/ike.log", w.IKELogPath())

	// ipsecloginterval: the summary ticker's period; its tick logs a line.
	set(store.ConfigIPsecLogInterval, store.ConfigValue{Int: 600})
	require.Eventually(t, func() bool { return w.summary.Period() == 600*time.Second }, 5*time.Second, time.Millisecond)
	w.neg.Load(make([]ipsec.MMSA, 2), nil, ipsec.IKEStats{})
	w.dp.mu.Lock()
	w.dp.stats.BadSPIPackets = 4
	w.dp.mu.Unlock()
	w.summary.fire()
	w.watch.fire() // the summary tick was handled before this one returns
	require.Contains(t, w.log.String(), `msg="IPsec summary" mmsas=2 qmsas=0 active_sas=0 bad_spi=4 not_decrypted=0`)

	// An invalid value reaches nobody.
	err := w.SetConfig(store.ConfigIPsecExempt, store.ConfigValue{Int: 9})
	var se *store.Error
	require.True(t, errors.As(err, &se))
	_, n = w.dp.lastConfig()
	require.Equal(t, 5, n)
}

// Stats merges the negotiator's and the data path's counters; delete all
// and Stop flush the SAs.
func TestStatsAndFlush(t *testing.T) {
	w := wired(t, t.TempDir())
	w.neg.Load(nil, nil, ipsec.IKEStats{IKEMainMode: 3})
	w.dp.stats.ActiveSecurityAssociations = 2
	s, err := w.Stats()
	require.NoError(t, err)
	require.Equal(t, uint64(3), s.IKE.IKEMainMode)
	require.Equal(t, uint64(2), s.IPsec.ActiveSecurityAssociations)

	w.neg.Load([]ipsec.MMSA{{Initiator: true}}, nil, ipsec.IKEStats{})
	mm, err := w.MMSAs()
	require.NoError(t, err)
	require.Len(t, mm, 1)
	require.NoError(t, w.DeleteAll())
	require.Equal(t, 1, w.neg.Flushes())
	mm, err = w.MMSAs()
	require.NoError(t, err)
	require.Empty(t, mm)
	w.Stop()
	require.Equal(t, 2, w.neg.Flushes())
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

// ike.Policy over Secure Server on 192.0.2.5: all IP traffic me <-> any
// negotiates, ICMP is permitted; the default response rule answers.
func TestPolicyAnswers(t *testing.T) {
	w := wired(t, t.TempDir())
	me, peer := ip("192.0.2.5"), ip("198.51.100.7")

	_, _, ok := w.MainMode(me, peer)
	require.False(t, ok, "nothing assigned")

	assign(t, w.db, store.Local, store.PolicySecureServer)
	require.True(t, w.check())
	mf, mp, ok := w.MainMode(me, peer)
	require.True(t, ok)
	require.Equal(t, ipsec.Outbound, mf.Direction)
	require.Equal(t, pfx("192.0.2.5/32"), mf.Selector.Src)
	require.False(t, mf.RespondOnly, "the rule's filter (me -> any) ranks with the default response's; the rule comes first")
	require.Equal(t, store.PolicySecureServer, mp.Name)
	_, _, ok = w.MainMode(ip("192.0.2.99"), peer)
	require.False(t, ok, "not one of this host's addresses")

	// The initiator (the peer) proposes IDci = peer:any, IDcr = me:80
	// TCP; the negotiator asks with it seen from here, me:80 -> peer,
	// which "All IP Traffic" covers.
	sel := ipsec.Selector{Src: pfx("192.0.2.5/32"), Dst: pfx("198.51.100.7/32"), Protocol: ipsec.ProtoTCP, SrcPort: 80}
	qf, qp, ok := w.QuickMode(me, peer, sel, netip.Addr{})
	require.True(t, ok)
	require.Equal(t, ipsec.Outbound, qf.Direction)
	require.Equal(t, pfx("192.0.2.5/32"), qf.Selector.Src, "the answer is our outbound filter")
	require.Equal(t, ipsec.ProtoAny, qf.Selector.Protocol)
	require.Equal(t, "Require Security", qp.Name)
	require.NotEmpty(t, qp.Offers)

	// The proposal as it arrived (IDci -> IDcr: peer -> me) is not what
	// the engine expects: no outbound filter has Src = peer.
	_, _, ok = w.QuickMode(me, peer, sel.Reverse(), netip.Addr{})
	require.False(t, ok, "sel is this host's side first")

	// ICMP is permitted: the first covering filter is permit, refused.
	icmp := ipsec.Selector{Src: pfx("192.0.2.5/32"), Dst: pfx("198.51.100.7/32"), Protocol: ipsec.ProtoICMP}
	_, _, ok = w.QuickMode(me, peer, icmp, netip.Addr{})
	require.False(t, ok)

	// A tunnel proposal matches no transport filter.
	_, _, ok = w.QuickMode(me, peer, sel, peer)
	require.False(t, ok)
}

// With Client (Respond Only) only the default response rule answers: a
// filter made for the occasion with the default response's policy.
func TestPolicyDefaultResponse(t *testing.T) {
	w := wired(t, t.TempDir())
	assign(t, w.db, store.Local, store.PolicyClient)
	require.True(t, w.check())
	me, peer := ip("192.0.2.5"), ip("198.51.100.7")
	mf, _, ok := w.MainMode(me, peer)
	require.True(t, ok)
	require.True(t, mf.RespondOnly)
	sel := ipsec.Selector{Src: pfx("192.0.2.5/32"), Dst: pfx("198.51.100.7/32"), Protocol: ipsec.ProtoUDP, DstPort: 53}
	qf, qp, ok := w.QuickMode(me, peer, sel, netip.Addr{})
	require.True(t, ok)
	require.Equal(t, "Default Response", qf.Name)
	require.Equal(t, sel, qf.Selector)
	require.Equal(t, ipsec.ActionNegotiate, qf.OutboundAction)
	require.Equal(t, "Default Response", qp.Name)
	require.Equal(t, qp.Name, qf.QMPolicy)
}

// Engine.Acquire hands the negotiator the filter with its policy and the
// peer: the tunnel endpoint, else the /32 destination.
func TestAcquire(t *testing.T) {
	w := wired(t, t.TempDir())
	assign(t, w.db, store.Local, store.PolicySecureServer)
	_, spec, err := w.QMFilters()
	require.NoError(t, err)
	var f ipsec.QMFilter
	for _, s := range spec {
		if s.Direction == ipsec.Outbound && s.OutboundAction == ipsec.ActionNegotiate {
			f = s
			break
		}
	}
	require.NotEmpty(t, f.QMPolicy)
	me := ip("192.0.2.5")
	require.ErrorIs(t, w.Acquire(7, f, me), ErrNoPeer, "me -> any names no peer")

	f.Selector.Dst = pfx("198.51.100.7/32")
	require.NoError(t, w.Acquire(7, f, me))
	f.Tunnel = ip("203.0.113.9")
	require.NoError(t, w.Acquire(8, f, me))
	acq := w.neg.Acquires()
	require.Len(t, acq, 2)
	a := acq[0]
	require.Equal(t, uint64(7), a.Ref)
	require.Equal(t, me, a.Local)
	require.Equal(t, ip("198.51.100.7"), a.Remote)
	require.Equal(t, "Require Security", a.Policy.Name)
	require.Equal(t, ip("203.0.113.9"), acq[1].Remote)

	f.QMPolicy = "gone"
	require.ErrorIs(t, w.Acquire(9, f, me), ErrNoQMPolicy)

	plain, _ := newEngine(t, t.TempDir())
	require.NoError(t, plain.Start(context.Background()))
	defer plain.Stop()
	require.ErrorIs(t, plain.Acquire(1, f, me), ErrNoNegotiator)
	sas, err := plain.QMSAs()
	require.NoError(t, err)
	require.Empty(t, sas)
}

// Start owns one goroutine (RoutinePoll) and Stop ends it before it
// returns, however often the engine restarts.
func TestStopEndsRoutine(t *testing.T) {
	e, _ := newEngine(t, t.TempDir())
	// Count this engine's routine by name in a dump of all goroutines:
	// the total count moves with other tests' goroutines ending.
	routines := func() int {
		buf := make([]byte, 1<<22)
		n := runtime.Stack(buf, true)
		return strings.Count(string(buf[:n]), "engine.(*Engine).RoutinePoll(")
	}
	eventually := func(want int) bool {
		deadline := time.Now().Add(5 * time.Second)
		for routines() != want {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(5 * time.Millisecond)
		}
		return true
	}
	// Engines of earlier tests that were never stopped keep theirs.
	base := routines()
	for range 3 {
		require.NoError(t, e.Start(context.Background()))
		require.True(t, eventually(base+1), "RoutinePoll goroutines after Start: %d, want %d", routines(), base+1)
		e.Stop()
		require.Equal(t, base, routines(), "Stop returned with RoutinePoll still running")
	}
}
