// Package route steers the traffic the policy protects into the TUN device
// with Linux policy routing, so that transport-mode traffic to a peer's
// own wire address is protected while the ESP packets to that same
// address leave on the wire.
//
// A Manager owns one routing table and two ip rules in one network
// namespace:
//
//	ip rule  <Priority>    fwmark <Mark> lookup main   # the driver's own sockets
//	ip rule  <Priority+1>  lookup <Table>              # everything else
//	ip route <destination> dev <tun> table <Table>     # one per destination
//
// The destinations are those of the SPD's outbound negotiate and block
// entries (Destinations): negotiate traffic must reach the driver to be
// protected, blocked traffic to be dropped (the driver sees only what is
// routed into the TUN device). Permit entries need no route. The driver's
// wire sockets carry Mark (SO_MARK, conn.LinuxConfig.Mark), so its ESP,
// UDP 4500 and cleartext packets skip the table and follow the main one to
// the physical interface; without the first rule they would loop back
// into the TUN device. Rules at priority 0 (the local table) still come
// first, so local addresses are never routed away.
//
// Apply replaces the routes without a gap: new and changed routes first
// (RTM_NEWROUTE with NLM_F_REPLACE), then the stale ones deleted, so a
// destination in both the old and the new set is never unrouted. Close
// removes the routes and the rules. New flushes the table and the rules at
// the Manager's priorities first, which cleans up after a crash.
//
// github.com/vishvananda/netlink is used rather than the ip binary or
// jsimonetti/rtnetlink: it is the maintained, widely used rtnetlink
// library in Go (Docker, Kubernetes CNI plugins, Cilium), has routes and
// fib rules (with fwmark) behind typed structs, and binds a Handle to a
// network namespace, which keeps the routes where the driver runs;
// rtnetlink/v2 has routes but leaves rules to raw messages.
package route

import (
	"errors"
	"net/netip"
	"slices"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// Defaults for the zero values of Config.
const (
	// DefaultTable is the routing table: 0x4500 (17664), after NAT-T's
	// port, outside the range distributions hand out.
	DefaultTable = 0x4500
	// DefaultPriority is the priority of the fwmark rule; the table's
	// rule follows at DefaultPriority+1. Both come before the main
	// table's rule (32766).
	DefaultPriority = 1000
)

// Errors.
var (
	ErrConfig = errors.New("route: invalid configuration")
	ErrClosed = errors.New("route: manager closed")
)

// Destinations returns the destination prefixes of the outbound negotiate
// and block entries of spd, masked, sorted and without repeats. A nil spd
// has none.
func Destinations(spd *sadb.SPD) []netip.Prefix {
	var ps []netip.Prefix
	for _, e := range spd.Entries() {
		s := e.Selector
		if s.Dir != sadb.Outbound || e.Action == ipsec.ActionPermit {
			continue
		}
		p := s.Dst
		if !p.IsValid() {
			p = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		}
		ps = append(ps, p.Masked())
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(ps)
}
