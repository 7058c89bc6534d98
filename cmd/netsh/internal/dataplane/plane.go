package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

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

	drv   atomic.Pointer[driver.Driver]
	neg   atomic.Pointer[Negotiator]
	acq   atomic.Pointer[Acquirer]
	ike   *net.UDPConn     // UDP 500; nil until ListenIKE
	ikePC *ipv4.PacketConn // ike with control messages (IP_PKTINFO)
	done  chan struct{}

	mu       sync.Mutex // guards the fields below
	tab      *table
	specific []ipsec.QMFilter         // the policy's specific filters
	resp     []respFilter             // filters made for SAs no filter covers
	soft     map[netip.Addr]time.Time // soft association peers, until when
	fields   map[uint64]sadb.Fields   // the first packet of each entry's last acquire
	timer    *time.Timer              // the next soft association expiry
	now      func() time.Time
}

// respFilter is the pair of negotiate filters (outbound, inbound) the
// plane makes for SAs the negotiator installed as a responder for traffic
// no filter of the policy covers: the default response rule (Client,
// Respond Only), as Windows' responder makes filters for what it accepted.
// Their inbound side has InPass (the host still talks in clear to others
// of that pair's traffic, as Respond Only does). They go with their last
// SA.
type respFilter struct {
	out, in ipsec.QMFilter
	rank    ipsec.Selector  // the outbound generic selector they rank as; zero: their own
	spis    map[uint32]bool // the SAs (by SPI) that use them
}

// SoftLifetime is how long a soft association (clear text with a peer
// that did not negotiate under a soft filter action, `soft=yes`) lasts
// before IKE is tried again: five minutes, as Windows keeps them.
const SoftLifetime = 5 * time.Minute

// New returns a plane with nothing attached.
func New(log *slog.Logger) *Plane {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Plane{log: log, done: make(chan struct{}), soft: map[netip.Addr]time.Time{},
		fields: map[uint64]sadb.Fields{}, now: time.Now}
}

// Hooks fills the callbacks of cfg that lead to the plane.
func (p *Plane) Hooks(cfg *driver.Config) {
	cfg.OnAcquire = p.onAcquire
	cfg.OnExpire = p.onExpire
	cfg.OnIKE = p.onIKE
}

// Driver returns the attached driver (nil before AttachDriver).
func (p *Plane) Driver() *driver.Driver { return p.drv.Load() }

// AttachDriver, AttachNegotiator and AttachAcquirer complete the wiring;
// events that arrive before are dropped.
func (p *Plane) AttachDriver(d *driver.Driver) { p.drv.Store(d) }
func (p *Plane) AttachNegotiator(n Negotiator) { p.neg.Store(&n) }
func (p *Plane) AttachAcquirer(a Acquirer)     { p.acq.Store(&a) }

var errNoDriver = errors.New("dataplane: no driver attached")

// SetPolicy installs the specific quick mode filters of spd in the data
// path (engine.DataPath). A new policy ends the soft associations.
func (p *Plane) SetPolicy(spd *agent.SPD) error {
	var specific []ipsec.QMFilter
	if spd != nil {
		specific = spd.QMSpecific
	}
	p.mu.Lock()
	p.specific = specific
	p.resp = nil
	clear(p.soft)
	clear(p.fields)
	p.mu.Unlock()
	return p.apply()
}

// apply compiles the policy's filters and the soft associations and
// installs them in the driver.
func (p *Plane) apply() error {
	p.mu.Lock()
	now := p.now()
	var soft []netip.Addr
	next := time.Time{}
	for peer, until := range p.soft {
		if !now.Before(until) {
			delete(p.soft, peer)
			continue
		}
		soft = append(soft, peer)
		if next.IsZero() || until.Before(next) {
			next = until
		}
	}
	slices.SortFunc(soft, netip.Addr.Compare)
	filters := p.specific
	var ranks []ipsec.Selector
	if len(p.resp) > 0 {
		filters = slices.Clone(p.specific)
		ranks = make([]ipsec.Selector, len(p.specific), len(p.specific)+2*len(p.resp))
		for _, r := range p.resp {
			filters = append(filters, r.out, r.in)
			in := r.rank
			if in != (ipsec.Selector{}) {
				in = in.Reverse()
			}
			ranks = append(ranks, r.rank, in)
		}
	}
	t, err := compile(filters, ranks, soft)
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("dataplane: %w", err)
	}
	p.tab = t
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	if !next.IsZero() {
		p.timer = time.AfterFunc(next.Sub(now), func() {
			if err := p.apply(); err != nil {
				p.log.Error("soft association expiry", "err", err)
			}
		})
	}
	p.mu.Unlock()
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
	// An SA without the acquire's Ref (a responder's, an inbound one)
	// belongs to the entry with exactly its traffic; else it gets a
	// dynamic filter pair of its own (respond): a generic entry's SA would
	// carry every peer's traffic.
	ref := sa.Ref
	if ref == 0 {
		ref = p.table().exact(sa.Direction, sa.Selector)
	}
	if ref == 0 {
		var err error
		if ref, err = p.respond(sa); err != nil {
			return err
		}
	} else {
		p.useSPI(ref, sa.SPI)
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
	var bundle sadb.ID
	if sa.BundleSPI != 0 {
		bundle = sadb.ID{Dir: sadb.Direction(sa.Direction), SPI: sa.BundleSPI, Dst: sa.Dst}
	}
	return d.AddSA(sadb.ID{Dir: sadb.Direction(sa.Direction), SPI: sa.SPI, Dst: sa.Dst}, driver.SAParams{
		Bundle:    bundle,
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
}

// respond makes (or joins) the respFilter for sa, an SA whose traffic no
// negotiate filter covers, and returns the ID of its entry of sa's
// direction.
func (p *Plane) respond(sa ipsec.SAParams) (uint64, error) {
	out := sa.Selector
	local, peer := sa.Src, sa.Dst
	if sa.Direction == ipsec.Inbound {
		out, local, peer = sa.Selector.Reverse(), sa.Dst, sa.Src
	}
	f := ipsec.QMFilter{Name: "Default Response", Selector: out, Direction: ipsec.Outbound, Mirrored: true,
		InboundAction: ipsec.ActionNegotiate, OutboundAction: ipsec.ActionNegotiate, InPass: true}
	var rank ipsec.Selector
	if g, ok := p.covering(out); ok {
		// A generic filter covers the traffic (this host to any): the
		// pair is its narrowed copy for this peer, ranked as it.
		f, rank = g, g.Selector
		f.Selector = out
	}
	if sa.Mode == ipsec.ModeTunnel {
		f.Tunnel = peer
	}
	if err := p.addPair(f, rank, local, sa.SPI); err != nil {
		return 0, err
	}
	return p.table().ref(sa.Direction, sa.Selector), nil
}

// covering returns the outbound negotiate filter of the policy (not a
// dynamic one) that the first packet of out matches, if any.
func (p *Plane) covering(out ipsec.Selector) (ipsec.QMFilter, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tab == nil {
		return ipsec.QMFilter{}, false
	}
	s := selector(ipsec.Outbound, out)
	fl := sadb.Fields{Src: s.Src.Addr(), Dst: s.Dst.Addr(), Protocol: s.Protocol, SrcPort: s.SrcPort.Lo, DstPort: s.DstPort.Lo}
	e, ok := p.tab.spd.Lookup(sadb.Outbound, fl)
	if !ok || e.Action != ipsec.ActionNegotiate || e.ID > uint64(len(p.specific)) {
		return ipsec.QMFilter{}, false
	}
	return p.tab.filters[e.ID], true
}

// useSPI records spi as an SA of the dynamic filter pair whose entry is
// ref, if it is one.
func (p *Plane) useSPI(ref uint64, spi uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tab == nil {
		return
	}
	f, ok := p.tab.filters[ref]
	if !ok {
		return
	}
	sel := f.Selector
	if f.Direction == ipsec.Inbound {
		sel = sel.Reverse()
	}
	for _, r := range p.resp {
		if r.out.Selector == sel {
			r.spis[spi] = true
		}
	}
}

// addPair adds (or finds) the dynamic filter pair whose outbound filter
// has f's selector, records spi (if not 0) as one of its SAs, and
// applies the policy when the pair is new. rank is the generic selector
// it was narrowed from (zero: none); local is this host's tunnel endpoint
// in tunnel mode.
func (p *Plane) addPair(f ipsec.QMFilter, rank ipsec.Selector, local netip.Addr, spi uint32) error {
	p.mu.Lock()
	i := slices.IndexFunc(p.resp, func(r respFilter) bool { return r.out.Selector == f.Selector && r.out.Tunnel == f.Tunnel })
	created := i < 0
	if created {
		in := f
		in.Selector, in.Direction, in.Mirror = f.Selector.Reverse(), ipsec.Inbound, true
		if f.Tunnel.IsValid() {
			in.Tunnel = local
		}
		p.resp = append(p.resp, respFilter{out: f, in: in, rank: rank, spis: map[uint32]bool{}})
		i = len(p.resp) - 1
		p.log.Info("dynamic filters", "filter", f.Name, "selector", f.Selector.String())
	}
	if spi != 0 {
		p.resp[i].spis[spi] = true
	}
	p.mu.Unlock()
	if created {
		return p.apply()
	}
	return nil
}

// dropPair removes the dynamic filter pair of the outbound entry ref if no
// SA uses it (a narrowed acquire that failed).
func (p *Plane) dropPair(ref uint64) {
	p.mu.Lock()
	var f ipsec.QMFilter
	ok := false
	if p.tab != nil {
		f, ok = p.tab.filters[ref]
	}
	n := len(p.resp)
	if ok {
		p.resp = slices.DeleteFunc(p.resp, func(r respFilter) bool {
			return r.out.Selector == f.Selector && r.out.Tunnel == f.Tunnel && len(r.spis) == 0
		})
	}
	changed := len(p.resp) != n
	p.mu.Unlock()
	if changed {
		if err := p.apply(); err != nil {
			p.log.Error("dynamic filters", "err", err)
		}
	}
}

// DeleteSA removes an SA (ike.Kernel); an unknown SA is not an error. The
// last SA of a respFilter takes the filter with it.
func (p *Plane) DeleteSA(dir ipsec.Direction, spi uint32, dst netip.Addr) error {
	d := p.drv.Load()
	if d == nil {
		return errNoDriver
	}
	err := d.DeleteSA(sadb.ID{Dir: sadb.Direction(dir), SPI: spi, Dst: dst})
	if errors.Is(err, sadb.ErrNotFound) {
		err = nil
	}
	p.mu.Lock()
	changed := false
	p.resp = slices.DeleteFunc(p.resp, func(r respFilter) bool {
		if r.spis[spi] {
			delete(r.spis, spi)
			changed = changed || len(r.spis) == 0
			return len(r.spis) == 0
		}
		return false
	})
	p.mu.Unlock()
	if changed {
		err = errors.Join(err, p.apply())
	}
	return err
}

// FailAcquire drops the packets held for ref (ike.Kernel). When the
// filter's action is soft (`soft=yes`: fall back to clear text with a
// peer that does not do IPsec) and the filter is a transport filter, the
// peer of the acquire's first packet gets a soft association: clear text
// both ways for SoftLifetime, then IKE again. The held packets are
// dropped either way; the application's next packet goes in clear.
func (p *Plane) FailAcquire(ref uint64) {
	p.mu.Lock()
	var f ipsec.QMFilter
	if p.tab != nil {
		f = p.tab.filters[ref]
	}
	fields, seen := p.fields[ref]
	soft := f.Soft && !f.Tunnel.IsValid() && seen && fields.Dst.IsValid()
	if soft {
		p.soft[fields.Dst] = p.now().Add(SoftLifetime)
	}
	p.mu.Unlock()
	if soft {
		p.log.Info("soft association: clear text with a peer that did not negotiate", "peer", fields.Dst, "filter", f.Name, "for", SoftLifetime)
		if err := p.apply(); err != nil {
			p.log.Error("soft association", "err", err)
		}
	}
	if d := p.drv.Load(); d != nil {
		d.FailAcquire(ref)
	}
	p.dropPair(ref)
}

func (p *Plane) onAcquire(a driver.Acquire) {
	ap := p.acq.Load()
	if ap == nil {
		return
	}
	p.mu.Lock()
	var f ipsec.QMFilter
	ok := false
	if p.tab != nil {
		f, ok = p.tab.filters[a.Entry.ID]
	}
	if ok {
		p.fields[a.Entry.ID] = a.Fields
	}
	p.mu.Unlock()
	if !ok {
		p.log.Warn("acquire for an entry of an older policy", "entry", a.Entry.ID)
		p.FailAcquire(a.Entry.ID)
		return
	}
	local := a.Fields.Src
	ref := a.Entry.ID
	if f.Tunnel.IsValid() {
		local = sourceFor(f.Tunnel)
	} else if n := narrow(f, a.Fields); n.Selector != f.Selector {
		// One entry per peer, as Windows' specific filters: the generic
		// entry's SA would otherwise carry every peer's traffic.
		rank := f.Selector
		f = n
		if err := p.addPair(f, rank, local, 0); err != nil {
			p.log.Error("dynamic filters", "err", err)
		} else if r := p.table().ref(ipsec.Outbound, f.Selector); r != 0 {
			p.mu.Lock()
			p.fields[r] = a.Fields
			p.mu.Unlock()
			if d := p.drv.Load(); d != nil {
				d.Reacquire(ref, r)
			}
			ref = r
		}
	}
	// The engine may block on the negotiator; the data path must not.
	go func() {
		if err := (*ap).Acquire(ref, f, local); err != nil {
			p.log.Warn("acquire refused", "filter", f.Name, "err", err)
			p.FailAcquire(ref)
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
// data path enforces (engine.DataPath): the default exemptions, the drop
// events ipsecdiagnostics logs (driver.SetDiagnostics) and, until the
// first policy, the boot mode with its exemptions. The engine calls it
// again on every change; a boot mode change after the first policy has no
// effect until the next start, as on Windows.
func (p *Plane) SetConfig(c store.Config) error {
	d := p.drv.Load()
	if d == nil {
		return errNoDriver
	}
	d.SetDiagnostics(uint8(c.IPsecDiagnostics))
	err := d.SetExemptions(sadb.ExemptLevel(c.IPsecExempt), localPrefixes())
	if berr := d.SetBootMode(c.BootMode, c.BootExemptions); berr != nil && !errors.Is(berr, driver.ErrBootOver) {
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
