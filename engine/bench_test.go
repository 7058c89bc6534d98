package engine

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/store"
)

// BenchmarkPollCheck is the cost of one watch tick of RoutinePoll when
// nothing changed: the two store write counters (two read-only bbolt
// opens) and an unchanged publish.
func BenchmarkPollCheck(b *testing.B) {
	dir := b.TempDir()
	db, err := store.Open(dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Update(store.Local, func(st *store.State) error {
		p, err := st.Policy(store.PolicySecureServer)
		if err != nil {
			return err
		}
		p.Assigned = true
		return st.PutPolicy(p)
	}); err != nil {
		b.Fatal(err)
	}
	e, err := New(Options{DB: db, Host: host})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer e.Stop()
	run := func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if e.check() {
				b.Fatal("the store did not change")
			}
		}
	}
	// Written less than two seconds ago: the counters are read.
	b.Run("recent", run)
	// Settled: one stat.
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(db.Path(), old, old); err != nil {
		b.Fatal(err)
	}
	b.Run("settled", run)
}
