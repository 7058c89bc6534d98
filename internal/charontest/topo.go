//go:build linux

package charontest

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/gonetsh/gonetsh/internal/netnstest"
)

// The addresses of the topologies: documentation ranges (RFC 5737) for
// the outer network, 10/8 for the protected ("inner") hosts.
var (
	OuterA     = netip.MustParseAddr("198.51.100.1")
	OuterB     = netip.MustParseAddr("198.51.100.2")
	InnerA     = netip.MustParseAddr("10.1.0.1")
	InnerB     = netip.MustParseAddr("10.2.0.1")
	NATInside  = netip.MustParseAddr("198.51.100.254")
	NATOutside = netip.MustParseAddr("203.0.113.254")
	OuterBNAT  = netip.MustParseAddr("203.0.113.2")
)

// Interface names inside the namespaces (each namespace has its own, so
// they do not clash across tests).
const (
	VethA     = "va" // A's end
	VethB     = "vb" // B's end
	VethNATA  = "na" // the NAT's end towards A
	VethNATB  = "nb" // the NAT's end towards B
	readyWait = 5 * time.Second
)

// Pair is two namespaces joined by a veth:
//
//	A: lo InnerA/32, va OuterA/24  <-->  B: lo InnerB/32, vb OuterB/24
//
// IPv6 is off (router solicitations would hit ipsec0) and rp_filter is
// off in both. Nothing routes InnerA to InnerB but an IPsec SA: charon's
// kernel-libipsec installs the route (table 220, via ipsec0).
type Pair struct {
	A, B *netnstest.NS
	// Outer (IKE) and inner (protected) addresses of A and B.
	OuterA, OuterB, InnerA, InnerB netip.Addr
}

// NewPair builds a Pair; t.Cleanup removes it.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	p := &Pair{A: netnstest.New(t, "a"), B: netnstest.New(t, "b"), OuterA: OuterA, OuterB: OuterB, InnerA: InnerA, InnerB: InnerB}
	prepare(t, p.A)
	prepare(t, p.B)
	netnstest.Veth(t, p.A, VethA, p.B, VethB)
	endpoint(t, p.A, VethA, p.OuterA, 24, p.InnerA)
	endpoint(t, p.B, VethB, p.OuterB, 24, p.InnerB)
	p.A.WaitRunning(t, VethA, readyWait)
	p.B.WaitRunning(t, VethB, readyWait)
	waitPing(t, p.A, p.OuterB)
	return p
}

// NATTopology puts a masquerading router between A and B:
//
//	A: lo InnerA, va OuterA/24 (default via NATInside)
//	  <--> NAT: na NATInside/24, nb NATOutside/24, masquerade out of nb
//	  <--> B: lo InnerB, vb OuterBNAT/24
//
// B sees A's IKE and ESP-in-UDP coming from NATOutside. B has no route to
// A's network: only the NAT's connection tracking brings answers back.
type NATTopology struct {
	A, NAT, B *netnstest.NS
	// OuterA is behind the NAT; OuterB is B's public address (what A
	// dials); NATOutside is what B sees as A's address.
	OuterA, OuterB, NATInside, NATOutside, InnerA, InnerB netip.Addr
}

// NewNATTopology builds a NATTopology; t.Cleanup removes it. The NAT is
// an nftables "masquerade" rule in the middle namespace, written through
// netlink (no nft binary needed).
func NewNATTopology(t testing.TB) *NATTopology {
	t.Helper()
	n := &NATTopology{
		A: netnstest.New(t, "a"), NAT: netnstest.New(t, "n"), B: netnstest.New(t, "b"),
		OuterA: OuterA, OuterB: OuterBNAT, NATInside: NATInside, NATOutside: NATOutside, InnerA: InnerA, InnerB: InnerB,
	}
	for _, ns := range []*netnstest.NS{n.A, n.NAT, n.B} {
		prepare(t, ns)
	}
	netnstest.Veth(t, n.A, VethA, n.NAT, VethNATA)
	netnstest.Veth(t, n.NAT, VethNATB, n.B, VethB)
	endpoint(t, n.A, VethA, n.OuterA, 24, n.InnerA)
	endpoint(t, n.B, VethB, n.OuterB, 24, n.InnerB)
	n.A.IP(t, "route", "add", "default", "via", n.NATInside.String())
	n.NAT.IP(t, "addr", "add", n.NATInside.String()+"/24", "dev", VethNATA)
	n.NAT.IP(t, "addr", "add", n.NATOutside.String()+"/24", "dev", VethNATB)
	n.NAT.Sysctl(t, "net.ipv4.ip_forward", "1", false)
	if err := n.NAT.Do(func() error { return masquerade(VethNATB) }); err != nil {
		t.Fatalf("charontest: nftables masquerade in %s: %v", n.NAT.Name(), err)
	}
	n.A.WaitRunning(t, VethA, readyWait)
	n.NAT.WaitRunning(t, VethNATA, readyWait)
	n.NAT.WaitRunning(t, VethNATB, readyWait)
	n.B.WaitRunning(t, VethB, readyWait)
	waitPing(t, n.A, n.OuterB)
	return n
}

// masquerade installs "table ip charontest-nat { chain post { type nat
// hook postrouting priority srcnat; oifname IFNAME masquerade } }" in the
// calling thread's namespace.
func masquerade(oif string) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	tbl := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "charontest-nat"})
	post := c.AddChain(&nftables.Chain{
		Name: "post", Table: tbl, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	})
	name := make([]byte, 16) // IFNAMSIZ, NUL-padded
	copy(name, oif)
	c.AddRule(&nftables.Rule{Table: tbl, Chain: post, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
		&expr.Masq{},
	}})
	return c.Flush()
}

// prepare switches IPv6 off and rp_filter off in ns, before its
// interfaces exist (so "default" covers them).
func prepare(t testing.TB, ns *netnstest.NS) {
	t.Helper()
	for _, k := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
		ns.Sysctl(t, k, "1", true)
	}
	for _, k := range []string{"net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"} {
		ns.Sysctl(t, k, "0", false)
	}
}

// endpoint gives ns its outer address on veth and its inner /32 on lo
// (this kernel has no dummy links).
func endpoint(t testing.TB, ns *netnstest.NS, veth string, outer netip.Addr, bits int, inner netip.Addr) {
	t.Helper()
	ns.IP(t, "addr", "add", netip.PrefixFrom(outer, bits).String(), "dev", veth)
	ns.IP(t, "addr", "add", netip.PrefixFrom(inner, 32).String(), "dev", "lo")
}

// waitPing waits until ns reaches dst (ARP resolved, forwarding up), so
// that the first IKE packet is not lost to a cold neighbour table.
func waitPing(t testing.TB, ns *netnstest.NS, dst netip.Addr) {
	t.Helper()
	deadline := time.Now().Add(readyWait)
	for {
		out, err := Exec(context.Background(), ns, "ping", "-c", "1", "-W", "1", "-q", dst.String())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("charontest: %s cannot reach %s: %v\n%s", ns.Name(), dst, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Exec runs a command inside ns (`ip netns exec`) and returns its
// combined output.
func Exec(ctx context.Context, ns *netnstest.NS, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name(), name}, args...)...).CombinedOutput()
}

// Ping sends count ICMP echo requests from src to dst inside ns, 0.1 s
// apart, and returns an error unless all were answered.
func Ping(ns *netnstest.NS, src, dst netip.Addr, count int) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(count)*time.Second+10*time.Second)
	defer cancel()
	out, err := Exec(ctx, ns, "ping", "-n", "-q", "-c", strconv.Itoa(count), "-i", "0.1", "-W", "2", "-I", src.String(), dst.String())
	if err != nil {
		return fmt.Errorf("ping %s -> %s in %s: %w\n%s", src, dst, ns.Name(), err, out)
	}
	return nil
}
