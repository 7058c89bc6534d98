package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func TestBatchErrorsAtOnceOneWrite(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir, 1)
	require.NoError(t, db.Update(Local, addList("before")))
	require.NoError(t, db.BeginBatch(Local))
	require.NoError(t, db.BeginBatch(Local)) // no-op
	require.True(t, db.Batching(Local))
	require.False(t, db.Batching(Persistent))

	require.NoError(t, db.Update(Local, addList("b1")))
	require.NoError(t, db.Update(Local, addList("b2")))
	requireCode(t, db.Update(Local, addList("B1")), CodeFilterListExists) // at once
	requireCode(t, db.Update(Local, func(s *State) error { return s.DeletePolicy("nope") }), CodePolicyNotFound)
	require.NoError(t, db.Update(Local, func(s *State) error { return s.DeleteFilterList("before") }))

	// View shows the batch; disk and Seq do not.
	mem := snapshot(t, db, Local)
	_, err := mem.FilterList("b2")
	require.NoError(t, err)
	_, err = mem.FilterList("before")
	requireCode(t, err, CodeFilterListNotFound)
	require.Equal(t, uint64(1), seq(t, db, Local))
	other := snapshot(t, openDB(t, dir, 2), Local)
	_, err = other.FilterList("b1")
	requireCode(t, err, CodeFilterListNotFound)

	// A location not in batch mode is written at once.
	require.NoError(t, db.Update(Persistent, addList("direct")))
	require.Equal(t, uint64(1), seq(t, db, Persistent))

	require.NoError(t, db.Flush())
	require.Equal(t, uint64(2), seq(t, db, Local), "one write for the whole batch")
	require.False(t, db.Batching(Local), "Flush ends batch mode")
	require.Equal(t, mem, snapshot(t, openDB(t, dir, 2), Local))

	// After batch mode every Update writes again.
	require.NoError(t, db.Update(Local, addList("b3")))
	require.Equal(t, uint64(3), seq(t, db, Local))

	// Nothing logged: nothing written.
	require.NoError(t, db.BeginBatch(Local))
	requireCode(t, db.Update(Local, addList("b3")), CodeFilterListExists)
	require.NoError(t, db.Flush())
	require.Equal(t, uint64(3), seq(t, db, Local))
	require.NoError(t, db.Flush(), "Flush outside batch mode is a no-op")
}

func TestBatchFlushNothingCreatesNoFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	db := openDB(t, dir, 1)
	require.NoError(t, db.BeginBatch(Local))
	requireCode(t, db.Update(Local, addList(FilterListAllIP)), CodeFilterListExists)
	snapshot(t, db, Persistent)
	require.NoError(t, db.Flush())
	_, err := os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestBatchFailedCallbackRolledBack(t *testing.T) {
	db := openDB(t, t.TempDir(), 1)
	require.NoError(t, db.BeginBatch(Local))
	require.NoError(t, db.Update(Local, addList("kept")))
	// Two operations, the second fails: the first must not stay behind.
	err := db.Update(Local, func(s *State) error {
		if _, err := s.AddFilterList(FilterList{Name: "half"}); err != nil {
			return err
		}
		return s.DeletePolicy("nope")
	})
	requireCode(t, err, CodePolicyNotFound)
	mem := snapshot(t, db, Local)
	_, err = mem.FilterList("half")
	requireCode(t, err, CodeFilterListNotFound)
	kept, err := mem.FilterList("kept")
	require.NoError(t, err)
	require.NoError(t, db.Flush())
	after := snapshot(t, db, Local)
	disk, err := after.FilterList("kept")
	require.NoError(t, err)
	require.Equal(t, kept, disk)
}

func TestBatchReplayOntoChangedState(t *testing.T) {
	dir := t.TempDir()
	clock := tickClock()
	db := openDB(t, dir, 1)
	db.env.clock = clock
	other := openDB(t, dir, 2)

	require.NoError(t, db.BeginBatch(Local))
	require.NoError(t, db.BeginBatch(Persistent))
	var added Policy
	require.NoError(t, db.Update(Local, func(s *State) error {
		p, err := s.AddPolicy(NewPolicy("Batched"))
		added = p
		return err
	}))
	require.NoError(t, db.Update(Local, addList("clash")))
	require.NoError(t, db.Update(Local, func(s *State) error {
		_, err := s.AddRule("Batched", FilterListAllIP, FilterActionPermit, NewRule("R"))
		return err
	}))
	require.NoError(t, db.Update(Persistent, addList("p-list")))

	// Meanwhile another process adds a list, takes the name "clash" and
	// deletes a built-in policy.
	require.NoError(t, other.Update(Local, addList("theirs")))
	require.NoError(t, other.Update(Local, addList("CLASH")))
	require.NoError(t, other.Update(Local, func(s *State) error { return s.DeletePolicy(PolicyClient) }))
	require.Equal(t, uint64(3), seq(t, other, Local))

	err := db.Flush()
	e := requireCode(t, err, CodeFilterListExists)
	require.Contains(t, e.Msg, `"clash"`)
	require.Equal(t, uint64(4), seq(t, db, Local), "one write despite the replay error")
	require.Equal(t, uint64(1), seq(t, db, Persistent), "both locations in the same transaction")

	st := snapshot(t, other, Local)
	requireInvariants(t, &st)
	_, err = st.FilterList("theirs")
	require.NoError(t, err, "other process's change kept")
	_, err = st.Policy(PolicyClient)
	requireCode(t, err, CodePolicyNotFound)
	got, err := st.Policy("batched")
	require.NoError(t, err)
	require.Equal(t, added.GUID, got.GUID, "same GUID as shown during the batch")
	require.Equal(t, added.DefaultRule.GUID, got.DefaultRule.GUID)
	require.Equal(t, added.Modified, got.DefaultRule.Modified, "same time stamp as during the batch")
	require.Len(t, got.Rules, 1)
	clash, _ := st.FilterList("clash")
	require.Equal(t, "CLASH", clash.Name, "theirs won")
	pers := snapshot(t, other, Persistent)
	_, err = pers.FilterList("p-list")
	require.NoError(t, err)

	// After Flush db reads the merged store from disk.
	require.Equal(t, st, snapshot(t, db, Local))
}

func TestBatchFlushBusy(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, Options{Clock: fixedClock, NewGUID: (&guidGen{prefix: 1}).next, LockTimeout: 60 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, db.BeginBatch(Local))
	require.NoError(t, db.Update(Local, addList("x")))

	holder, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	require.NoError(t, err)
	requireCode(t, db.Flush(), CodeBusy)
	require.False(t, db.Batching(Local), "batch mode ends even when the write fails")
	require.NoError(t, holder.Close())

	st := snapshot(t, db, Local)
	_, err = st.FilterList("x")
	requireCode(t, err, CodeFilterListNotFound)
	require.NoError(t, db.Update(Local, addList("x")), "later commands are written directly")
	require.Equal(t, uint64(1), seq(t, db, Local))

	// BeginBatch reads the location: a held lock shows at once.
	holder, err = bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	require.NoError(t, err)
	requireCode(t, db.BeginBatch(Local), CodeBusy)
	require.False(t, db.Batching(Local))
	require.NoError(t, holder.Close())
}

func TestReplayDropsFailedEntryCompletely(t *testing.T) {
	base := Builtin(fixedClock)
	g := &guidGen{prefix: 3}
	src := &env{clock: fixedClock, newGUID: g.next}
	log := []*entry{
		{fn: addList("a")},
		{fn: func(s *State) error {
			if _, err := s.AddFilterList(FilterList{Name: "partial"}); err != nil {
				return err
			}
			return errors.New("boom")
		}},
		{fn: addList("b")},
		{fn: addList("a")},
	}
	st, errs := replay(&base, log, src)
	require.Len(t, errs, 2)
	require.EqualError(t, errs[0], "boom")
	requireCode(t, errs[1], CodeFilterListExists)
	require.Equal(t, []string{FilterListAllICMP, FilterListAllIP, "a", "b"}, listNames(&st))
	require.Nil(t, st.env)
	require.Len(t, base.FilterLists, 2, "base untouched")
}

// TestBatchRebuildOnlyAfterPartialChange checks that a failed command costs a
// replay of the log only when it changed the State before failing.
func TestBatchRebuildOnlyAfterPartialChange(t *testing.T) {
	db := openDB(t, t.TempDir(), 1)
	require.NoError(t, db.BeginBatch(Local))
	calls := 0
	require.NoError(t, db.Update(Local, func(s *State) error {
		calls++
		_, err := s.AddFilterList(FilterList{Name: "first"})
		return err
	}))
	require.Equal(t, 1, calls)

	for range 100 { // a re-run script: every add fails at once
		requireCode(t, db.Update(Local, addList("first")), CodeFilterListExists)
	}
	require.Equal(t, 1, calls, "no rebuild after failures that changed nothing")

	err := db.Update(Local, func(s *State) error {
		if _, err := s.AddFilterList(FilterList{Name: "second"}); err != nil {
			return err
		}
		return s.DeletePolicy("nope")
	})
	requireCode(t, err, CodePolicyNotFound)
	require.Equal(t, 2, calls, "rebuilt after a partial change")

	require.NoError(t, db.Flush())
	require.Equal(t, 2, calls, "nobody else wrote: Flush needs no replay")
	st := snapshot(t, db, Local)
	require.Equal(t, []string{FilterListAllICMP, FilterListAllIP, "first"}, listNames(&st))
}
