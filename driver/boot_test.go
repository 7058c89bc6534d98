package driver

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// fakeBootEnforcer is a fakeEnforcer that also records ApplyBoot.
type fakeBootEnforcer struct {
	fakeEnforcer
	boots   []bootState
	bootErr error
}

func (f *fakeBootEnforcer) ApplyBoot(mode sadb.BootMode, ex []sadb.BootExemption) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.boots = append(f.boots, bootState{mode, ex})
	return f.bootErr
}

var sshIn = sadb.BootExemption{Protocol: ipsec.ProtoTCP, DstPort: 22, Direction: ipsec.Inbound}

// TestBootMode checks the Driver's side of boot mode: SetBootMode reaches
// ApplyBoot, SetExemptions keeps the boot rules, the first SetPolicy
// hands over to Apply and ends boot mode for good, and a failed ApplyBoot
// comes back as an error.
func TestBootMode(t *testing.T) {
	f := &fakeBootEnforcer{}
	a, _, _ := newPair(t, func(c *Config) { c.Enforcer = f })
	_, on := a.d.BootMode()
	require.False(t, on, "boot mode before SetBootMode")

	ex := []sadb.BootExemption{sshIn}
	require.NoError(t, a.d.SetBootMode(sadb.BootBlock, ex))
	ex[0].DstPort = 23 // SetBootMode copied the slice
	mode, on := a.d.BootMode()
	require.True(t, on)
	require.Equal(t, sadb.BootBlock, mode)
	require.NoError(t, a.d.SetExemptions(sadb.ExemptAll, nil))
	want := bootState{sadb.BootBlock, []sadb.BootExemption{sshIn}}
	require.Equal(t, []bootState{want, want}, f.boots, "SetExemptions in boot mode re-applies the boot rules")
	require.Empty(t, f.calls, "no policy rules in boot mode")

	f.bootErr = errors.New("netlink: no")
	require.ErrorIs(t, a.d.SetBootMode(sadb.BootStateful, nil), f.bootErr)
	f.bootErr = nil

	require.NoError(t, a.d.SetPolicy(nil))
	require.Equal(t, []applyCall{{nil, sadb.ExemptAll, "a"}}, f.calls, "the first SetPolicy applies the policy")
	_, on = a.d.BootMode()
	require.False(t, on, "boot mode after SetPolicy")
	require.ErrorIs(t, a.d.SetBootMode(sadb.BootBlock, nil), ErrBootOver)
	require.NoError(t, a.d.SetExemptions(sadb.ExemptIKEOnly, nil))
	require.Len(t, f.boots, 3, "no boot rules after the policy")
	require.Len(t, f.calls, 2)
}

// TestBootModeConfig checks SetBootMode's argument checks and that block
// and stateful need a BootEnforcer while permit does not.
func TestBootModeConfig(t *testing.T) {
	plain := &fakeEnforcer{}
	for _, tc := range []struct {
		name string
		enf  Enforcer
		mode sadb.BootMode
		ex   []sadb.BootExemption
		err  error
	}{
		{"invalid mode", nil, 0, nil, ErrConfig},
		{"ports without TCP or UDP", &fakeBootEnforcer{}, sadb.BootBlock,
			[]sadb.BootExemption{{Protocol: ipsec.ProtoICMP, DstPort: 1, Direction: ipsec.Inbound}}, sadb.ErrBootExemption},
		{"no direction", &fakeBootEnforcer{}, sadb.BootBlock, []sadb.BootExemption{{Protocol: ipsec.ProtoTCP}}, sadb.ErrBootExemption},
		{"block without enforcer", nil, sadb.BootBlock, nil, ErrConfig},
		{"stateful without ApplyBoot", plain, sadb.BootStateful, nil, ErrConfig},
		{"permit without enforcer", nil, sadb.BootPermit, nil, nil},
		{"permit without ApplyBoot", plain, sadb.BootPermit, nil, nil},
		{"block", &fakeBootEnforcer{}, sadb.BootBlock, []sadb.BootExemption{sshIn}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _, _ := newPair(t, func(c *Config) { c.Enforcer = tc.enf })
			err := a.d.SetBootMode(tc.mode, tc.ex)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
		})
	}
	require.Empty(t, plain.calls, "permit mode programs nothing on a plain Enforcer")
}
