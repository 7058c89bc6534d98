//go:build linux

package nft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// Config is what New needs.
type Config struct {
	// NetNS is a file descriptor of the network namespace to program;
	// 0 means the namespace of the calling thread at New. Either way the
	// netlink socket is opened by New and keeps its namespace for the
	// Enforcer's life, whatever goroutine calls Apply later. New does
	// not keep the descriptor.
	NetNS int
}

// Enforcer owns the table Table of one network namespace. It satisfies
// driver.Enforcer. Its methods are safe for concurrent use.
type Enforcer struct {
	mu      sync.Mutex // serializes batches; guards c, applied
	c       *nftables.Conn
	applied bool // the table may exist: Close deletes it
}

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("nft: enforcer closed")

// New opens a lasting nf_tables netlink socket in the namespace of cfg.
// It does not touch the rule set: the table appears with the first Apply.
func New(cfg Config) (*Enforcer, error) {
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if cfg.NetNS > 0 {
		opts = append(opts, nftables.WithNetNSFd(cfg.NetNS))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nft: open netlink: %w", err)
	}
	return &Enforcer{c: c}, nil
}

// Apply replaces the table with the rules for the inbound entries of spd
// at exemption level, accepting everything that arrives on the interface
// tunName. It is one atomic kernel transaction: on error the previous
// table is left as it was.
func (e *Enforcer) Apply(spd *sadb.SPD, level sadb.ExemptLevel, tunName string) error {
	if tunName == "" || len(tunName) >= unix.IFNAMSIZ {
		return fmt.Errorf("nft: invalid TUN interface name %q", tunName)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil {
		return ErrClosed
	}
	t := &nftables.Table{Name: Table, Family: nftables.TableFamilyIPv4}
	e.c.AddTable(t) // no-op when it exists: the delete below cannot fail
	e.c.DelTable(t)
	e.c.AddTable(t)
	policy := nftables.ChainPolicyAccept
	ch := e.c.AddChain(&nftables.Chain{
		Name:     Chain,
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookInput,
		Priority: nftables.ChainPriorityFilter,
		Policy:   &policy,
	})
	for _, r := range Rules(spd, level, tunName) {
		e.c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r})
	}
	e.applied = true
	if err := e.c.Flush(); err != nil {
		return fmt.Errorf("nft: replace table %s: %w", Table, err)
	}
	return nil
}

// Close deletes the table, if Apply made it, and closes the socket. Later
// calls return nil.
func (e *Enforcer) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil {
		return nil
	}
	var err error
	if e.applied {
		t := &nftables.Table{Name: Table, Family: nftables.TableFamilyIPv4}
		e.c.AddTable(t)
		e.c.DelTable(t)
		if err = e.c.Flush(); err != nil {
			err = fmt.Errorf("nft: delete table %s: %w", Table, err)
		}
	}
	err = errors.Join(err, e.c.CloseLasting())
	e.c = nil
	return err
}

// Rules returns the expressions of the input chain's rules, in order:
// the accepts, then one rule per inbound entry of spd in SPD order. It is
// exported for tests and for `list`-style diagnostics.
func Rules(spd *sadb.SPD, level sadb.ExemptLevel, tunName string) [][]expr.Any {
	if level > sadb.ExemptIKEOnly {
		level = sadb.ExemptIKEOnly // as sadb.Exempt
	}
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	var rs [][]expr.Any
	add := func(es ...expr.Any) { rs = append(rs, append(es, accept)) }

	add(ifname(tunName)...)
	add(ifname("lo")...)
	add(l4proto(50)...) // ESP
	add(l4proto(51)...) // AH
	for _, port := range []uint16{500, 4500} {
		add(append(l4proto(unix.IPPROTO_UDP), transport(0, port, port)...)...)
		add(append(l4proto(unix.IPPROTO_UDP), transport(2, port, port)...)...)
	}
	if level == sadb.ExemptAll || level == sadb.ExemptKerberosIKE {
		add(l4proto(46)...) // RSVP
		for _, p := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
			add(append(l4proto(p), transport(0, 88, 88)...)...)
			add(append(l4proto(p), transport(2, 88, 88)...)...)
		}
	}
	if level == sadb.ExemptAll || level == sadb.ExemptMulticastIKE {
		add(prefix(16, 0xe0000000, 4)...) // 224.0.0.0/4
		add(prefix(16, 0xffffffff, 32)...)
		add(&expr.Meta{Key: expr.MetaKeyPKTTYPE, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.PACKET_BROADCAST}})
	}

	for _, en := range spd.Entries() {
		s := en.Selector
		if s.Dir != sadb.Inbound {
			continue
		}
		var es []expr.Any
		if s.Protocol != ipsec.ProtoAny {
			es = append(es, l4proto(byte(s.Protocol))...)
		}
		es = append(es, prefix(12, be32(s.Src.Addr().As4()), s.Src.Bits())...)
		es = append(es, prefix(16, be32(s.Dst.Addr().As4()), s.Dst.Bits())...)
		if s.Protocol.HasPorts() {
			es = append(es, transport(0, s.SrcPort.Lo, s.SrcPort.Hi)...)
			es = append(es, transport(2, s.DstPort.Lo, s.DstPort.Hi)...)
		}
		v := expr.VerdictAccept
		if en.Action == ipsec.ActionBlock || en.Action == ipsec.ActionNegotiate && !en.InPass {
			v = expr.VerdictDrop
		}
		rs = append(rs, append(es, &expr.Verdict{Kind: v}))
	}
	return rs
}

// ifname matches the input interface name (NUL-padded to IFNAMSIZ).
func ifname(name string) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b},
	}
}

// l4proto matches the transport protocol.
func l4proto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

// prefix matches the IPv4 address at network-header offset off (12
// source, 16 destination) against addr/bits; /0 matches everything and
// yields no expression.
func prefix(off uint32, addr uint32, bits int) []expr.Any {
	if bits == 0 {
		return nil
	}
	mask := ^uint32(0) << (32 - bits)
	es := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}}
	if bits < 32 {
		es = append(es, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binary.BigEndian.AppendUint32(nil, mask), Xor: make([]byte, 4)})
	}
	return append(es, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint32(nil, addr&mask)})
}

// transport matches the port at transport-header offset off (0 source, 2
// destination) against lo-hi; the full range yields no expression.
func transport(off uint32, lo, hi uint16) []expr.Any {
	if r := (sadb.PortRange{Lo: lo, Hi: hi}); r.IsAny() {
		return nil
	}
	load := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2}
	if lo == hi {
		return []expr.Any{load, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, lo)}}
	}
	return []expr.Any{load, &expr.Range{Op: expr.CmpOpEq, Register: 1,
		FromData: binary.BigEndian.AppendUint16(nil, lo), ToData: binary.BigEndian.AppendUint16(nil, hi)}}
}

func be32(b [4]byte) uint32 { return binary.BigEndian.Uint32(b[:]) }
