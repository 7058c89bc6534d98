package store

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const crashDirEnv = "GONETSH_STORE_CRASH_DIR"

// TestCrashWriterHelper is the child of TestCrashLeavesWholeCommands: it
// writes multi-object commands until it is killed.
func TestCrashWriterHelper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	db, err := Open(dir, Options{LockTimeout: time.Minute})
	require.NoError(t, err)
	for i := 0; ; i++ {
		list := fmt.Sprintf("crash-%06d", i)
		err := db.Update(Local, func(s *State) error {
			for j := range 3 {
				if err := s.AddFilter(list, NewFilter(me, ip(fmt.Sprintf("10.0.%d.%d", i%250, j)))); err != nil {
					return err
				}
			}
			_, err := s.AddRule(PolicyServer, list, FilterActionPermit, NewRule(list))
			return err
		})
		require.NoError(t, err)
		// bbolt polls for its file lock every 50ms; pause so that the
		// parent's reads get a turn.
		time.Sleep(3 * time.Millisecond)
	}
}

// TestCrashLeavesWholeCommands kills a writing process at a random moment
// and checks that the store holds only whole commands.
func TestCrashLeavesWholeCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriterHelper$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	require.NoError(t, cmd.Start())
	db, err := Open(dir, Options{Clock: fixedClock, NewGUID: (&guidGen{prefix: 1}).next, LockTimeout: 30 * time.Second})
	require.NoError(t, err)
	deadline := time.Now().Add(30 * time.Second)
	for seq(t, db, Local) < 20 {
		require.True(t, time.Now().Before(deadline), "writer made no progress")
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	n := seq(t, db, Local)
	st := snapshot(t, db, Local)
	requireInvariants(t, &st)
	p, err := st.Policy(PolicyServer)
	require.NoError(t, err)
	require.Len(t, st.FilterLists, 2+int(n), "one list per committed command")
	require.Len(t, p.Rules, 2+int(n), "one rule per committed command")
	for _, l := range st.FilterLists[2:] {
		require.Len(t, l.Filters, 3, "list %s is half written", l.Name)
		_, err := st.Rule(PolicyServer, l.Name)
		require.NoError(t, err)
	}
	// The store is still writable (the lock died with the process).
	require.NoError(t, db.Update(Local, addList("after crash")))
}
