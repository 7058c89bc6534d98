package store

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

func fixedClock() time.Time { return t0 }

// tickClock returns a clock that starts at t0 and advances one second per call.
func tickClock() func() time.Time {
	var mu sync.Mutex
	n := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return t0.Add(time.Duration(n) * time.Second)
	}
}

// guidGen is a deterministic GUID source: {PPPPPPPP-0000-4000-8000-NNNNNNNNNNNN}.
type guidGen struct {
	mu     sync.Mutex
	prefix uint32
	n      uint64
}

func (g *guidGen) next() GUID {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	return GUID(fmt.Sprintf("{%08X-0000-4000-8000-%012X}", g.prefix, g.n))
}

// newState returns the built-in store with a fixed clock and GUIDs
// {00000001-...-000000000001}, ...
func newState(t testing.TB) *State {
	t.Helper()
	s := Builtin(fixedClock)
	g := &guidGen{prefix: 1}
	s.SetEnv(fixedClock, g.next)
	return &s
}

func ip(s string) ipsec.Address {
	return ipsec.Address{Kind: ipsec.AddrIP, IP: netip.MustParseAddr(s)}
}

var (
	me      = ipsec.Address{Kind: ipsec.AddrMe}
	anyAddr = ipsec.Address{Kind: ipsec.AddrAny}
)

// requireCode asserts that err is a *Error with the given code, also through
// errors.Is with a fresh sentinel.
func requireCode(t testing.TB, err error, code int) *Error {
	t.Helper()
	require.Error(t, err)
	var e *Error
	require.True(t, errors.As(err, &e), "not a *Error: %v", err)
	require.Equal(t, code, e.Code, "%v", err)
	require.ErrorIs(t, err, &Error{Code: code})
	return e
}

// requireInvariants checks the documented invariants of State.
func requireInvariants(t testing.TB, s *State) {
	t.Helper()
	assigned := 0
	for i, p := range s.Policies {
		require.NotEmpty(t, p.Name)
		require.NotEmpty(t, p.GUID)
		for _, o := range s.Policies[:i] {
			require.False(t, sameName(o.Name, p.Name), "policy name %q twice", p.Name)
			require.False(t, o.GUID.Equal(p.GUID), "policy GUID %s twice", p.GUID)
		}
		if p.Assigned {
			assigned++
		}
		require.True(t, p.DefaultRule.Default)
		require.Zero(t, p.DefaultRule.ID)
		require.NotEmpty(t, p.DefaultRule.Auth)
		for j, r := range p.Rules {
			require.False(t, r.Default)
			require.Positive(t, r.ID)
			for _, o := range p.Rules[:j] {
				require.NotEqual(t, o.ID, r.ID)
				if r.Name != "" {
					require.False(t, sameName(o.Name, r.Name))
				}
			}
			require.GreaterOrEqual(t, s.filterListIndexGUID(r.FilterList), 0, "rule %d of %q: list %s", r.ID, p.Name, r.FilterList)
			require.GreaterOrEqual(t, s.filterActionIndexGUID(r.FilterAction), 0, "rule %d of %q: action %s", r.ID, p.Name, r.FilterAction)
		}
	}
	require.LessOrEqual(t, assigned, 1)
	for i, l := range s.FilterLists {
		for _, o := range s.FilterLists[:i] {
			require.False(t, sameName(o.Name, l.Name))
			require.False(t, o.GUID.Equal(l.GUID))
		}
	}
	for i, a := range s.FilterActions {
		for _, o := range s.FilterActions[:i] {
			require.False(t, sameName(o.Name, a.Name))
			require.False(t, o.GUID.Equal(a.GUID))
		}
	}
}
