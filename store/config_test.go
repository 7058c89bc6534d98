package store

import (
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/ipsec"
)

func TestConfigDefaults(t *testing.T) {
	db := openDB(t, t.TempDir(), 0)
	c, err := db.Config()
	require.NoError(t, err)
	require.Equal(t, Config{IPsecDiagnostics: 0, IKELogging: 0, StrongCRLCheck: 1, IPsecLogInterval: 3600,
		IPsecExempt: 3, BootMode: BootStateful}, c)
	_, err = os.Stat(db.Path())
	require.True(t, errors.Is(err, os.ErrNotExist), "reading the configuration must not create the file")
}

func TestConfigUpdatePersists(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir, 0)
	ex := []BootExemption{
		{Protocol: ipsec.ProtoTCP, DstPort: 22, Direction: ipsec.Inbound},
		{Protocol: ipsec.ProtoUDP, DstPort: 53, Direction: ipsec.Outbound},
	}
	require.NoError(t, db.UpdateConfig(func(c *Config) error {
		c.IPsecDiagnostics, c.IPsecExempt, c.BootMode, c.BootExemptions = 7, 0, BootBlock, ex
		return nil
	}))
	// A second handle over the same directory (a new process) sees it.
	c, err := openDB(t, dir, 1).Config()
	require.NoError(t, err)
	require.Equal(t, 7, c.IPsecDiagnostics)
	require.Equal(t, 0, c.IPsecExempt)
	require.Equal(t, 3600, c.IPsecLogInterval)
	require.Equal(t, BootBlock, c.BootMode)
	require.Equal(t, ex, c.BootExemptions)
	require.Equal(t, "TCP:0:22:inbound", c.BootExemptions[0].String())
	// The policy stores are untouched.
	n, err := db.Seq(Local)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestConfigUpdateRejects(t *testing.T) {
	sentinel := errors.New("stop")
	tests := []struct {
		name string
		fn   func(*Config) error
		code int
	}{
		{"fn error", func(c *Config) error { c.IKELogging = 1; return sentinel }, 0},
		{"diagnostics", func(c *Config) error { c.IPsecDiagnostics = 8; return nil }, CodeInvalid},
		{"interval", func(c *Config) error { c.IPsecLogInterval = 59; return nil }, CodeInvalid},
		{"exempt", func(c *Config) error { c.IPsecExempt = -1; return nil }, CodeInvalid},
		{"bootmode", func(c *Config) error { c.BootMode = 0; return nil }, CodeInvalid},
		{"ports without tcp/udp", func(c *Config) error {
			c.BootExemptions = []BootExemption{{Protocol: ipsec.ProtoICMP, DstPort: 1, Direction: ipsec.Inbound}}
			return nil
		}, CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openDB(t, t.TempDir(), 0)
			require.NoError(t, db.UpdateConfig(func(c *Config) error { c.StrongCRLCheck = 2; return nil }))
			err := db.UpdateConfig(tt.fn)
			if tt.code == 0 {
				require.ErrorIs(t, err, sentinel)
			} else {
				requireCode(t, err, tt.code)
			}
			c, err := db.Config()
			require.NoError(t, err)
			want := DefaultConfig()
			want.StrongCRLCheck = 2
			require.Equal(t, want, c, "nothing changes")
		})
	}
}

func TestBootModeText(t *testing.T) {
	for m := BootStateful; m <= BootPermit; m++ {
		b, err := m.MarshalText()
		require.NoError(t, err)
		var got BootMode
		require.NoError(t, got.UnmarshalText(b))
		require.Equal(t, m, got)
	}
	_, err := BootMode(0).MarshalText()
	require.Error(t, err)
}

func TestConfigSet(t *testing.T) {
	c := DefaultConfig()
	for p, v := range map[ConfigProperty]ConfigValue{
		ConfigIPsecDiagnostics: {Int: 7}, ConfigIKELogging: {Int: 1}, ConfigStrongCRLCheck: {Int: 2},
		ConfigIPsecLogInterval: {Int: 60}, ConfigIPsecExempt: {Int: 0}, ConfigBootMode: {BootMode: BootPermit},
		ConfigBootExemptions: {Exemptions: []BootExemption{{Protocol: ipsec.ProtoICMP, Direction: ipsec.Outbound}}},
	} {
		require.NoError(t, c.Set(p, v), p.String())
	}
	require.Equal(t, Config{IPsecDiagnostics: 7, IKELogging: 1, StrongCRLCheck: 2, IPsecLogInterval: 60, IPsecExempt: 0,
		BootMode: BootPermit, BootExemptions: []BootExemption{{Protocol: ipsec.ProtoICMP, Direction: ipsec.Outbound}}}, c)
	require.NoError(t, c.Validate())
	requireCode(t, c.Set(0, ConfigValue{}), CodeInvalid)
}
