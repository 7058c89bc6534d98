//go:build linux

package nft

import (
	"errors"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/internal/netnstest"
	"github.com/gonetsh/gonetsh/ipsec"
)

var (
	sshIn    = sadb.BootExemption{Protocol: ipsec.ProtoTCP, DstPort: 22, Direction: ipsec.Inbound}
	dnsOut   = sadb.BootExemption{Protocol: ipsec.ProtoUDP, DstPort: 53, Direction: ipsec.Outbound}
	icmpOut  = sadb.BootExemption{Protocol: ipsec.ProtoICMP, Direction: ipsec.Outbound}
	dhcpRule = append(l4proto(unix.IPPROTO_UDP), ports(67, 68)...)
)

// hasRule reports whether rs holds an accept rule whose matches are want.
func hasRule(rs [][]expr.Any, want []expr.Any) bool {
	for _, r := range rs {
		if len(r) == len(want)+1 && equalExprs(r[:len(want)], want) && r[len(want)].(*expr.Verdict).Kind == expr.VerdictAccept {
			return true
		}
	}
	return false
}

func equalExprs(a, b []expr.Any) bool {
	for i := range a {
		if !exprEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

func exprEqual(a, b expr.Any) bool {
	switch x := a.(type) {
	case *expr.Cmp:
		y, ok := b.(*expr.Cmp)
		return ok && x.Op == y.Op && string(x.Data) == string(y.Data)
	case *expr.Payload:
		y, ok := b.(*expr.Payload)
		return ok && x.Base == y.Base && x.Offset == y.Offset && x.Len == y.Len
	case *expr.Meta:
		y, ok := b.(*expr.Meta)
		return ok && x.Key == y.Key
	case *expr.Ct:
		y, ok := b.(*expr.Ct)
		return ok && x.Key == y.Key
	case *expr.Bitwise:
		y, ok := b.(*expr.Bitwise)
		return ok && string(x.Mask) == string(y.Mask) && string(x.Xor) == string(y.Xor)
	}
	return false
}

// TestBootRules checks the boot chains: loopback and DHCP both ways in
// block and stateful mode, conntrack only in stateful, each exemption in
// its direction and mirrored in the other, nothing in permit mode.
func TestBootRules(t *testing.T) {
	ex := []sadb.BootExemption{sshIn, dnsOut, icmpOut}
	for _, mode := range []sadb.BootMode{sadb.BootBlock, sadb.BootStateful} {
		t.Run(mode.String(), func(t *testing.T) {
			in, out := BootRules(mode, ex)
			stateful := 0
			if mode == sadb.BootStateful {
				stateful = 1
			}
			require.Len(t, in, 1+stateful+2+3)
			require.Len(t, out, 1+2+3)
			for _, rs := range [][][]expr.Any{in, out} {
				require.True(t, hasRule(rs, dhcpRule), "DHCP server to client")
				require.True(t, hasRule(rs, append(l4proto(unix.IPPROTO_UDP), ports(68, 67)...)), "DHCP client to server")
				require.True(t, hasRule(rs, icmpRule()), "ICMP exemption or its mirror")
			}
			require.True(t, hasRule(in, ifname("lo")))
			require.True(t, hasRule(out, oifname("lo")))
			require.Equal(t, mode == sadb.BootStateful, hasRule(in, established()))
			require.True(t, hasRule(in, append(l4proto(unix.IPPROTO_TCP), transport(2, 22, 22)...)), "SSH in")
			require.True(t, hasRule(out, append(l4proto(unix.IPPROTO_TCP), transport(0, 22, 22)...)), "SSH replies out")
			require.True(t, hasRule(out, append(l4proto(unix.IPPROTO_UDP), transport(2, 53, 53)...)), "DNS out")
			require.True(t, hasRule(in, append(l4proto(unix.IPPROTO_UDP), transport(0, 53, 53)...)), "DNS replies in")
			for _, r := range append(in, out...) {
				require.Equal(t, expr.VerdictAccept, r[len(r)-1].(*expr.Verdict).Kind, "boot rules only accept; the policies drop")
			}
		})
	}
	in, out := BootRules(sadb.BootPermit, ex)
	require.Empty(t, in)
	require.Empty(t, out)
	require.Equal(t, nftables.ChainPolicyDrop, bootOutputPolicy(sadb.BootBlock))
	require.Equal(t, nftables.ChainPolicyAccept, bootOutputPolicy(sadb.BootStateful))
}

func icmpRule() []expr.Any { return l4proto(unix.IPPROTO_ICMP) }

// TestBootKernel programs boot mode in a namespace, then a policy over it,
// and checks the chains and their policies in the kernel.
func TestBootKernel(t *testing.T) {
	netnstest.RequireRoot(t)
	ns := netnstest.New(t, "n")
	var e *Enforcer
	require.NoError(t, ns.Do(func() error {
		var err error
		e, err = New(Config{})
		return err
	}))
	t.Cleanup(func() { require.NoError(t, e.Close()) })

	ex := []sadb.BootExemption{sshIn}
	require.NoError(t, e.ApplyBoot(sadb.BootBlock, ex))
	chains := listChains(t, ns)
	require.Equal(t, map[string]nftables.ChainPolicy{Chain: nftables.ChainPolicyDrop, ChainOutput: nftables.ChainPolicyDrop}, chains)
	in, _ := BootRules(sadb.BootBlock, ex)
	require.Equal(t, len(in), countRules(t, ns))

	require.NoError(t, e.ApplyBoot(sadb.BootStateful, ex))
	require.Equal(t, nftables.ChainPolicyAccept, listChains(t, ns)[ChainOutput])

	require.NoError(t, e.ApplyBoot(sadb.BootPermit, ex))
	require.Equal(t, -1, countRules(t, ns), "permit mode leaves no table")

	require.NoError(t, e.ApplyBoot(sadb.BootBlock, ex))
	require.NoError(t, e.Apply(nil, sadb.ExemptIKEOnly, "tun0"))
	require.Equal(t, map[string]nftables.ChainPolicy{Chain: nftables.ChainPolicyAccept}, listChains(t, ns),
		"the policy replaces both boot chains")

	require.ErrorContains(t, e.ApplyBoot(0, nil), "boot mode")
	require.ErrorIs(t, e.ApplyBoot(sadb.BootBlock, []sadb.BootExemption{{Protocol: ipsec.ProtoTCP}}), sadb.ErrBootExemption)
	require.NoError(t, e.Close())
	require.ErrorIs(t, e.ApplyBoot(sadb.BootBlock, nil), ErrClosed)
}

// listChains returns the policies of the chains of Table in ns.
func listChains(t *testing.T, ns *netnstest.NS) map[string]nftables.ChainPolicy {
	t.Helper()
	m := map[string]nftables.ChainPolicy{}
	require.NoError(t, ns.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
		for _, ch := range chains {
			if ch.Table.Name == Table && ch.Policy != nil {
				m[ch.Name] = *ch.Policy
			}
		}
		return nil
	}))
	return m
}
