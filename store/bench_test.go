package store

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/stretchr/testify/require"
)

// benchScript returns the n callbacks of a script mixing every add command:
// per 100 commands one policy, 10 filter lists, 10 filter actions, 10 rules
// and 69 filters.
func benchScript(n int) []func(*State) error {
	fns := make([]func(*State) error, 0, n)
	var pol, list, action string
	for i := range n {
		switch {
		case i%100 == 0:
			pol = fmt.Sprintf("P%05d", i)
			name := pol
			fns = append(fns, func(s *State) error { _, err := s.AddPolicy(NewPolicy(name)); return err })
		case i%10 == 1:
			list = fmt.Sprintf("L%05d", i)
			name := list
			fns = append(fns, func(s *State) error { _, err := s.AddFilterList(FilterList{Name: name}); return err })
		case i%10 == 2:
			action = fmt.Sprintf("A%05d", i)
			name := action
			fns = append(fns, func(s *State) error { _, err := s.AddFilterAction(NewFilterAction(name)); return err })
		case i%10 == 3:
			p, l, a, name := pol, list, action, fmt.Sprintf("R%05d", i)
			fns = append(fns, func(s *State) error { _, err := s.AddRule(p, l, a, NewRule(name)); return err })
		default:
			l := list
			addr := ipsec.Address{Kind: ipsec.AddrIP, IP: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})}
			fns = append(fns, func(s *State) error { return s.AddFilter(l, NewFilter(me, addr)) })
		}
	}
	return fns
}

func runBatch(b *testing.B, fns []func(*State) error) {
	for b.Loop() {
		b.StopTimer()
		db := openDB(b, b.TempDir(), 1)
		b.StartTimer()
		require.NoError(b, db.BeginBatch(Local))
		for _, fn := range fns {
			if err := db.Update(Local, fn); err != nil {
				b.Fatal(err)
			}
		}
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBatch10k: 10,000 mixed commands in batch mode, then one Flush.
func BenchmarkBatch10k(b *testing.B) { runBatch(b, benchScript(10_000)) }

// BenchmarkBatch10kFilters: 10,000 `add filter` into one list (ban lists).
func BenchmarkBatch10kFilters(b *testing.B) {
	fns := make([]func(*State) error, 10_000)
	for i := range fns {
		addr := ipsec.Address{Kind: ipsec.AddrIP, IP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})}
		fns[i] = func(s *State) error { return s.AddFilter("bans", NewFilter(me, addr)) }
	}
	runBatch(b, fns)
}

// BenchmarkUpdate: one command outside batch mode (open, transaction with
// fsync, close) on a store holding the built-ins plus 1,000 filters.
func BenchmarkUpdate(b *testing.B) {
	db := openDB(b, b.TempDir(), 1)
	require.NoError(b, db.BeginBatch(Local))
	for _, fn := range benchScript(1000) {
		require.NoError(b, db.Update(Local, fn))
	}
	require.NoError(b, db.Flush())
	i := 0
	for b.Loop() {
		i++
		if err := db.Update(Local, addList(fmt.Sprintf("bench%d", i))); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBenchScriptValid(t *testing.T) {
	db := openDB(t, t.TempDir(), 1)
	require.NoError(t, db.BeginBatch(Local))
	for _, fn := range benchScript(1000) {
		require.NoError(t, db.Update(Local, fn))
	}
	require.NoError(t, db.Flush())
	st := snapshot(t, db, Local)
	require.Len(t, st.Policies, 3+10)
	require.Len(t, st.FilterLists, 2+100)
	require.Len(t, st.FilterActions, 3+100)
	requireInvariants(t, &st)
}

// BenchmarkBatch10kRerun: the mixed script run a second time in batch mode,
// so that all 10,000 commands fail with "already exists" or succeed as
// duplicates (add filter).
func BenchmarkBatch10kRerun(b *testing.B) {
	fns := benchScript(10_000)
	for b.Loop() {
		b.StopTimer()
		db := openDB(b, b.TempDir(), 1)
		require.NoError(b, db.BeginBatch(Local))
		for _, fn := range fns {
			require.NoError(b, db.Update(Local, fn))
		}
		require.NoError(b, db.Flush())
		b.StartTimer()
		require.NoError(b, db.BeginBatch(Local))
		for _, fn := range fns {
			_ = db.Update(Local, fn)
		}
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}
