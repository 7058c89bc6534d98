package agent

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

// bigState returns a store whose assigned policy has one rule per filter
// list, lists filter lists of perList mirrored filters from me to a peer
// (a host, a /24 with a TCP port, a host with UDP), the rules negotiating,
// permitting and blocking in turn, and the default response rule active.
func bigState(tb testing.TB, lists, perList int) *store.State {
	x := newFixture(tb)
	x.action("Block", ipsec.ActionBlock)
	x.policy("Big")
	actions := []string{store.FilterActionRequireSecurity, store.FilterActionPermit, "Block"}
	for i := range lists {
		name := fmt.Sprintf("List %d", i)
		x.list(name)
		for k := range perList {
			peer := netip.AddrFrom4([4]byte{10, byte(i + 1), byte(k), 1})
			f := filter(me, ipsec.Address{Kind: ipsec.AddrIP, IP: peer})
			switch k % 3 {
			case 1:
				f.DstMask, f.Protocol, f.DstPort = 24, ipsec.ProtoTCP, uint16(1000+k)
			case 2:
				f.Protocol = ipsec.ProtoUDP
			}
			require.NoError(tb, x.st.AddFilter(name, f))
		}
		x.rule("Big", fmt.Sprintf("Rule for %s", name), name, actions[i%len(actions)])
	}
	return x.st
}

// BenchmarkCompile5000 compiles an assigned policy of 5,000 filters (50
// rules of 100) for a host with two addresses: 10,000 generic and 20,000
// specific quick mode filters.
func BenchmarkCompile5000(b *testing.B) {
	st := bigState(b, 50, 100)
	h := HostInfo{Addrs: host.Addrs}
	var spd *SPD
	b.ReportAllocs()
	for b.Loop() {
		var err error
		spd, err = Compile(st, h)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(spd.QMSpecific)), "qm-specific")
	b.ReportMetric(float64(len(spd.MMSpecific)), "mm-specific")
}

// BenchmarkEqual5000 compares two compilations of the same policy: the
// engine's check before re-applying.
func BenchmarkEqual5000(b *testing.B) {
	st := bigState(b, 50, 100)
	h := HostInfo{Addrs: host.Addrs}
	x, err := Compile(st, h)
	require.NoError(b, err)
	y, err := Compile(st, h)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if !x.Equal(y) {
			b.Fatal("not equal")
		}
	}
}
