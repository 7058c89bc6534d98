package hostinfo

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/engine/agent"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestGatherFixtures(t *testing.T) {
	me := func() []netip.Addr { return addrs("192.0.2.5") }
	for _, tc := range []struct {
		name string
		want agent.HostInfo
	}{
		// resolv.conf: IPv6 and loopback servers skipped; the default
		// route of lowest metric (eth0, 100) wins over wlan0's (600);
		// systemd-networkd's lease comes before dhclient's, whose last
		// lease block gives the WINS servers.
		{"full", agent.HostInfo{
			Addrs:       addrs("192.0.2.5"),
			DNSServers:  addrs("192.0.2.53", "198.51.100.53"),
			WINSServers: addrs("192.0.2.40", "192.0.2.41"),
			DHCPServer:  netip.MustParseAddr("192.0.2.253"),
			Gateway:     netip.MustParseAddr("192.0.2.1"),
		}},
		// systemd-resolved's stub: the upstream list; no default route;
		// NetworkManager's internal lease; no WINS.
		{"stub", agent.HostInfo{
			Addrs:      addrs("192.0.2.5"),
			DNSServers: addrs("203.0.113.53"),
			DHCPServer: netip.MustParseAddr("203.0.113.1"),
		}},
		{"missing", agent.HostInfo{Addrs: addrs("192.0.2.5")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Source{Root: "testdata/" + tc.name, Addrs: me}.Gather()
			require.Equal(t, tc.want, got)
		})
	}
}

func TestLastLeaseOnly(t *testing.T) {
	server, wins := lastLease("lease {\n option dhcp-server-identifier 10.0.0.1;\n option netbios-name-servers 10.0.0.9;\n}\nlease {\n option dhcp-server-identifier 10.0.0.2;\n}\n")
	require.Equal(t, netip.MustParseAddr("10.0.0.2"), server)
	require.Empty(t, wins, "the renewed lease has no WINS servers")
}

func TestInterfaceAddrsIPv4NoLoopback(t *testing.T) {
	for _, a := range InterfaceAddrs() {
		require.True(t, a.Is4() && !a.IsLoopback(), "%v", a)
	}
}
