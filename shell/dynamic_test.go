package shell_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/shell"
)

// TestDynamicConfigSurvivesRestart: set config values persist across a new
// engine and session on the same store directory (a new netsh process).
func TestDynamicConfigSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnvAt(t, dir, 0)
	e.run(`pushd ipsec dynamic
set config ipsecexempt value=0
set config property=ipsecdiagnostics value=7
set config bootmode value=block
set config bootexemptions value="TCP:0:22:inbound UDP:0:53:outbound"`)
	out, ok := e.exec("show config")
	require.True(t, ok, out)

	// A new store handle, engine and session over the same directory.
	e2 := newEnvAt(t, dir, 1)
	got, ok := e2.exec("ipsec dynamic show config")
	require.True(t, ok, got)
	require.Equal(t, out, got)
	require.Contains(t, got, "IPsecDiagnostics       : 7\n")
	require.Contains(t, got, "IPsecexempt            : 0\n")
	require.Contains(t, got, "IPsec boot mode        : BLOCK\n")
	require.Contains(t, got, "IPsec boot exemptions  : TCP:0:22:inbound UDP:0:53:outbound\n")

	// Restarting the engine of the same env changes nothing either.
	e2.startEngine()
	e2.newSession()
	again, ok := e2.exec("ipsec dynamic show config")
	require.True(t, ok, again)
	require.Equal(t, out, again)
}

// TestDynamicWithoutEngine: a session without an engine answers every
// dynamic command with the same message, and fails.
func TestDynamicWithoutEngine(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.Engine = nil
	e.sess = shell.New(cfg)
	for _, line := range []string{"ipsec dynamic show config", "ipsec dynamic set config ikelogging 1", "ipsec dynamic show stats"} {
		out, ok := e.exec(line)
		require.False(t, ok, line)
		require.True(t, strings.HasSuffix(out, "needs the gonetsh engine, which this build does not include yet.\n"), out)
	}
	require.True(t, e.sess.Failed())
}

// TestDynamicOnDynamic: the OnDynamic hook runs before every dynamic
// command that reaches the engine, implemented or not, and never for
// static ones.
func TestDynamicOnDynamic(t *testing.T) {
	e := newEnv(t)
	calls := 0
	cfg := e.config()
	cfg.OnDynamic = func() { calls++ }
	e.sess = shell.New(cfg)
	e.exec("ipsec static show store")
	require.Zero(t, calls)
	e.exec("ipsec dynamic show config")
	e.exec("ipsec dynamic show mmsas")
	require.Equal(t, 2, calls)
}
