//go:build linux

package nft

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/internal/netnstest"
	"github.com/gonetsh/gonetsh/ipsec"
)

// testSPD has, inbound, a block, an ICMP permit, a UDP port range under a
// negotiate entry with InPass and one without.
func testSPD(t *testing.T) *sadb.SPD {
	t.Helper()
	peer := netip.MustParsePrefix("10.0.0.0/24")
	me := netip.MustParsePrefix("10.0.1.1/32")
	in := func(a ipsec.Action, p ipsec.Protocol, inPass bool) sadb.Entry {
		return sadb.Entry{Action: a, InPass: inPass, Selector: sadb.Selector{Dir: sadb.Inbound, Src: peer, Dst: me, Protocol: p}}
	}
	udp := in(ipsec.ActionNegotiate, ipsec.ProtoUDP, true)
	udp.Selector.DstPort = sadb.PortRange{Lo: 1000, Hi: 2000}
	spd, err := sadb.Compile([]sadb.Entry{
		in(ipsec.ActionNegotiate, ipsec.ProtoAny, false),
		in(ipsec.ActionPermit, ipsec.ProtoICMP, false),
		udp,
		{Action: ipsec.ActionBlock, Selector: sadb.Selector{Dir: sadb.Outbound, Src: me, Dst: peer}},
		{Action: ipsec.ActionBlock, Selector: sadb.Selector{Dir: sadb.Inbound, Src: netip.MustParsePrefix("192.0.2.7/32")}},
	})
	require.NoError(t, err)
	return spd
}

// verdicts returns the verdict of each rule.
func verdicts(rs [][]expr.Any) []expr.VerdictKind {
	var vs []expr.VerdictKind
	for _, r := range rs {
		vs = append(vs, r[len(r)-1].(*expr.Verdict).Kind)
	}
	return vs
}

func TestRules(t *testing.T) {
	spd := testSPD(t)
	accepts := map[sadb.ExemptLevel]int{
		sadb.ExemptAll:          4 + 4 + 5 + 3, // tun, lo, ESP, AH; IKE/NAT-T; RSVP, Kerberos; multicast, broadcast
		sadb.ExemptMulticastIKE: 4 + 4 + 3,
		sadb.ExemptKerberosIKE:  4 + 4 + 5,
		sadb.ExemptIKEOnly:      4 + 4,
		7:                       4 + 4,
	}
	for level, n := range accepts {
		t.Run(level.String(), func(t *testing.T) {
			rs := Rules(spd, level, "tun0")
			// SPD order: the block host, then the more specific UDP
			// range and ICMP (protocol given) before the any entry.
			want := append(slices.Repeat([]expr.VerdictKind{expr.VerdictAccept}, n),
				expr.VerdictAccept, expr.VerdictAccept, expr.VerdictDrop, expr.VerdictDrop)
			require.Equal(t, want, verdicts(rs))
		})
	}
	require.Len(t, Rules(nil, sadb.ExemptIKEOnly, "tun0"), 8, "empty SPD: the accepts only")
}

// TestKernel programs a namespace's rule set twice, both ways of binding
// the socket to the namespace, and checks the table there (and not in the
// test's own namespace), then that Close removes it.
func TestKernel(t *testing.T) {
	netnstest.RequireRoot(t)
	for _, how := range []string{"created in Do", "namespace fd"} {
		t.Run(how, func(t *testing.T) {
			ns := netnstest.New(t, "n")
			var e *Enforcer
			if how == "created in Do" {
				require.NoError(t, ns.Do(func() error {
					var err error
					e, err = New(Config{})
					return err
				}))
			} else {
				fd, err := unix.Open(filepath.Join("/run/netns", ns.Name()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
				require.NoError(t, err)
				e, err = New(Config{NetNS: fd})
				unix.Close(fd)
				require.NoError(t, err)
			}
			t.Cleanup(func() { require.NoError(t, e.Close()) })

			spd := testSPD(t)
			require.NoError(t, e.Apply(nil, sadb.ExemptAll, "tun0"))
			require.NoError(t, e.Apply(spd, sadb.ExemptIKEOnly, "tun0"))
			require.Equal(t, len(Rules(spd, sadb.ExemptIKEOnly, "tun0")), countRules(t, ns), "rules after the second Apply")
			require.False(t, hostHasTable(t), "table in the test's own namespace")
			require.ErrorContains(t, e.Apply(spd, 0, ""), "invalid TUN")

			require.NoError(t, e.Close())
			require.Equal(t, -1, countRules(t, ns), "table after Close")
			require.NoError(t, e.Close())
			require.ErrorIs(t, e.Apply(spd, 0, "tun0"), ErrClosed)
		})
	}
}

// countRules returns the number of rules in the input chain of the table
// in ns, or -1 without the table.
func countRules(t *testing.T, ns *netnstest.NS) int {
	t.Helper()
	n := -1
	require.NoError(t, ns.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tbl, err := c.ListTableOfFamily(Table, nftables.TableFamilyIPv4)
		if errors.Is(err, unix.ENOENT) {
			return nil
		} else if err != nil {
			return err
		}
		rs, err := c.GetRules(tbl, &nftables.Chain{Name: Chain, Table: tbl})
		n = len(rs)
		return err
	}))
	return n
}

// hostHasTable reports whether the test's own namespace has Table.
func hostHasTable(t *testing.T) bool {
	t.Helper()
	c, err := nftables.New()
	require.NoError(t, err)
	tables, err := c.ListTables()
	if os.IsPermission(err) {
		t.Skip(err)
	}
	require.NoError(t, err)
	return slices.ContainsFunc(tables, func(tb *nftables.Table) bool { return tb.Name == Table })
}
