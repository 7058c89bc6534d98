package ike

import (
	"bytes"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
)

// fakeKernel records SAs; it is the Kernel of the tests.
type fakeKernel struct {
	mu      sync.Mutex
	sas     map[string]ipsec.SAParams
	deleted []string
	failed  []uint64
	addErr  error
}

func newFakeKernel() *fakeKernel { return &fakeKernel{sas: map[string]ipsec.SAParams{}} }

func saKey(dir ipsec.Direction, spi uint32, dst netip.Addr) string {
	return fmt.Sprintf("%v/%08x/%v", dir, spi, dst)
}

func (k *fakeKernel) AddSA(sa ipsec.SAParams) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.addErr != nil {
		return k.addErr
	}
	sa.EncKey, sa.AuthKey = bytes.Clone(sa.EncKey), bytes.Clone(sa.AuthKey)
	k.sas[saKey(sa.Direction, sa.SPI, sa.Dst)] = sa
	return nil
}

func (k *fakeKernel) DeleteSA(dir ipsec.Direction, spi uint32, dst netip.Addr) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := saKey(dir, spi, dst)
	if _, ok := k.sas[key]; ok {
		delete(k.sas, key)
		k.deleted = append(k.deleted, key)
	}
	return nil
}

func (k *fakeKernel) FailAcquire(ref uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.failed = append(k.failed, ref)
}

func (k *fakeKernel) failedRefs() []uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]uint64(nil), k.failed...)
}

func (k *fakeKernel) list() []ipsec.SAParams {
	k.mu.Lock()
	defer k.mu.Unlock()
	var r []ipsec.SAParams
	for _, sa := range k.sas {
		r = append(r, sa)
	}
	return r
}

func (k *fakeKernel) byDir(dir ipsec.Direction) []ipsec.SAParams {
	var r []ipsec.SAParams
	for _, sa := range k.list() {
		if sa.Direction == dir {
			r = append(r, sa)
		}
	}
	return r
}

// fakePolicy answers with one main mode and one quick mode policy.
type fakePolicy struct {
	mu   sync.Mutex
	auth []ipsec.AuthMethod
	mm   ipsec.MMPolicy
	qm   ipsec.QMPolicy
	none bool
}

func (p *fakePolicy) MainMode(local, remote netip.Addr) (ipsec.MMFilter, ipsec.MMPolicy, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := ipsec.MMFilter{Name: "mm", Auth: p.auth, MMPolicy: p.mm.Name,
		Selector: ipsec.Selector{Src: netip.PrefixFrom(local, 32), Dst: netip.PrefixFrom(remote, 32)}}
	return f, p.mm, !p.none
}

func (p *fakePolicy) QuickMode(local, remote netip.Addr, sel ipsec.Selector, tunnel netip.Addr) (ipsec.QMFilter, ipsec.QMPolicy, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := ipsec.QMFilter{Name: "qm", Selector: sel, Direction: ipsec.Outbound, Tunnel: tunnel, QMPolicy: p.qm.Name}
	return f, p.qm, !p.none
}

// memNet connects Negotiators by address, delivering synchronously.
type memNet struct {
	mu    sync.Mutex
	nodes map[netip.Addr]*Negotiator
	// drop, when set, drops a datagram it returns true for.
	drop func(from, to netip.AddrPort, msg []byte) bool
	sent int
	log  []string
}

type memTransport struct {
	net *memNet
}

func (t memTransport) Send(local, remote netip.AddrPort, msg []byte) error {
	n := t.net
	n.mu.Lock()
	dst := n.nodes[remote.Addr()]
	dropf := n.drop
	n.sent++
	n.mu.Unlock()
	drop := dropf != nil && dropf(local, remote, msg)
	if dst == nil || drop {
		return nil
	}
	dst.Receive(remote, local, msg)
	return nil
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type node struct {
	n      *Negotiator
	kernel *fakeKernel
	policy *fakePolicy
	addr   netip.Addr
}

type pairOpts struct {
	mmOffers   []ipsec.MMOffer
	qmOffers   []ipsec.QMOffer
	pskA, pskB string
	pfs        bool
	pfsGroup   ipsec.DHGroup
	forceEncap bool
	cfg        func(*Config)
}

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
)

func newPair(t testing.TB, o pairOpts) (*node, *node, *memNet, *fakeClock) {
	t.Helper()
	if o.mmOffers == nil {
		o.mmOffers = []ipsec.MMOffer{{Cipher: ipsec.Cipher3DES, Hash: ipsec.HashSHA1, Group: ipsec.DHGroup2}}
	}
	if o.qmOffers == nil {
		o.qmOffers = []ipsec.QMOffer{{ESP: true, ESPCipher: ipsec.Cipher3DES, ESPAuth: ipsec.HashSHA1}}
	}
	if o.pskA == "" {
		o.pskA = "secret"
	}
	if o.pskB == "" {
		o.pskB = o.pskA
	}
	mn := &memNet{nodes: map[netip.Addr]*Negotiator{}}
	clk := &fakeClock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	mk := func(addr netip.Addr, psk string) *node {
		nd := &node{kernel: newFakeKernel(), addr: addr, policy: &fakePolicy{
			auth: []ipsec.AuthMethod{{Kind: ipsec.AuthPSK, PSK: psk}},
			mm:   ipsec.MMPolicy{Name: "mmp", Offers: o.mmOffers, Lifetime: 28800},
			qm:   ipsec.QMPolicy{Name: "qmp", Offers: o.qmOffers, PFS: o.pfs, PFSGroup: o.pfsGroup},
		}}
		cfg := Config{Kernel: nd.kernel, Policy: nd.policy, Transport: memTransport{mn}, Now: clk.Now,
			ForceEncap: o.forceEncap}
		if o.cfg != nil {
			o.cfg(&cfg)
		}
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		nd.n = n
		mn.nodes[addr] = n
		t.Cleanup(func() { n.Close() })
		return nd
	}
	return mk(addrA, o.pskA), mk(addrB, o.pskB), mn, clk
}

var (
	subnetA = netip.MustParsePrefix("10.1.0.0/24")
	subnetB = netip.MustParsePrefix("10.2.0.0/24")
)

// acquire asks a for SAs toward b: tunnel subnetA <-> subnetB, or
// transport between the hosts.
func acquire(a, b *node, ref uint64, tunnel bool) {
	f := ipsec.QMFilter{Name: "qm", Direction: ipsec.Outbound}
	if tunnel {
		f.Selector = ipsec.Selector{Src: subnetA, Dst: subnetB}
		f.Tunnel = b.addr
	} else {
		f.Selector = ipsec.Selector{Src: netip.PrefixFrom(a.addr, 32), Dst: netip.PrefixFrom(b.addr, 32)}
	}
	a.policy.mu.Lock()
	p := a.policy.qm
	a.policy.mu.Unlock()
	a.n.Acquire(Acquire{Ref: ref, Local: a.addr, Remote: b.addr, Filter: f, Policy: p})
}

// checkPaired checks that every outbound SA of x has the inbound twin
// with the same SPI, keys and transform at y.
func checkPaired(t *testing.T, x, y *node) {
	t.Helper()
	outs := x.kernel.byDir(ipsec.Outbound)
	if len(outs) == 0 {
		t.Fatalf("%v: no outbound SA", x.addr)
	}
	for _, o := range outs {
		in, ok := y.kernel.sas[saKey(ipsec.Inbound, o.SPI, o.Dst)]
		if !ok {
			t.Fatalf("%v outbound SPI %#x has no inbound twin at %v", x.addr, o.SPI, y.addr)
		}
		if !bytes.Equal(in.EncKey, o.EncKey) || !bytes.Equal(in.AuthKey, o.AuthKey) {
			t.Errorf("SPI %#x: keys differ", o.SPI)
		}
		if in.Cipher != o.Cipher || in.Hash != o.Hash || in.Mode != o.Mode || in.Protocol != o.Protocol || in.Encap != o.Encap {
			t.Errorf("SPI %#x: transforms differ: %+v vs %+v", o.SPI, in, o)
		}
		if in.Selector != o.Selector {
			t.Errorf("SPI %#x: selectors differ: %v vs %v", o.SPI, in.Selector, o.Selector)
		}
		if len(o.AuthKey) != authKeyLen(o.Hash) || len(o.EncKey) != espEncKeyLenOf(o) {
			t.Errorf("SPI %#x: key lengths %d/%d", o.SPI, len(o.EncKey), len(o.AuthKey))
		}
	}
}

func espEncKeyLenOf(sa ipsec.SAParams) int {
	if sa.Protocol == ipsec.SAAH {
		return 0
	}
	return espEncKeyLen(sa.Cipher)
}
