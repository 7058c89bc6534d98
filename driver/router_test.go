package driver

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// fakeRouter records its calls.
type fakeRouter struct {
	fakeCloser
	spds []*sadb.SPD
	tuns []string
	err  error
}

func (f *fakeRouter) Apply(spd *sadb.SPD, tun string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spds, f.tuns = append(f.spds, spd), append(f.tuns, tun)
	return f.err
}

// TestRouter checks the Driver's side of the Router contract: SetPolicy
// (and only SetPolicy) hands the SPD and the TUN name to Apply, its error
// comes back while the SPD reaches the data path, Close closes it once.
func TestRouter(t *testing.T) {
	f := &fakeRouter{}
	a, _, _ := newPair(t, func(c *Config) { c.Router = f })
	spd, err := sadb.Compile(mirrored(1, ipsec.ActionNegotiate, host(hostA), host(hostB), ipsec.ProtoAny))
	require.NoError(t, err)
	require.NoError(t, a.d.SetPolicy(spd))
	require.NoError(t, a.d.SetExemptions(sadb.ExemptAll, nil))
	require.Equal(t, []*sadb.SPD{spd}, f.spds, "SetExemptions does not route")
	require.Equal(t, []string{"a"}, f.tuns)

	f.err = errors.New("netlink: no")
	require.ErrorIs(t, a.d.SetPolicy(nil), f.err)
	require.Nil(t, a.d.spd.Load(), "the data path keeps a policy the router refused")

	require.NoError(t, a.d.Close())
	require.NoError(t, a.d.Close())
	require.Equal(t, 1, f.closed)
}
