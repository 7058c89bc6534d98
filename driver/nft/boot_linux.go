//go:build linux

package nft

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// ApplyBoot replaces the table with the boot-mode rules of mode and ex
// (BootRules); BootPermit leaves no table at all. Like Apply it is one
// atomic kernel transaction, and the first Apply after it replaces the
// boot rules by the policy's in one transaction too, so the host is never
// unfiltered in between.
func (e *Enforcer) ApplyBoot(mode sadb.BootMode, ex []sadb.BootExemption) error {
	if !mode.Valid() {
		return fmt.Errorf("nft: boot mode %v", mode)
	}
	for _, x := range ex {
		if err := sadb.ValidateBootExemption(x); err != nil {
			return fmt.Errorf("nft: %w", err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil {
		return ErrClosed
	}
	t := &nftables.Table{Name: Table, Family: nftables.TableFamilyIPv4}
	e.c.AddTable(t)
	e.c.DelTable(t)
	if mode != sadb.BootPermit {
		e.c.AddTable(t)
		in, out := BootRules(mode, ex)
		for _, c := range []struct {
			name   string
			hook   *nftables.ChainHook
			policy nftables.ChainPolicy
			rules  [][]expr.Any
		}{
			{Chain, nftables.ChainHookInput, nftables.ChainPolicyDrop, in},
			{ChainOutput, nftables.ChainHookOutput, bootOutputPolicy(mode), out},
		} {
			ch := e.c.AddChain(&nftables.Chain{
				Name:     c.name,
				Table:    t,
				Type:     nftables.ChainTypeFilter,
				Hooknum:  c.hook,
				Priority: nftables.ChainPriorityFilter,
				Policy:   &c.policy,
			})
			for _, r := range c.rules {
				e.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r})
			}
		}
	}
	e.applied = true
	if err := e.c.Flush(); err != nil {
		return fmt.Errorf("nft: boot mode %v: replace table %s: %w", mode, Table, err)
	}
	return nil
}

// bootOutputPolicy is the output chain's policy: stateful mode lets out
// whatever the host starts, block mode nothing unlisted.
func bootOutputPolicy(mode sadb.BootMode) nftables.ChainPolicy {
	if mode == sadb.BootStateful {
		return nftables.ChainPolicyAccept
	}
	return nftables.ChainPolicyDrop
}

// BootRules returns the rules of the input and output chains in boot mode
// (the chains' policies: input drop; output drop in block mode, accept in
// stateful mode). Both chains accept loopback and DHCP (UDP between ports
// 67 and 68, either way round); stateful mode's input chain accepts
// conntrack's established and related packets; each exemption adds an
// accept to the chain of its direction and, mirrored, to the other.
// BootPermit has no rules. It is exported for tests and diagnostics.
func BootRules(mode sadb.BootMode, ex []sadb.BootExemption) (in, out [][]expr.Any) {
	if mode == sadb.BootPermit || !mode.Valid() {
		return nil, nil
	}
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	add := func(rs *[][]expr.Any, es ...expr.Any) { *rs = append(*rs, append(es, accept)) }

	add(&in, ifname("lo")...)
	add(&out, oifname("lo")...)
	if mode == sadb.BootStateful {
		add(&in, established()...)
	}
	for _, rs := range []*[][]expr.Any{&in, &out} {
		add(rs, append(l4proto(unix.IPPROTO_UDP), ports(sadb.PortDHCPServer, sadb.PortDHCPClient)...)...)
		add(rs, append(l4proto(unix.IPPROTO_UDP), ports(sadb.PortDHCPClient, sadb.PortDHCPServer)...)...)
	}
	for _, x := range ex {
		there, back := &in, &out
		if x.Direction == ipsec.Outbound {
			there, back = &out, &in
		}
		add(there, exemption(x.Protocol, x.SrcPort, x.DstPort)...)
		add(back, exemption(x.Protocol, x.DstPort, x.SrcPort)...)
	}
	return in, out
}

// exemption matches protocol p (any: no match) with source port sp and
// destination port dp (0: any).
func exemption(p ipsec.Protocol, sp, dp uint16) []expr.Any {
	var es []expr.Any
	if p != ipsec.ProtoAny {
		es = l4proto(byte(p))
	}
	if p.HasPorts() {
		es = append(es, transport(0, sp, sp)...)
		es = append(es, transport(2, dp, dp)...)
	}
	return es
}

// ports matches source port sp and destination port dp.
func ports(sp, dp uint16) []expr.Any {
	return append(transport(0, sp, sp), transport(2, dp, dp)...)
}

// oifname matches the output interface name (NUL-padded to IFNAMSIZ).
func oifname(name string) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b},
	}
}

// established matches conntrack state established or related.
func established() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binary.NativeEndian.AppendUint32(nil, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED),
			Xor:  make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}
