package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func openDB(t testing.TB, dir string, prefix uint32) *DB {
	t.Helper()
	db, err := Open(dir, Options{Clock: fixedClock, NewGUID: (&guidGen{prefix: prefix}).next})
	require.NoError(t, err)
	return db
}

// snapshot returns a copy of the State of loc.
func snapshot(t testing.TB, db *DB, loc Location) State {
	t.Helper()
	var c State
	require.NoError(t, db.View(loc, func(s *State) error { c = s.Clone(); return nil }))
	return c
}

func seq(t testing.TB, db *DB, loc Location) uint64 {
	t.Helper()
	n, err := db.Seq(loc)
	require.NoError(t, err)
	return n
}

func addList(name string) func(*State) error {
	return func(s *State) error { _, err := s.AddFilterList(FilterList{Name: name}); return err }
}

func TestColdViewWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	db := openDB(t, dir, 1)
	for _, loc := range []Location{Local, Persistent} {
		require.Equal(t, Builtin(fixedClock), snapshot(t, db, loc))
		require.Zero(t, seq(t, db, loc))
	}
	_, err := os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist, "a read created the directory")

	// A failed first Update writes nothing either.
	err = db.Update(Local, func(s *State) error { _, err := s.AddPolicy(NewPolicy(PolicyClient)); return err })
	requireCode(t, err, CodePolicyExists)
	require.Zero(t, seq(t, db, Local))
}

func TestPersistAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir, 1)
	require.NoError(t, db.Update(Local, func(s *State) error {
		p := NewPolicy("P")
		p.Assigned = true
		if _, err := s.AddPolicy(p); err != nil {
			return err
		}
		if err := s.AddFilter("L", NewFilter(me, ip("10.1.2.3"))); err != nil {
			return err
		}
		_, err := s.AddRule("P", "L", FilterActionRequireSecurity, NewRule("R"))
		return err
	}))
	require.Equal(t, uint64(1), seq(t, db, Local))
	require.NoError(t, db.Update(Local, func(s *State) error { return s.DeletePolicy(PolicyClient) }))
	require.Equal(t, uint64(2), seq(t, db, Local))
	want := snapshot(t, db, Local)
	require.Len(t, want.Policies, 3)

	// A failing callback changes nothing on disk.
	err := db.Update(Local, func(s *State) error {
		s.DeleteAll()
		return s.DeletePolicy("gone")
	})
	requireCode(t, err, CodePolicyNotFound)
	require.Equal(t, uint64(2), seq(t, db, Local))

	db2 := openDB(t, dir, 2)
	got := snapshot(t, db2, Local)
	require.Equal(t, want, got, "JSON round trip is exact")
	p, err := got.Policy("p")
	require.NoError(t, err)
	require.True(t, p.Assigned)
	require.Equal(t, t0, p.Modified)
	require.Equal(t, uint64(2), seq(t, db2, Local))
	requireInvariants(t, &got)
}

func TestLocationsIndependent(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir, 1)
	require.NoError(t, db.Update(Persistent, addList("persistent only")))
	require.NoError(t, db.Update(Persistent, addList("again")))
	require.NoError(t, db.Update(Local, func(s *State) error { s.DeleteAll(); return nil }))

	require.Equal(t, uint64(2), seq(t, db, Persistent))
	require.Equal(t, uint64(1), seq(t, db, Local))
	pers := snapshot(t, db, Persistent)
	require.Len(t, pers.Policies, 3)
	_, err := pers.FilterList("persistent only")
	require.NoError(t, err)
	local := snapshot(t, db, Local)
	require.Empty(t, local.Policies)
	require.Empty(t, local.FilterLists)
}

func TestDomainAndBadLocation(t *testing.T) {
	db := openDB(t, t.TempDir(), 1)
	noop := func(*State) error { return nil }
	for _, tc := range []struct {
		loc  Location
		code int
	}{{Domain, CodeDomainStore}, {0, CodeInvalid}, {9, CodeInvalid}} {
		t.Run(tc.loc.String(), func(t *testing.T) {
			requireCode(t, db.View(tc.loc, noop), tc.code)
			requireCode(t, db.Update(tc.loc, noop), tc.code)
			_, err := db.Seq(tc.loc)
			requireCode(t, err, tc.code)
			requireCode(t, db.Export(tc.loc, new(nopWriter)), tc.code)
			requireCode(t, db.Import(tc.loc, nil), tc.code)
			requireCode(t, db.BeginBatch(tc.loc), tc.code)
			require.False(t, db.Batching(tc.loc))
			require.NoError(t, db.BeginBatch(Local))
			requireCode(t, db.Update(tc.loc, noop), tc.code)
			require.NoError(t, db.Flush())
		})
	}
	require.Equal(t, "domain", Domain.String())
}

type nopWriter struct{}

func (*nopWriter) Write(p []byte) (int, error) { return len(p), nil }

func TestOpenErrors(t *testing.T) {
	_, err := Open("", Options{})
	requireCode(t, err, CodeStoreOpen)
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = Open(file, Options{})
	requireCode(t, err, CodeStoreOpen)

	db, err := Open(t.TempDir(), Options{})
	require.NoError(t, err, "zero Options")
	require.Equal(t, DefaultLockTimeout, db.timeout)
	require.NoError(t, db.Update(Local, addList("x")))
	st := snapshot(t, db, Local)
	l, _ := st.FilterList("x")
	require.Regexp(t, `^\{[0-9A-F-]{36}\}$`, string(l.GUID), "default GUID source")
	require.WithinDuration(t, time.Now(), l.Modified, time.Minute, "default clock")
}

// writeRaw stores raw JSON as the State of loc, bypassing the DB.
func writeRaw(t *testing.T, dir string, loc Location, data []byte) {
	t.Helper()
	b, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, b.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists([]byte(loc.String()))
		if err != nil {
			return err
		}
		return bk.Put(stateKey, data)
	}))
}

func TestStoreFormatVersion(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir, 1)
	require.NoError(t, db.Update(Local, addList("x")))
	raw := readRaw(t, dir, Local)
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.JSONEq(t, `1`, string(doc["version"]))
	require.Contains(t, doc, "policies")
	require.Contains(t, doc, "filterlists")
	require.Contains(t, doc, "filteractions")

	for _, tc := range []struct{ name, data, want string }{
		{"future", `{"version":2,"policies":[]}`, "newer"},
		{"missing", `{"policies":[]}`, "no format version"},
		{"garbage", `{"version":`, "damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeRaw(t, dir, Persistent, []byte(tc.data))
			e := requireCode(t, db.View(Persistent, func(*State) error { return nil }), CodeStoreOpen)
			require.Contains(t, e.Msg, tc.want)
			e = requireCode(t, db.Update(Persistent, addList("y")), CodeStoreOpen)
			require.Contains(t, e.Msg, tc.want)
		})
	}
	// The other location is unaffected.
	require.Len(t, snapshot(t, db, Local).FilterLists, 3)
}

func readRaw(t *testing.T, dir string, loc Location) []byte {
	t.Helper()
	b, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer b.Close()
	var out []byte
	require.NoError(t, b.View(func(tx *bolt.Tx) error {
		out = append(out, tx.Bucket([]byte(loc.String())).Get(stateKey)...)
		return nil
	}))
	return out
}

func TestConcurrentDBs(t *testing.T) {
	dir := t.TempDir()
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for w := range 2 {
		db, err := Open(dir, Options{Clock: fixedClock, NewGUID: (&guidGen{prefix: uint32(w + 1)}).next, LockTimeout: time.Minute})
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				errs <- db.Update(Local, addList(fmt.Sprintf("w%d-%03d", w, i)))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	db := openDB(t, dir, 9)
	st := snapshot(t, db, Local)
	require.Len(t, st.FilterLists, 2+2*n)
	for w := range 2 {
		for i := range n {
			_, err := st.FilterList(fmt.Sprintf("w%d-%03d", w, i))
			require.NoError(t, err)
		}
	}
	require.Equal(t, uint64(2*n), seq(t, db, Local))
	requireInvariants(t, &st)
}

func TestLockTimeout(t *testing.T) {
	dir := t.TempDir()
	holder, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil) // exclusive lock
	require.NoError(t, err)
	db, err := Open(dir, Options{Clock: fixedClock, LockTimeout: 100 * time.Millisecond})
	require.NoError(t, err)

	start := time.Now()
	called := false
	err = db.Update(Local, func(*State) error { called = true; return nil })
	requireCode(t, err, CodeBusy)
	require.ErrorIs(t, err, bolt.ErrTimeout)
	require.False(t, called)
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	requireCode(t, db.View(Local, func(*State) error { return nil }), CodeBusy)

	require.NoError(t, holder.Close())
	require.NoError(t, db.Update(Local, addList("after")))
	require.Equal(t, uint64(1), seq(t, db, Local))
}

func TestIdleDBHoldsNoLock(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir, 1)
	require.NoError(t, db.Update(Local, addList("x")))
	snapshot(t, db, Local)
	// Another writer gets the exclusive lock at once.
	b, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{Timeout: 50 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, b.Close())
}

func TestCallbackErrorPassesThrough(t *testing.T) {
	db := openDB(t, t.TempDir(), 1)
	mine := errors.New("mine")
	require.ErrorIs(t, db.Update(Local, func(*State) error { return mine }), mine)
	require.ErrorIs(t, db.View(Local, func(*State) error { return mine }), mine)
}
