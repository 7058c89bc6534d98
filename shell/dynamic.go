package shell

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"

	"github.com/gonetsh/gonetsh/shell/render"
)

// Engine is what the `ipsec dynamic` handlers need of the IPsec engine
// (satisfied by *engine.Engine). Every method may fail when the engine is
// not running; the slices returned are read-only.
type Engine interface {
	// Config and SetConfig read and write the machine configuration
	// (`set config`, `show config`); SetConfig changes one property in
	// one transaction.
	Config() (store.Config, error)
	SetConfig(p store.ConfigProperty, v store.ConfigValue) error

	// Stats returns the IKE and IPsec counters (`show stats`).
	Stats() (ipsec.Stats, error)

	// The SPD: policies, generic filters in policy order and specific
	// filters in rank order.
	MMPolicies() ([]ipsec.MMPolicy, error)
	QMPolicies() ([]ipsec.QMPolicy, error)
	MMFilters() (generic, specific []ipsec.MMFilter, err error)
	QMFilters() (generic, specific []ipsec.QMFilter, err error)

	// MMSAs and QMSAs return the live SAs (`show mmsas|qmsas`, `show
	// all`); none while the engine has no negotiator.
	MMSAs() ([]ipsec.MMSA, error)
	QMSAs() ([]ipsec.QMSA, error)

	// IKELogPath is the file `set config ikelogging 1` writes, shown by
	// `show config`; "": none.
	IKELogPath() string

	// Refresh re-reads the policy store, the configuration and the
	// host's addresses and servers at once (`gpupdate`).
	Refresh() error
}

// dynamicHandlers are the `ipsec dynamic` commands this build runs; the
// others answer errDynamicNotImplemented.
var dynamicHandlers = map[string]handler{
	"dynamic.set.config":    (*Session).setConfig,
	"dynamic.show.config":   (*Session).showConfig,
	"dynamic.show.stats":    (*Session).showStats,
	"dynamic.show.mmpolicy": (*Session).showMMPolicy,
	"dynamic.show.qmpolicy": (*Session).showQMPolicy,
	"dynamic.show.mmfilter": (*Session).showMMFilter,
	"dynamic.show.qmfilter": (*Session).showQMFilter,
	"dynamic.show.mmsas":    (*Session).showMMSAs,
	"dynamic.show.qmsas":    (*Session).showQMSAs,
}

// runDynamic dispatches a dynamic command.
func (s *Session) runDynamic(inv *grammar.Invocation) error {
	if err := s.engine(); err != nil {
		return err
	}
	if s.cfg.Engine == nil {
		return fmt.Errorf("The ipsec dynamic command %q needs the gonetsh engine, which this build does not include yet.", inv.Cmd.Path())
	}
	if h, ok := dynamicHandlers[inv.Cmd.ID]; ok {
		return h(s, inv)
	}
	return notImplemented(inv.Cmd.Path())
}

// engine starts the engine at the first command that needs it, so static
// commands (and netsh's cold start) never pay for it, and calls OnDynamic.
func (s *Session) engine() error {
	if s.cfg.Engine == nil && s.cfg.StartEngine != nil {
		start := s.cfg.StartEngine
		s.cfg.StartEngine = nil
		eng, err := start()
		if err != nil {
			return err
		}
		s.cfg.Engine = eng
	}
	if s.cfg.Engine != nil && s.cfg.OnDynamic != nil {
		s.cfg.OnDynamic()
	}
	return nil
}

// gpupdateDone is what `gpupdate` prints when the engine re-read the
// store, in the words of Windows' gpupdate.
const gpupdateDone = "Updating policy...\n\nComputer Policy update has completed successfully.\n"

// gpupdate makes the engine re-read the policy store now: the service's
// (Config.Refresh) or this process's.
func (s *Session) gpupdate(*grammar.Invocation) error {
	if s.cfg.Refresh != nil {
		if err := s.cfg.Refresh(); err != nil {
			return err
		}
	} else {
		if err := s.engine(); err != nil {
			return err
		}
		if s.cfg.Engine == nil {
			return fmt.Errorf("gpupdate needs the gonetsh engine, which this session does not have.")
		}
		if err := s.cfg.Engine.Refresh(); err != nil {
			return err
		}
	}
	fmt.Fprint(s.cfg.Out, gpupdateDone)
	return nil
}

func notImplemented(what string) error {
	return fmt.Errorf("The ipsec dynamic command %q is not implemented yet.", what)
}

// write writes what a handler rendered into buf, once it all succeeded.
func (s *Session) write(buf *bytes.Buffer) error {
	_, err := s.cfg.Out.Write(buf.Bytes())
	return err
}

func (s *Session) setConfig(inv *grammar.Invocation) error {
	cv, err := inv.Config()
	if err != nil {
		return err
	}
	p, v, err := storeConfigValue(cv)
	if err != nil {
		return err
	}
	return s.cfg.Engine.SetConfig(p, v)
}

// storeConfigValue converts a validated grammar value to the store's types.
func storeConfigValue(cv grammar.ConfigValue) (store.ConfigProperty, store.ConfigValue, error) {
	props := map[int]store.ConfigProperty{
		grammar.ConfigIPsecDiagnostics: store.ConfigIPsecDiagnostics,
		grammar.ConfigIKELogging:       store.ConfigIKELogging,
		grammar.ConfigStrongCRLCheck:   store.ConfigStrongCRLCheck,
		grammar.ConfigIPsecLogInterval: store.ConfigIPsecLogInterval,
		grammar.ConfigIPsecExempt:      store.ConfigIPsecExempt,
		grammar.ConfigBootMode:         store.ConfigBootMode,
		grammar.ConfigBootExemptions:   store.ConfigBootExemptions,
	}
	p, ok := props[cv.Property]
	if !ok {
		return 0, store.ConfigValue{}, fmt.Errorf("unknown configuration property %d", cv.Property)
	}
	v := store.ConfigValue{Int: int(cv.Int)}
	switch cv.BootMode {
	case grammar.BootStateful:
		v.BootMode = store.BootStateful
	case grammar.BootBlock:
		v.BootMode = store.BootBlock
	case grammar.BootPermit:
		v.BootMode = store.BootPermit
	}
	for _, e := range cv.Exemptions {
		d := ipsec.Inbound
		if e.Direction == grammar.BootOutbound {
			d = ipsec.Outbound
		}
		v.Exemptions = append(v.Exemptions, store.BootExemption{
			Protocol: e.Protocol, SrcPort: e.SrcPort, DstPort: e.DstPort, Direction: d})
	}
	return p, v, nil
}

func (s *Session) showConfig(*grammar.Invocation) error {
	c, err := s.cfg.Engine.Config()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := render.Config(&buf, c, s.cfg.Engine.IKELogPath()); err != nil {
		return err
	}
	return s.write(&buf)
}

func (s *Session) showStats(inv *grammar.Invocation) error {
	st, err := s.cfg.Engine.Stats()
	if err != nil {
		return err
	}
	ike, ips := true, true
	if v, ok := inv.Get("type"); ok {
		ike, ips = v.Int == grammar.StatsIKE, v.Int == grammar.StatsIPsec
	}
	var buf bytes.Buffer
	if err := render.Stats(&buf, st, ike, ips); err != nil {
		return err
	}
	return s.write(&buf)
}

// SPD errors (reference 6.3).
var (
	errMMPolicyNotFound = &store.Error{Code: 13004, Msg: "The specified main mode policy was not found."}
	errQMPolicyNotFound = &store.Error{Code: 13001, Msg: "The specified quick mode policy was not found."}
	errMMFilterNotFound = &store.Error{Code: 13007, Msg: "The specified main mode filter was not found."}
	errQMFilterNotFound = &store.Error{Code: 13009, Msg: "The specified transport mode filter does not exist."}

	// Ours, in the style of reference 6.2's "No Policies in Policy Store."
	errNoMMSAs = &store.Error{Code: 5070, Msg: "No Main Mode SAs in SPD."}
	errNoQMSAs = &store.Error{Code: 5071, Msg: "No Quick Mode SAs in SPD."}
)

// selectNamed returns the objects whose name is name (case-insensitive), or
// all of them for the keyword all.
func selectNamed[T any](inv *grammar.Invocation, objs []T, name func(*T) string) []T {
	if inv.Keyword == "all" {
		return objs
	}
	want := str(inv, "name")
	var sel []T
	for i := range objs {
		if strings.EqualFold(name(&objs[i]), want) {
			sel = append(sel, objs[i])
		}
	}
	return sel
}

func (s *Session) showMMPolicy(inv *grammar.Invocation) error {
	pols, err := s.cfg.Engine.MMPolicies()
	if err != nil {
		return err
	}
	pols = selectNamed(inv, pols, func(p *ipsec.MMPolicy) string { return p.Name })
	if len(pols) == 0 {
		return errMMPolicyNotFound
	}
	var buf bytes.Buffer
	if err := render.MMPolicies(&buf, pols); err != nil {
		return err
	}
	return s.write(&buf)
}

func (s *Session) showQMPolicy(inv *grammar.Invocation) error {
	pols, err := s.cfg.Engine.QMPolicies()
	if err != nil {
		return err
	}
	pols = selectNamed(inv, pols, func(p *ipsec.QMPolicy) string { return p.Name })
	if len(pols) == 0 {
		return errQMPolicyNotFound
	}
	var buf bytes.Buffer
	if err := render.QMPolicies(&buf, pols); err != nil {
		return err
	}
	return s.write(&buf)
}

// filterSelection returns the sections of show mmfilter / qmfilter to
// show (resolvedns changes nothing as addresses are never resolved back);
// the selector tags are applied by mmSelected and qmSelected.
func filterSelection(inv *grammar.Invocation) (render.FilterSections, error) {
	sec := render.FilterSections{Generic: true, Specific: true}
	if v, ok := inv.Get("type"); ok {
		sec = render.FilterSections{Generic: v.Int == grammar.FilterGeneric, Specific: v.Int == grammar.FilterSpecific}
	}
	return sec, nil
}

func (s *Session) showMMFilter(inv *grammar.Invocation) error {
	sec, err := filterSelection(inv)
	if err != nil {
		return err
	}
	gen, spec, err := s.cfg.Engine.MMFilters()
	if err != nil {
		return err
	}
	name := func(f *ipsec.MMFilter) string { return f.Name }
	gen, spec = selectNamed(inv, gen, name), selectNamed(inv, spec, name)
	keep := func(f *ipsec.MMFilter) bool { return mmSelected(inv, f) }
	gen, spec = selectFilters(gen, keep), selectFilters(spec, keep)
	if inv.Keyword != "all" && len(gen)+len(spec) == 0 {
		return errMMFilterNotFound
	}
	var buf bytes.Buffer
	if err := render.MMFilters(&buf, gen, spec, sec); err != nil {
		return err
	}
	return s.write(&buf)
}

func (s *Session) showQMFilter(inv *grammar.Invocation) error {
	sec, err := filterSelection(inv)
	if err != nil {
		return err
	}
	gen, spec, err := s.cfg.Engine.QMFilters()
	if err != nil {
		return err
	}
	name := func(f *ipsec.QMFilter) string { return f.Name }
	gen, spec = selectNamed(inv, gen, name), selectNamed(inv, spec, name)
	keep := func(f *ipsec.QMFilter) bool { return qmSelected(inv, f) }
	gen, spec = selectFilters(gen, keep), selectFilters(spec, keep)
	if inv.Keyword != "all" && len(gen)+len(spec) == 0 {
		return errQMFilterNotFound
	}
	var buf bytes.Buffer
	if err := render.QMFilters(&buf, gen, spec, sec); err != nil {
		return err
	}
	return s.write(&buf)
}

// saOptions reads format= of show mmsas|qmsas; the title's time is now.
func (s *Session) saOptions(inv *grammar.Invocation) render.SAOptions {
	o := render.SAOptions{At: s.cfg.Now(), TimeZone: s.cfg.TimeZone}
	if v, ok := inv.Get("format"); ok {
		switch v.Int {
		case grammar.FormatTable:
			o.Format = render.FormatTable
		case grammar.FormatJSON:
			o.Format = render.FormatJSON
		}
	}
	return o
}

// saAddrs returns the addresses srcaddr and dstaddr select SAs by: a
// literal address or a DNS name (resolved, as add rule does); the invalid
// Addr, selecting every SA, for any, me and the server types or no tag.
func (s *Session) saAddrs(inv *grammar.Invocation) (src, dst netip.Addr, err error) {
	get := func(tag string) (netip.Addr, error) {
		a, ok, err := s.addr(inv, tag)
		if err != nil || !ok || (a.Kind != ipsec.AddrIP && a.Kind != ipsec.AddrDNSName) {
			return netip.Addr{}, err
		}
		return a.IP.Unmap(), nil
	}
	if src, err = get("srcaddr"); err != nil {
		return
	}
	dst, err = get("dstaddr")
	return
}

// inPrefix reports whether want (invalid: anything) lies in p.
func inPrefix(want netip.Addr, p netip.Prefix) bool {
	return !want.IsValid() || p.IsValid() && p.Contains(want)
}

// showMMSAs: srcaddr selects this host's side (Source), dstaddr the
// peer's (render/sas.go).
func (s *Session) showMMSAs(inv *grammar.Invocation) error {
	sas, err := s.cfg.Engine.MMSAs()
	if err != nil {
		return err
	}
	src, dst, err := s.saAddrs(inv)
	if err != nil {
		return err
	}
	sas = selectFilters(sas, func(sa *ipsec.MMSA) bool {
		return inPrefix(src, netip.PrefixFrom(sa.Local.Addr(), 32)) && inPrefix(dst, netip.PrefixFrom(sa.Remote.Addr(), 32))
	})
	var buf bytes.Buffer
	if err := render.MMSAs(&buf, sas, s.saOptions(inv)); err != nil {
		if errors.Is(err, render.ErrNoSAs) {
			return errNoMMSAs
		}
		return err
	}
	return s.write(&buf)
}

// showQMSAs: the tags select blocks (one direction of an SA pair) by their
// selector.
func (s *Session) showQMSAs(inv *grammar.Invocation) error {
	sas, err := s.cfg.Engine.QMSAs()
	if err != nil {
		return err
	}
	src, dst, err := s.saAddrs(inv)
	if err != nil {
		return err
	}
	o := s.saOptions(inv)
	o.KeepQM = func(sel ipsec.Selector) bool {
		if v, ok := inv.Get("protocol"); ok && v.Proto != sel.Protocol {
			return false
		}
		return inPrefix(src, sel.Src) && inPrefix(dst, sel.Dst)
	}
	var buf bytes.Buffer
	if err := render.QMSAs(&buf, sas, o); err != nil {
		if errors.Is(err, render.ErrNoSAs) {
			return errNoQMSAs
		}
		return err
	}
	return s.write(&buf)
}
