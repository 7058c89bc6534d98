//go:build linux

package charontest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestViciMessage: a message survives encoding and decoding, order kept;
// truncated input fails instead of panicking.
func TestViciMessage(t *testing.T) {
	b, err := encodeMsg(nil, []kv{
		{"ike", "peer"},
		{"child-sas", []kv{{"net-1", []kv{{"spi-in", "c0ffee01"}, {"local-ts", []string{"10.1.0.1/32", "10.1.0.2/32"}}}}}},
		{"empty", []string{}},
		{"timeout", "1000"},
	})
	require.NoError(t, err)
	m, err := decodeMsg(b)
	require.NoError(t, err)
	require.Equal(t, []string{"ike", "child-sas", "empty", "timeout"}, m.Keys)
	require.Equal(t, "peer", m.Get("ike"))
	child := m.Sections["child-sas"].Sections["net-1"]
	require.Equal(t, "c0ffee01", child.Get("spi-in"))
	require.Equal(t, []string{"10.1.0.1/32", "10.1.0.2/32"}, child.Lists["local-ts"])
	require.Equal(t, []string{}, m.Lists["empty"])
	require.Equal(t, "{ike=peer child-sas {net-1 {spi-in=c0ffee01 local-ts=[10.1.0.1/32 10.1.0.2/32]}} empty=[] timeout=1000}", m.String())
	// Cut inside the nested section: unterminated.
	_, err = decodeMsg(b[:len(b)-20])
	require.ErrorIs(t, err, ErrVici)
	_, err = decodeMsg([]byte{elSectionStart, 1, 'x'})
	require.ErrorIs(t, err, ErrVici)
	_, err = decodeMsg([]byte{elKeyValue, 1, 'x', 0, 5, 'a'})
	require.ErrorIs(t, err, ErrVici)
	_, err = decodeMsg([]byte{9})
	require.ErrorIs(t, err, ErrVici)
}
