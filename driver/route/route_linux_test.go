//go:build linux

package route

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gonetsh/gonetsh/internal/netnstest"
)

// rules returns the IPv4 rules of ns at priorities prio and prio+1.
func rules(t *testing.T, ns *netnstest.NS, prio int) []netlink.Rule {
	t.Helper()
	var out []netlink.Rule
	require.NoError(t, ns.Do(func() error {
		rs, err := netlink.RuleList(netlink.FAMILY_V4)
		for _, r := range rs {
			if r.Priority == prio || r.Priority == prio+1 {
				out = append(out, r)
			}
		}
		return err
	}))
	return out
}

// newManager makes a Manager inside ns.
func newManager(t *testing.T, ns *netnstest.NS, cfg Config) *Manager {
	t.Helper()
	var m *Manager
	require.NoError(t, ns.Do(func() error {
		var err error
		m, err = New(cfg)
		return err
	}))
	return m
}

// TestKernel checks a Manager in a namespace: the two rules, routes
// replaced set by set into the right interface, a crashed Manager's
// leftovers flushed by the next New, and Close removing everything.
func TestKernel(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t, "r")
	ns.IP(t, "link", "add", "d0", "type", "veth", "peer", "name", "d1") // no dummy module here
	ns.IP(t, "link", "set", "d0", "up")
	ns.IP(t, "link", "set", "d1", "up")
	p := netip.MustParsePrefix

	_, err := New(Config{})
	require.ErrorIs(t, err, ErrConfig, "no mark")
	_, err = New(Config{Mark: 1, Table: unix.RT_TABLE_MAIN})
	require.ErrorIs(t, err, ErrConfig, "the main table")

	m := newManager(t, ns, Config{Mark: 0x45})
	rs := rules(t, ns, DefaultPriority)
	require.Len(t, rs, 2)
	require.Equal(t, DefaultPriority, rs[0].Priority)
	require.Equal(t, uint32(0x45), rs[0].Mark)
	require.Equal(t, unix.RT_TABLE_MAIN, rs[0].Table)
	require.Equal(t, DefaultPriority+1, rs[1].Priority)
	require.Equal(t, DefaultTable, rs[1].Table)

	first := []netip.Prefix{p("10.2.0.0/24"), p("192.0.2.1/32")}
	require.NoError(t, m.Set(first, "d0"))
	got, err := m.Routes()
	require.NoError(t, err)
	require.ElementsMatch(t, first, got)

	second := []netip.Prefix{p("192.0.2.1/32"), p("0.0.0.0/0"), p("10.3.0.9/16")}
	require.NoError(t, m.Set(second, "d1"))
	got, err = m.Routes()
	require.NoError(t, err)
	require.ElementsMatch(t, []netip.Prefix{p("192.0.2.1/32"), p("0.0.0.0/0"), p("10.3.0.0/16")}, got)
	require.NoError(t, ns.Do(func() error {
		link, err := netlink.LinkByName("d1")
		require.NoError(t, err)
		rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: DefaultTable}, netlink.RT_FILTER_TABLE)
		for _, r := range rs {
			require.Equal(t, link.Attrs().Index, r.LinkIndex, "route %v", r.Dst)
		}
		return err
	}))
	require.ErrorContains(t, m.Set(second, "nonesuch"), "nonesuch")
	require.ErrorIs(t, m.Set([]netip.Prefix{{}}, "d0"), ErrConfig)

	// A crash: the socket goes, the routes and rules stay; the next
	// Manager starts clean.
	m.h.Close()
	m2 := newManager(t, ns, Config{Mark: 0x45})
	got, err = m2.Routes()
	require.NoError(t, err)
	require.Empty(t, got, "stale routes after New")
	require.Len(t, rules(t, ns, DefaultPriority), 2, "rules after New: its own two")

	require.NoError(t, m2.Set(first, "d0"))
	require.NoError(t, m2.Close())
	require.Empty(t, rules(t, ns, DefaultPriority), "rules after Close")
	require.NoError(t, ns.Do(func() error {
		rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: DefaultTable}, netlink.RT_FILTER_TABLE)
		require.Empty(t, rs, "routes after Close")
		return err
	}))
	require.NoError(t, m2.Close())
	require.ErrorIs(t, m2.Set(first, "d0"), ErrClosed)
}
