package shell_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/shell"
)

// TestDynamicRulesVanishOnRestart: dynamic policies and rules live in the
// engine only; a new engine (a restart of the service) has none, while the
// `set config` values, which are in the store, stay.
func TestDynamicRulesVanishOnRestart(t *testing.T) {
	e := newEnv(t)
	e.run(`pushd ipsec dynamic
set config ipsecdiagnostics value=5
add mmpolicy name=m
add qmpolicy name=q
add rule srcaddr=me dstaddr=10.0.0.1 mmpolicy=m qmpolicy=q
add rule srcaddr=any dstaddr=any mmpolicy=m actioninbound=block actionoutbound=block`)
	out, ok := e.exec("show rule")
	require.True(t, ok, out)
	require.Contains(t, out, "2 Rule(s)\n")

	e.startEngine()
	e.newSession()
	e.run("pushd ipsec dynamic")
	out, ok = e.exec("show rule")
	require.True(t, ok, out)
	require.Equal(t, "\n0 Rule(s)\n", out)
	out, ok = e.exec("show mmpolicy name=m")
	require.False(t, ok)
	require.Equal(t, "ERR IPsec[13004] : The specified main mode policy was not found.\n", out)
	out, ok = e.exec("show qmfilter all")
	require.True(t, ok, out)
	require.Contains(t, out, "0 Generic Filter(s)\n")
	require.NotContains(t, out, "Dynamic Rule")
	out, ok = e.exec("show config")
	require.True(t, ok, out)
	require.Contains(t, out, "IPsecDiagnostics       : 5\n")
}

// TestDynamicRulesConcurrentSessions: two sessions sharing one engine add
// rules at the same time; the engine serialises them, every rule lands and
// show qmfilter lists exactly their filters, each rule's once.
func TestDynamicRulesConcurrentSessions(t *testing.T) {
	const perSession = 40
	e := newEnv(t)
	e.run("ipsec dynamic add mmpolicy name=m")
	sessions := make([]*shell.Session, 2)
	outs := make([]*syncBuffer, 2)
	for i := range sessions {
		outs[i] = &syncBuffer{}
		cfg := e.config()
		cfg.Out = outs[i]
		sessions[i] = shell.New(cfg)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	failures := make([][]string, 2)
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for n := range perSession {
				line := fmt.Sprintf("ipsec dynamic add rule srcaddr=me dstaddr=10.%d.0.%d mmpolicy=m "+
					"protocol=TCP dstport=%d actioninbound=permit actionoutbound=block", i, n+1, 1000+n)
				if !s.Exec(line) {
					failures[i] = append(failures[i], line+": "+outs[i].take())
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Empty(t, failures[0])
	require.Empty(t, failures[1])

	out, ok := e.exec("ipsec dynamic show rule")
	require.True(t, ok, out)
	require.Contains(t, out, fmt.Sprintf("\n%d Rule(s)\n", 2*perSession))

	// Each rule: a mirrored filter from me to one address gives an
	// outbound filter and its inbound mirror image, each with one specific
	// filter on a host with one address.
	out, ok = e.exec("ipsec dynamic show qmfilter all")
	require.True(t, ok, out)
	require.Contains(t, out, fmt.Sprintf("\n%d Generic Filter(s)\n", 2*2*perSession))
	require.Contains(t, out, fmt.Sprintf("\n%d Specific Filter(s)\n", 2*2*perSession))
	for i := range 2 {
		for n := range perSession {
			name := fmt.Sprintf("10.%d.0.%d (255.255.255.255)", i, n+1)
			require.Equal(t, 4, strings.Count(out, name), name)
		}
	}
	for id := 1; id <= 2*perSession; id++ {
		require.Equal(t, 4, strings.Count(out, fmt.Sprintf("Filter name            : Dynamic Rule %d\n", id)), id)
	}
}
