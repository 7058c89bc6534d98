package engine

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/engine/agent"
	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

var t0 = time.Date(2026, 11, 27, 9, 5, 7, 0, time.UTC)

func host() agent.HostInfo {
	return agent.HostInfo{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.5")}}
}

func newEngine(t *testing.T, dir string) (*Engine, *store.DB) {
	t.Helper()
	db, err := store.Open(dir, store.Options{Clock: func() time.Time { return t0 }})
	require.NoError(t, err)
	e, err := New(Options{DB: db, Host: host, Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	return e, db
}

func assign(t *testing.T, db *store.DB, loc store.Location, name string) {
	t.Helper()
	require.NoError(t, db.Update(loc, func(st *store.State) error {
		p, err := st.Policy(name)
		if err != nil {
			return err
		}
		p.Assigned = true
		return st.PutPolicy(p)
	}))
}

func TestNewNeedsDB(t *testing.T) {
	_, err := New(Options{})
	require.ErrorIs(t, err, ErrNoDB)
}

func TestLifecycle(t *testing.T) {
	e, _ := newEngine(t, t.TempDir())
	require.Equal(t, Created, e.State())
	_, err := e.SPD()
	require.ErrorIs(t, err, ErrNotRunning)
	require.ErrorIs(t, e.SetConfig(store.ConfigIKELogging, store.ConfigValue{Int: 1}), ErrNotRunning)

	require.NoError(t, e.Start(context.Background()))
	require.Equal(t, Running, e.State())
	require.ErrorIs(t, e.Start(context.Background()), ErrRunning)
	spd, err := e.SPD()
	require.NoError(t, err)
	require.True(t, spd.Equal(&agent.SPD{}), "nothing is assigned in a fresh store")

	e.Stop()
	e.Stop()
	require.Equal(t, Stopped, e.State())
	_, err = e.Stats()
	require.ErrorIs(t, err, ErrNotRunning)
	require.NoError(t, e.Start(context.Background()), "a stopped engine starts again")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e2, _ := newEngine(t, t.TempDir())
	require.ErrorIs(t, e2.Start(ctx), context.Canceled)
	require.Equal(t, Created, e2.State())
}

func TestStartCompilesAssignedPolicy(t *testing.T) {
	dir := t.TempDir()
	e, db := newEngine(t, dir)
	assign(t, db, store.Local, store.PolicySecureServer)
	require.NoError(t, e.Start(context.Background()))
	defer e.Stop()

	spd, err := e.SPD()
	require.NoError(t, err)
	st, err := snapshot(db, store.Local)
	require.NoError(t, err)
	want, err := agent.Compile(&st, host())
	require.NoError(t, err)
	require.True(t, spd.Equal(want))
	require.Equal(t, store.PolicySecureServer, spd.PolicyName)
	require.NotEmpty(t, spd.QMSpecific)
	for _, f := range spd.QMSpecific {
		require.NotZero(t, f.Weight)
	}
	require.Equal(t, t0, e.Applied())

	g, s, err := e.QMFilters()
	require.NoError(t, err)
	require.Equal(t, want.QMFilters, g)
	require.Equal(t, want.QMSpecific, s)
}

func snapshot(db *store.DB, loc store.Location) (store.State, error) {
	var c store.State
	err := db.View(loc, func(s *store.State) error { c = s.Clone(); return nil })
	return c, err
}

func TestMergePersistentFirst(t *testing.T) {
	e, db := newEngine(t, t.TempDir())
	assign(t, db, store.Persistent, store.PolicySecureServer)
	assign(t, db, store.Local, store.PolicyServer)
	require.NoError(t, e.Start(context.Background()))
	defer e.Stop()

	compile := func(loc store.Location) *agent.SPD {
		st, err := snapshot(db, loc)
		require.NoError(t, err)
		s, err := agent.Compile(&st, host())
		require.NoError(t, err)
		return s
	}
	p, l := compile(store.Persistent), compile(store.Local)
	spd, err := e.SPD()
	require.NoError(t, err)
	require.Equal(t, append(append([]ipsec.QMFilter{}, p.QMFilters...), l.QMFilters...), spd.QMFilters)
	require.Equal(t, append(append([]ipsec.QMFilter{}, p.QMSpecific...), l.QMSpecific...), spd.QMSpecific)
	require.Len(t, spd.QMPolicies, len(p.QMPolicies)+len(l.QMPolicies))
	require.Equal(t, store.PolicyServer, spd.PolicyName, "the local policy names the SPD")
}

func TestStoreChangeRecompiles(t *testing.T) {
	e, db := newEngine(t, t.TempDir())
	require.NoError(t, e.Start(context.Background()))
	defer e.Stop()
	first, err := e.SPD()
	require.NoError(t, err)
	require.Empty(t, first.QMFilters)

	assign(t, db, store.Local, store.PolicySecureServer)
	second, err := e.SPD()
	require.NoError(t, err)
	require.NotEmpty(t, second.QMFilters, "the assignment shows at the next read")

	require.NoError(t, e.Refresh())
	third, err := e.SPD()
	require.NoError(t, err)
	require.Same(t, second, third, "an equal SPD is not replaced")
}

func TestConfigThroughStore(t *testing.T) {
	dir := t.TempDir()
	e, _ := newEngine(t, dir)
	require.NoError(t, e.Start(context.Background()))
	c, err := e.Config()
	require.NoError(t, err)
	require.Equal(t, store.DefaultConfig(), c)

	require.NoError(t, e.SetConfig(store.ConfigIPsecDiagnostics, store.ConfigValue{Int: 7}))
	require.NoError(t, e.SetConfig(store.ConfigBootMode, store.ConfigValue{BootMode: store.BootBlock}))
	err = e.SetConfig(store.ConfigIPsecExempt, store.ConfigValue{Int: 4})
	var se *store.Error
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, store.CodeInvalid, se.Code)
	e.Stop()

	// A new engine on the same directory (a restart) sees the values.
	e2, _ := newEngine(t, dir)
	require.NoError(t, e2.Start(context.Background()))
	defer e2.Stop()
	c, err = e2.Config()
	require.NoError(t, err)
	want := store.DefaultConfig()
	want.IPsecDiagnostics, want.BootMode = 7, store.BootBlock
	require.Equal(t, want, c)
}

func TestStatsZero(t *testing.T) {
	e, _ := newEngine(t, t.TempDir())
	require.NoError(t, e.Start(context.Background()))
	defer e.Stop()
	s, err := e.Stats()
	require.NoError(t, err)
	require.Equal(t, ipsec.Stats{}, s)
}

func TestConcurrentUse(t *testing.T) {
	e, db := newEngine(t, t.TempDir())
	require.NoError(t, e.Start(context.Background()))
	defer e.Stop()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 0 {
				assign(t, db, store.Local, store.PolicySecureServer)
			}
			_, err := e.SPD()
			require.NoError(t, err)
			require.NoError(t, e.Refresh())
			_, err = e.Stats()
			require.NoError(t, err)
		}()
	}
	wg.Wait()
	spd, err := e.SPD()
	require.NoError(t, err)
	require.NotEmpty(t, spd.QMFilters)
}
