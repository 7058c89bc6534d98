package driver

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// fakeCloser counts Close calls; the fakes embed it and lock its mu.
type fakeCloser struct {
	mu     sync.Mutex
	closed int
}

func (f *fakeCloser) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	return nil
}

// fakeEnforcer records its calls.
type fakeEnforcer struct {
	fakeCloser
	calls []applyCall
	err   error // returned by Apply
}

type applyCall struct {
	spd   *sadb.SPD
	level sadb.ExemptLevel
	tun   string
}

func (f *fakeEnforcer) Apply(spd *sadb.SPD, level sadb.ExemptLevel, tun string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, applyCall{spd, level, tun})
	return f.err
}

// TestEnforcer checks the Driver's side of the Enforcer contract: every
// SetPolicy and SetExemptions hands the current SPD, level and TUN name
// to Apply, its error comes back while the SPD still reaches the data
// path, and Close closes the enforcer once.
func TestEnforcer(t *testing.T) {
	f := &fakeEnforcer{}
	a, _, _ := newPair(t, func(c *Config) { c.Enforcer = f })

	spd, err := sadb.Compile(mirrored(1, ipsec.ActionBlock, host(hostA), host(hostB), ipsec.ProtoAny))
	require.NoError(t, err)
	require.NoError(t, a.d.SetPolicy(spd))
	require.NoError(t, a.d.SetExemptions(sadb.ExemptAll, nil))
	require.Equal(t, []applyCall{{spd, sadb.DefaultExemptLevel, "a"}, {spd, sadb.ExemptAll, "a"}}, f.calls)

	f.err = errors.New("netlink: no")
	err = a.d.SetPolicy(nil)
	require.ErrorIs(t, err, f.err)
	require.Nil(t, a.d.spd.Load(), "the data path keeps a policy the kernel refused")

	require.NoError(t, a.d.Close())
	require.NoError(t, a.d.Close())
	require.Equal(t, 1, f.closed)
}
