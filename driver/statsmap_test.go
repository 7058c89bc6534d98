package driver

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// TestStatsIPsec checks the mapping onto reference 5.9 field by field:
// every line of ipsec.IPsecStats comes from the Stats field of the same
// name, except the ones documented as always zero.
func TestStatsIPsec(t *testing.T) {
	alwaysZero := map[string]bool{
		"OffloadedSecurityAssociations": true,
		"OffloadedBytesSent":            true,
		"OffloadedBytesReceived":        true,
		"Rekeys":                        true,
	}
	var s Stats
	sv := reflect.ValueOf(&s).Elem()
	for i := range sv.NumField() {
		sv.Field(i).SetUint(uint64(1000 + i)) // distinct values
	}
	got := reflect.ValueOf(s.IPsec())
	for i := range got.NumField() {
		name := got.Type().Field(i).Name
		v := got.Field(i).Uint()
		if alwaysZero[name] {
			require.Zero(t, v, name)
			continue
		}
		src := sv.FieldByName(name)
		require.True(t, src.IsValid(), "no Stats field for %s", name)
		require.Equal(t, src.Uint(), v, name)
	}
	require.Equal(t, 21, got.NumField(), "reference 5.9 has 21 IPsec lines")
}

// TestSACounts checks the SA-count lines against the SAD: additions,
// tunnels, a pending acquire, and deletions by DeleteSA and Close.
func TestSACounts(t *testing.T) {
	s := suiteByName(t, "AES-GCM-128 UDP tunnel")
	a, b, _ := newPair(t, nil)
	s.setup(t, a, b)
	st := a.d.Stats().IPsec()
	require.Equal(t, ipsec.IPsecStats{ActiveSecurityAssociations: 2, KeyAdditions: 2, ActiveTunnels: 1}, st)

	// A second outbound entry without an SA: one pending key operation.
	a.policy(t, append(s.topo.aSPD, mirrored(30, ipsec.ActionNegotiate, host(hostA), host(hostB), ipsec.ProtoAny)...)...)
	a.send(t, echo(t, false, hostA, hostB, 1, 8))
	a.acquire(t)
	require.Equal(t, uint64(1), a.d.Stats().IPsec().PendingKeyOperations)
	a.d.FailAcquire(30)
	require.Zero(t, a.d.Stats().IPsec().PendingKeyOperations)

	require.NoError(t, a.d.DeleteSA(s.abOut()))
	st = a.d.Stats().IPsec()
	require.Equal(t, ipsec.IPsecStats{ActiveSecurityAssociations: 1, KeyAdditions: 2, KeyDeletions: 1}, st)
	require.ErrorIs(t, a.d.DeleteSA(s.abOut()), sadb.ErrNotFound)
	require.Equal(t, uint64(1), a.d.Stats().KeyDeletions, "a failed delete deletes nothing")

	require.NoError(t, a.d.Close())
	st = a.d.Stats().IPsec()
	require.Equal(t, ipsec.IPsecStats{KeyAdditions: 2, KeyDeletions: 2}, st)
}
