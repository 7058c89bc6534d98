package shell_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/store"
)

// Two sessions on two store handles over one directory (two netsh
// processes, as far as the store can tell) add 100 filter lists each at the
// same time: every write lands, none is lost or half-applied.
func TestConcurrentSessions(t *testing.T) {
	const perSession = 100
	dir := t.TempDir()
	a := newEnvAt(t, dir, 1) // distinct GUID prefixes: the handles share the store
	b := newEnvAt(t, dir, 2)
	// Write the store once first, so that both start from the same file.
	a.run("ipsec static add filterlist Seed")

	start := make(chan struct{})
	var wg sync.WaitGroup
	failures := make([][]string, 2)
	for i, e := range []*env{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for n := range perSession {
				line := fmt.Sprintf("ipsec static add filterlist name=\"S%d list %03d\" description=\"from session %d\"", i, n, i)
				if out, ok := e.exec(line); !ok {
					failures[i] = append(failures[i], line+": "+out)
				}
			}
		}()
	}
	close(start)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(50 * time.Second):
		t.Fatal("the concurrent sessions did not finish")
	}
	require.Empty(t, failures[0])
	require.Empty(t, failures[1])
	assert.False(t, a.sess.Failed())
	assert.False(t, b.sess.Failed())

	// A third handle reads them all back.
	c := newEnvAt(t, dir, 3)
	out, ok := c.exec("ipsec static show filterlist all format=json")
	require.True(t, ok, out)
	var doc struct {
		FilterLists []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			GUID        string `json:"guid"`
		} `json:"filterlists"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	var names []string
	guids := map[string]bool{}
	for _, l := range doc.FilterLists {
		names = append(names, l.Name)
		guids[l.GUID] = true
	}
	want := []string{"All ICMP Traffic", "All IP Traffic", "Seed"}
	for i := range 2 {
		for n := range perSession {
			want = append(want, fmt.Sprintf("S%d list %03d", i, n))
		}
	}
	sort.Strings(names)
	sort.Strings(want)
	assert.Equal(t, want, names)
	assert.Len(t, guids, len(want), "GUIDs are unique")

	// Within each session the lists are in the order it added them.
	var order [2][]string
	for _, l := range doc.FilterLists {
		var i, n int
		if _, err := fmt.Sscanf(l.Name, "S%d list %d", &i, &n); err == nil {
			order[i] = append(order[i], l.Name)
			assert.Equal(t, fmt.Sprintf("from session %d", i), l.Description)
		}
	}
	for i := range 2 {
		assert.True(t, sort.StringsAreSorted(order[i]), "session %d's lists out of order", i)
		assert.Len(t, order[i], perSession)
	}
	// 1 seed write + 200 adds.
	assert.Equal(t, uint64(1+2*perSession), c.seq(store.Local))
}
