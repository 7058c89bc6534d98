package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/gonetsh/gonetsh/driver"
	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/engine/agent"
	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

// Negotiator is what the plane feeds: IKE datagrams and SA lifetime
// events (satisfied by *ike.Negotiator).
type Negotiator interface {
	Receive(local, remote netip.AddrPort, msg []byte)
	Expire(dir ipsec.Direction, spi uint32, dst netip.Addr, hard bool)
}

// Acquirer turns a data path acquire into a negotiation (satisfied by
// *engine.Engine).
type Acquirer interface {
	Acquire(ref uint64, f ipsec.QMFilter, local netip.Addr) error
}

// Plane is the glue of one service. Create it with New before the driver,
// give its hooks to driver.Config (Hooks), then Attach the driver, the
// negotiator and the engine. It satisfies engine.DataPath and ike.Kernel
// and ike.Transport.
type Plane struct {
	log *slog.Logger

	drv  atomic.Pointer[driver.Driver]
	neg  atomic.Pointer[Negotiator]
	acq  atomic.Pointer[Acquirer]
	ike  *net.UDPConn // UDP 500; nil until ListenIKE
	done chan struct{}

	// mu guards the table and what it is compiled from, and orders the
	// driver's SetPolicy calls.
	mu       sync.Mutex
	tab      *table
	specific []ipsec.QMFilter
	dyn      dynamic
}

// New returns a plane with nothing attached.
func New(log *slog.Logger) *Plane {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Plane{log: log, done: make(chan struct{})}
}

// Hooks fills the callbacks of cfg that lead to the plane.
func (p *Plane) Hooks(cfg *driver.Config) {
	cfg.OnAcquire = p.onAcquire
	cfg.OnExpire = p.onExpire
	cfg.OnIKE = p.onIKE
}

// AttachDriver, AttachNegotiator and AttachAcquirer complete the wiring;
// events that arrive before are dropped.
func (p *Plane) AttachDriver(d *driver.Driver) { p.drv.Store(d) }
func (p *Plane) AttachNegotiator(n Negotiator) { p.neg.Store(&n) }
func (p *Plane) AttachAcquirer(a Acquirer)     { p.acq.Store(&a) }

var errNoDriver = errors.New("dataplane: no driver attached")

// SetPolicy installs the specific quick mode filters of spd in the data
// path (engine.DataPath), with the dynamic entries of the default
// response rule.
func (p *Plane) SetPolicy(spd *agent.SPD) error {
	var specific []ipsec.QMFilter
	if spd != nil {
		specific = spd.QMSpecific
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.specific = specific
	return p.applyLocked()
}

// applyLocked compiles the table and hands it to the driver.
func (p *Plane) applyLocked() error {
	t, err := compile(p.specific, p.dyn.list())
	if err != nil {
		return fmt.Errorf("dataplane: %w", err)
	}
	p.tab = t
	d := p.drv.Load()
	if d == nil {
		return errNoDriver
	}
	return d.SetPolicy(t.spd)
}

func (p *Plane) table() *table {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tab
}

// AddSA installs sa in the driver (ike.Kernel).
func (p *Plane) AddSA(sa ipsec.SAParams) error {
	d := p.drv.Load()
	if d == nil {
		return errNoDriver
	}
	id := sadb.ID{Dir: sadb.Direction(sa.Direction), SPI: sa.SPI, Dst: sa.Dst.Unmap()}
	ref := sa.Ref
	if ref == 0 {
		var err error
		if ref, err = p.resolve(id, sa); err != nil {
			return err
		}
	}
	proto := driver.ProtocolESP
	if sa.Protocol == ipsec.SAAH {
		proto = driver.ProtocolAH
	}
	mode := driver.ModeTransport
	if sa.Mode == ipsec.ModeTunnel {
		mode = driver.ModeTunnel
	}
	kb := func(k uint64) uint64 { return k * 1024 }
	err := d.AddSA(id, driver.SAParams{
		Protocol:  proto,
		Mode:      mode,
		Cipher:    sa.Cipher,
		Hash:      sa.Hash,
		EncKey:    sa.EncKey,
		AuthKey:   sa.AuthKey,
		Local:     sa.Src,
		Encap:     sa.Encap,
		LocalPort: sa.SrcPort,
		PeerPort:  sa.DstPort,
		Ref:       ref,
		Soft:      sadb.Lifetime{Bytes: kb(sa.SoftKB), Time: sa.SoftLife},
		Hard:      sadb.Lifetime{Bytes: kb(sa.HardKB), Time: sa.HardLife},
	})
	if err != nil {
		p.forgetDynamic(id)
	}
	return err
}

// resolve finds the negotiate entry of an SA installed without a Ref:
// the table's, else (a transport SA this host answered through its
// default response rule) a new dynamic entry for its selector.
func (p *Plane) resolve(id sadb.ID, sa ipsec.SAParams) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ref := p.tab.ref(sa.Direction, sa.Selector)
	if ref == 0 && sa.Mode == ipsec.ModeTransport {
		ref = p.dyn.add(selector(sa.Direction, sa.Selector))
		p.dyn.sas[id] = ref
		if err := p.applyLocked(); err != nil {
			p.dyn.forget(id)
			return 0, err
		}
		p.log.Info("default response: dynamic entry", "entry", ref, "dir", sa.Direction, "selector", sa.Selector)
	} else if ref >= dynBase {
		p.dyn.sas[id] = ref
	}
	return ref, nil
}

// forgetDynamic drops SA id from its dynamic entry, and the entry from
// the data path when it was the last SA.
func (p *Plane) forgetDynamic(id sadb.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dyn.forget(id) {
		if err := p.applyLocked(); err != nil {
			p.log.Warn("default response: removing a dynamic entry", "err", err)
		}
	}
}

// DeleteSA removes an SA (ike.Kernel); an unknown SA is not an error.
func (p *Plane) DeleteSA(dir ipsec.Direction, spi uint32, dst netip.Addr) error {
	d := p.drv.Load()
	if d == nil {
		return errNoDriver
	}
	id := sadb.ID{Dir: sadb.Direction(dir), SPI: spi, Dst: dst.Unmap()}
	err := d.DeleteSA(id)
	p.forgetDynamic(id)
	if errors.Is(err, sadb.ErrNotFound) {
		return nil
	}
	return err
}

// FailAcquire drops the packets held for ref (ike.Kernel).
func (p *Plane) FailAcquire(ref uint64) {
	if d := p.drv.Load(); d != nil {
		d.FailAcquire(ref)
	}
}

func (p *Plane) onAcquire(a driver.Acquire) {
	ap := p.acq.Load()
	if ap == nil {
		return
	}
	f, ok := p.table().filters[a.Entry.ID]
	if !ok && a.Entry.ID >= dynBase {
		// A default response entry whose outbound SA is gone: the
		// peer starts again.
		p.FailAcquire(a.Entry.ID)
		return
	}
	if !ok {
		p.log.Warn("acquire for an entry of an older policy", "entry", a.Entry.ID)
		p.FailAcquire(a.Entry.ID)
		return
	}
	local := a.Fields.Src
	if f.Tunnel.IsValid() {
		local = sourceFor(f.Tunnel)
	} else {
		f = narrow(f, a.Fields)
	}
	// The engine may block on the negotiator; the data path must not.
	go func() {
		if err := (*ap).Acquire(a.Entry.ID, f, local); err != nil {
			p.log.Warn("acquire refused", "filter", f.Name, "err", err)
			p.FailAcquire(a.Entry.ID)
		}
	}()
}

func (p *Plane) onExpire(e sadb.Event) {
	if np := p.neg.Load(); np != nil {
		(*np).Expire(ipsec.Direction(e.ID.Dir), e.ID.SPI, e.ID.Dst, e.Kind == sadb.EventHard)
	}
}

func (p *Plane) onIKE(ep conn.Endpoint, msg []byte) {
	if np := p.neg.Load(); np != nil {
		(*np).Receive(ep.Local, ep.Remote, msg)
	}
}

// narrow returns the transport filter f cut down to the hosts of the
// packet p that raised the acquire, when f's destination is not one host
// (me to any: the built-in All IP Traffic): the peer is the packet's
// destination, and the quick mode negotiates host-to-host identities
// for it, as a Windows specific filter for that pair would. Protocol and
// ports stay f's.
func narrow(f ipsec.QMFilter, p sadb.Fields) ipsec.QMFilter {
	if d := f.Selector.Dst; d.IsValid() && d.Bits() == 32 || !p.Dst.Is4() || !p.Src.Is4() {
		return f
	}
	f.Selector.Src = netip.PrefixFrom(p.Src, 32)
	f.Selector.Dst = netip.PrefixFrom(p.Dst, 32)
	f.SrcAddr = ipsec.Address{Kind: ipsec.AddrIP, IP: p.Src}
	f.DstAddr = ipsec.Address{Kind: ipsec.AddrIP, IP: p.Dst}
	return f
}

// sourceFor returns the address this host sends from toward dst (a
// connected UDP socket: no packet leaves); invalid when there is no
// route.
func sourceFor(dst netip.Addr) netip.Addr {
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 500)))
	if err != nil {
		return netip.Addr{}
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

// SetConfig applies the machine configuration of `set config` that the
// data path enforces (engine.DataPath): the default exemptions and, until
// the first policy, the boot mode with its exemptions. The engine calls it
// again on every change; a boot mode change after the first policy has no
// effect until the next start, as on Windows.
func (p *Plane) SetConfig(c store.Config) error {
	d := p.drv.Load()
	if d == nil {
		return errNoDriver
	}
	err := d.SetExemptions(sadb.ExemptLevel(c.IPsecExempt), localPrefixes())
	ex := make([]sadb.BootExemption, 0, len(c.BootExemptions))
	for _, e := range c.BootExemptions {
		ex = append(ex, sadb.BootExemption{Protocol: e.Protocol, SrcPort: e.SrcPort, DstPort: e.DstPort, Dir: sadb.Direction(e.Direction)})
	}
	// store.BootMode and sadb.BootMode number stateful, block, permit alike.
	if berr := d.SetBootMode(sadb.BootMode(c.BootMode), ex); berr != nil && !errors.Is(berr, driver.ErrBootOver) {
		err = errors.Join(err, berr)
	}
	return err
}

// Stats returns the data path's counters of `show stats type=ipsec`
// (engine.DataPath).
func (p *Plane) Stats() ipsec.IPsecStats {
	d := p.drv.Load()
	if d == nil {
		return ipsec.IPsecStats{}
	}
	return d.Stats().IPsec()
}

// localPrefixes returns the IPv4 prefixes of this host's interfaces, for
// the directed broadcasts that exemption levels 0 and 1 let pass.
func localPrefixes() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		ones, bits := n.Mask.Size()
		if bits == 128 {
			ones -= 96 // an IPv4 address with a 16-byte mask
		}
		if ok && ip.Unmap().Is4() && ones >= 0 {
			out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
		}
	}
	return out
}
