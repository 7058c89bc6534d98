//go:build linux

package route

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gonetsh/gonetsh/driver/sadb"
)

// Config is what New needs.
type Config struct {
	// NetNS is a file descriptor of the network namespace to program;
	// 0 means the namespace of the calling thread at New. The netlink
	// socket is opened by New and keeps its namespace for the Manager's
	// life. New does not keep the descriptor.
	NetNS int

	// Table is the routing table the Manager owns (0: DefaultTable);
	// Priority the priority of its fwmark rule (0: DefaultPriority), the
	// table's rule taking Priority+1. The Manager deletes whatever it
	// finds in the table and at both priorities.
	Table, Priority int

	// Mark is the fwmark of the driver's sockets (conn.LinuxConfig.Mark);
	// required.
	Mark uint32
}

// Manager owns a routing table and two ip rules; see the package
// documentation. It satisfies driver.Router. Its methods are safe for
// concurrent use.
type Manager struct {
	table, prio int
	mark        uint32

	mu sync.Mutex // guards h
	h  *netlink.Handle
}

// New opens a netlink socket in the namespace of cfg, removes what a
// previous Manager with the same table and priorities left behind (after
// a crash, say) and adds the two rules. The table starts empty.
func New(cfg Config) (*Manager, error) {
	if cfg.Mark == 0 {
		return nil, fmt.Errorf("%w: a mark is required for the driver's own packets", ErrConfig)
	}
	if cfg.Table < 0 || cfg.Priority < 0 || cfg.Table == unix.RT_TABLE_MAIN || cfg.Table == unix.RT_TABLE_LOCAL {
		return nil, fmt.Errorf("%w: table %d, priority %d", ErrConfig, cfg.Table, cfg.Priority)
	}
	m := &Manager{
		table: cmp.Or(cfg.Table, DefaultTable),
		prio:  cmp.Or(cfg.Priority, DefaultPriority),
		mark:  cfg.Mark,
	}
	var err error
	if cfg.NetNS > 0 {
		m.h, err = netlink.NewHandleAt(netns.NsHandle(cfg.NetNS), unix.NETLINK_ROUTE)
	} else {
		m.h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, fmt.Errorf("route: open netlink: %w", err)
	}
	if err := m.flush(); err != nil {
		m.h.Close()
		return nil, err
	}
	mask := ^uint32(0)
	marked := netlink.NewRule()
	marked.Family, marked.Priority, marked.Table, marked.Mark, marked.Mask = unix.AF_INET, m.prio, unix.RT_TABLE_MAIN, m.mark, &mask
	all := netlink.NewRule()
	all.Family, all.Priority, all.Table = unix.AF_INET, m.prio+1, m.table
	for _, r := range []*netlink.Rule{marked, all} {
		if err := m.h.RuleAdd(r); err != nil {
			err = fmt.Errorf("route: add rule %v: %w", r, err)
			m.h.Close()
			return nil, errors.Join(err, m.flush())
		}
	}
	return m, nil
}

// Table returns the routing table the Manager owns.
func (m *Manager) Table() int { return m.table }

// Apply routes the Destinations of spd into the interface tunName.
func (m *Manager) Apply(spd *sadb.SPD, tunName string) error {
	return m.Set(Destinations(spd), tunName)
}

// Set makes dsts the routes of the table, each into the interface
// tunName: new and changed routes are replaced in place, then the others
// deleted. On error the table may hold a mix of both sets; the next Set
// repairs it.
func (m *Manager) Set(dsts []netip.Prefix, tunName string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return ErrClosed
	}
	link, err := m.h.LinkByName(tunName)
	if err != nil {
		return fmt.Errorf("route: interface %q: %w", tunName, err)
	}
	want := map[netip.Prefix]bool{}
	for _, p := range dsts {
		if !p.IsValid() || !p.Addr().Is4() {
			return fmt.Errorf("%w: destination %v is not an IPv4 prefix", ErrConfig, p)
		}
		p = p.Masked()
		want[p] = true
		if err := m.h.RouteReplace(m.route(p, link.Attrs().Index)); err != nil {
			return fmt.Errorf("route: replace %v dev %s table %d: %w", p, tunName, m.table, err)
		}
	}
	old, err := m.routes()
	if err != nil {
		return err
	}
	for _, r := range old {
		p, ok := prefix(r.Dst)
		if ok && want[p] && r.LinkIndex == link.Attrs().Index {
			continue
		}
		if err := m.h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("route: delete %v table %d: %w", r.Dst, m.table, err)
		}
	}
	return nil
}

// Routes returns the destinations routed in the table.
func (m *Manager) Routes() ([]netip.Prefix, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return nil, ErrClosed
	}
	rs, err := m.routes()
	var ps []netip.Prefix
	for _, r := range rs {
		if p, ok := prefix(r.Dst); ok {
			ps = append(ps, p)
		}
	}
	return ps, err
}

// Close removes the routes and the rules and closes the socket. Later
// calls return nil.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.h == nil {
		return nil
	}
	err := m.flush()
	m.h.Close()
	m.h = nil
	return err
}

// route is the table's route to p through the interface index.
func (m *Manager) route(p netip.Prefix, index int) *netlink.Route {
	return &netlink.Route{
		LinkIndex: index,
		Dst:       &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)},
		Table:     m.table,
		Scope:     netlink.SCOPE_LINK,
	}
}

// routes lists the IPv4 routes of the table.
func (m *Manager) routes() ([]netlink.Route, error) {
	rs, err := m.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: m.table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("route: list table %d: %w", m.table, err)
	}
	return rs, nil
}

// flush deletes every route of the table and every IPv4 rule at the
// Manager's two priorities.
func (m *Manager) flush() error {
	var errs []error
	rs, err := m.routes()
	errs = append(errs, err)
	for _, r := range rs {
		if err := m.h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("route: delete %v table %d: %w", r.Dst, m.table, err))
		}
	}
	rules, err := m.h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		errs = append(errs, fmt.Errorf("route: list rules: %w", err))
	}
	for _, r := range rules {
		if r.Priority != m.prio && r.Priority != m.prio+1 {
			continue
		}
		if err := m.h.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("route: delete rule %v: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

// prefix converts a route's destination; nil is the default route.
func prefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), true
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits), true
}
