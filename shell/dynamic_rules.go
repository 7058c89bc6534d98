package shell

import (
	"bytes"
	"errors"
	"net/netip"

	"github.com/gonetsh/gonetsh/grammar"
	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/shell/render"
)

// DynamicEngine is what the `ipsec dynamic add|set|delete` commands and
// `show rule` need of the engine beyond Engine (satisfied by
// *engine.Engine). An Engine that does not implement it answers those
// commands as not implemented. The dynamic objects live in the engine
// only; see engine/dynamic.go for the errors and choices. Rules returns
// the rules in the order they were added; their filters are those of the
// SPD whose RuleRef is the rule's Ref.
type DynamicEngine interface {
	AddMMPolicy(p ipsec.MMPolicy) error
	SetMMPolicy(name string, fn func(*ipsec.MMPolicy)) error
	DeleteMMPolicy(name string, all bool) error
	AddQMPolicy(p ipsec.QMPolicy) error
	SetQMPolicy(name string, fn func(*ipsec.QMPolicy)) error
	DeleteQMPolicy(name string, all bool) error
	AddRule(r ipsec.DynamicRule) error
	SetRule(k ipsec.RuleKey, fn func(*ipsec.DynamicRule)) error
	DeleteRule(k ipsec.RuleKey) error
	DeleteAll() error
	Rules() ([]ipsec.DynamicRule, error)
}

func init() {
	for id, h := range map[string]handler{
		"dynamic.add.mmpolicy":    (*Session).addDynMMPolicy,
		"dynamic.set.mmpolicy":    (*Session).setDynMMPolicy,
		"dynamic.delete.mmpolicy": (*Session).deleteDynMMPolicy,
		"dynamic.add.qmpolicy":    (*Session).addDynQMPolicy,
		"dynamic.set.qmpolicy":    (*Session).setDynQMPolicy,
		"dynamic.delete.qmpolicy": (*Session).deleteDynQMPolicy,
		"dynamic.add.rule":        (*Session).addDynRule,
		"dynamic.set.rule":        (*Session).setDynRule,
		"dynamic.delete.rule":     (*Session).deleteDynRule,
		"dynamic.delete.all":      (*Session).deleteDynAll,
		"dynamic.show.rule":       (*Session).showDynRule,
		"dynamic.show.all":        (*Session).showDynAll,
	} {
		dynamicHandlers[id] = h
	}
}

// dynEngine returns the engine's DynamicEngine side.
func (s *Session) dynEngine(inv *grammar.Invocation) (DynamicEngine, error) {
	d, ok := s.cfg.Engine.(DynamicEngine)
	if !ok {
		return nil, notImplemented(inv.Cmd.Path())
	}
	return d, nil
}

// applyMMPolicy sets the mmpolicy tags given on the line; mmlifetime is
// in minutes.
func applyMMPolicy(inv *grammar.Invocation, p *ipsec.MMPolicy) {
	if v, ok := inv.Get("qmpermm"); ok {
		p.QMPerMM = uint32(v.Int)
	}
	if v, ok := inv.Get("mmlifetime"); ok {
		p.Lifetime = uint32(v.Int) * 60
	}
	if v, ok := inv.Get("softsaexpirationtime"); ok {
		p.SoftSAExpiration = uint32(v.Int)
	}
	if v, ok := inv.Get("mmsecmethods"); ok {
		p.Offers = v.MM
	}
}

// addDynMMPolicy: defaults of reference 3.1 / 4.3: qmpermm 0, mmlifetime
// 480 minutes, the default IKE methods, no soft SA expiration (0).
func (s *Session) addDynMMPolicy(inv *grammar.Invocation) error {
	d, err := s.dynEngine(inv)
	if err != nil {
		return err
	}
	p := ipsec.MMPolicy{Name: str(inv, "name"), Offers: ipsec.DefaultMMOffers, Lifetime: 480 * 60}
	applyMMPolicy(inv, &p)
	return d.AddMMPolicy(p)
}

func (s *Session) setDynMMPolicy(inv *grammar.Invocation) error {
	d, err := s.dynEngine(inv)
	if err != nil {
		return err
	}
	return d.SetMMPolicy(str(inv, "name"), func(p *ipsec.MMPolicy) { applyMMPolicy(inv, p) })
}

func (s *Session) deleteDynMMPolicy(inv *grammar.Invocation) error {
	d, err := s.dynEngine(inv)
	if err != nil {
		return err
	}
	return d.DeleteMMPolicy(str(inv, "name"), inv.Keyword == "all")
}

// applyQMPolicy sets the qmpolicy tags given on the line.
func applyQMPolicy(inv *grammar.Invocation, p *ipsec.QMPolicy) {
	setBool(inv, "soft", &p.Soft)
	if v, ok := inv.Get("pfsgroup"); ok {
		switch g := v.Group; {
		case g.NoPFS:
			p.PFS, p.PFSGroup = false, ipsec.DHNone
		case g.UseMM:
			p.PFS, p.PFSGroup = true, ipsec.DHNone
		default:
			p.PFS, p.PFSGroup = true, g.Group
		}
	}
	if v, ok := inv.Get("qmsecmethods"); ok {
		p.Offers = v.QM
	}
}

// addDynQMPolicy: defaults of reference 3.2: soft no, nopfs, the default
// quick mode offers.
func (s *Session) addDynQMPolicy(inv *grammar.Invocation) error {
	d, err := s.dynEngine(inv)
	if err != nil {
		return err
	}
	p := ipsec.QMPolicy{Name: str(inv, "name"), Offers: ipsec.DefaultQMOffers}
	applyQMPolicy(inv, &p)
	return d.AddQMPolicy(p)
}

func (s *Session) setDynQMPolicy(inv *grammar.Invocation) error {
	d, err := s.dynEngine(inv)
	if err != nil {
		return err
	}
	return d.SetQMPolicy(str(inv, "name"), func(p *ipsec.QMPolicy) { applyQMPolicy(inv, p) })
}

func (s *Session) deleteDynQMPolicy(inv *grammar.Invocation) error {
	d, err := s.dynEngine(inv)
	if err != nil {
		return err
	}
	return d.DeleteQMPolicy(str(inv, "name"), inv.Keyword == "all")
}

// ruleKey reads the identifying tags of a dynamic rule with the defaults
// of `add rule` (reference 3.3): protocol ANY, ports 0, mirrored yes,
// conntype all, masks as static. DNS names are resolved when resolve is
// set (add rule); set and delete match them by name.
func (s *Session) ruleKey(inv *grammar.Invocation, resolve bool) (ipsec.RuleKey, error) {
	addr := func(tag string) (ipsec.Address, bool, error) {
		if resolve {
			return s.addr(inv, tag)
		}
		v, ok := inv.Get(tag)
		return v.Addr, ok, nil
	}
	var k ipsec.RuleKey
	var err error
	if k.Src, _, err = addr("srcaddr"); err != nil {
		return k, err
	}
	if k.Dst, _, err = addr("dstaddr"); err != nil {
		return k, err
	}
	k.SrcMask, k.DstMask = ipsec.DefaultMask(k.Src), ipsec.DefaultMask(k.Dst)
	if v, ok := inv.Get("srcmask"); ok {
		k.SrcMask = v.Mask
	}
	if v, ok := inv.Get("dstmask"); ok {
		k.DstMask = v.Mask
	}
	k.Protocol = ipsec.ProtoAny
	if v, ok := inv.Get("protocol"); ok {
		k.Protocol = v.Proto
	}
	if v, ok := inv.Get("srcport"); ok {
		k.SrcPort = uint16(v.Int)
	}
	if v, ok := inv.Get("dstport"); ok {
		k.DstPort = uint16(v.Int)
	}
	k.Mirrored = true
	setBool(inv, "mirrored", &k.Mirrored)
	k.ConnType = ipsec.ConnAll
	if v, ok := inv.Get("conntype"); ok {
		k.ConnType = ipsec.ConnType(v.Int)
	}
	t, ok, err := addr("tunneldstaddress")
	if err != nil {
		return k, err
	}
	// tunneldstaddress=0.0.0.0 means transport mode, as static's tunnel=.
	if ok && !(t.Kind == ipsec.AddrIP && t.IP == netip.IPv4Unspecified()) {
		k.Tunnel = t
	}
	return k, nil
}

// applyDynRule sets the changeable tags of a rule given on the line. With
// no authentication tag the dynamic default, Kerberos, applies (reference
// 3.5, from the Windows help: `set rule` without one resets the list).
func applyDynRule(inv *grammar.Invocation, r *ipsec.DynamicRule) {
	setStr(inv, "mmpolicy", &r.MMPolicy)
	setStr(inv, "qmpolicy", &r.QMPolicy)
	if v, ok := inv.Get("actioninbound"); ok {
		r.InboundAction = ipsec.Action(v.Int)
	}
	if v, ok := inv.Get("actionoutbound"); ok {
		r.OutboundAction = ipsec.Action(v.Int)
	}
	r.Auth = []ipsec.AuthMethod{{Kind: ipsec.AuthKerberos}}
	if auth, given := inv.Auth(); given {
		r.Auth = auth
	}
}

func (s *Session) addDynRule(inv *grammar.Invocation) error {
	d, err := s.dynEngine(inv)
	if err != nil {
		return err
	}
	k, err := s.ruleKey(inv, true)
	if err != nil {
		return err
	}
	r := ipsec.DynamicRule{
		Src: k.Src, Dst: k.Dst, SrcMask: k.SrcMask, DstMask: k.DstMask, Protocol: k.Protocol,
		SrcPort: k.SrcPort, DstPort: k.DstPort, Mirrored: k.Mirrored, ConnType: k.ConnType, Tunnel: k.Tunnel,
		InboundAction: ipsec.ActionNegotiate, OutboundAction: ipsec.ActionNegotiate,
	}
	applyDynRule(inv, &r)
	return d.AddRule(r)
}

func (s *Session) setDynRule(inv *grammar.Invocation) error {
	d, err := s.dynEngine(inv)
	if err != nil {
		return err
	}
	k, err := s.ruleKey(inv, false)
	if err != nil {
		return err
	}
	return d.SetRule(k, func(r *ipsec.DynamicRule) { applyDynRule(inv, r) })
}

func (s *Session) deleteDynRule(inv *grammar.Invocation) error {
	d, err := s.dynEngine(inv)
	if err != nil {
		return err
	}
	k, err := s.ruleKey(inv, false)
	if err != nil {
		return err
	}
	return d.DeleteRule(k)
}

func (s *Session) deleteDynAll(inv *grammar.Invocation) error {
	d, err := s.dynEngine(inv)
	if err != nil {
		return err
	}
	return d.DeleteAll()
}

// showDynRule lists the dynamic rules matching the given selectors (see
// selectorMatch; a rule matches when its configured filter does).
func (s *Session) showDynRule(inv *grammar.Invocation) error {
	d, err := s.dynEngine(inv)
	if err != nil {
		return err
	}
	rules, err := d.Rules()
	if err != nil {
		return err
	}
	qmg, _, err := s.cfg.Engine.QMFilters()
	if err != nil {
		return err
	}
	mmg, _, err := s.cfg.Engine.MMFilters()
	if err != nil {
		return err
	}
	var sel []render.RuleFilters
	for i := range rules {
		r := &rules[i]
		if v, ok := inv.Get("type"); ok && (v.Int == grammar.RuleTunnel) != r.IsTunnel() {
			continue
		}
		own := render.RuleFilters{Tunnel: r.IsTunnel(),
			QM: selectFilters(qmg, func(f *ipsec.QMFilter) bool { return f.Rule == r.Ref }),
			MM: selectFilters(mmg, func(f *ipsec.MMFilter) bool { return f.Rule == r.Ref }),
		}
		// The selectors apply to the rule's filter as configured: its
		// first generic quick mode filter.
		if len(own.QM) == 0 || !qmSelected(inv, &own.QM[0]) {
			continue
		}
		sel = append(sel, own)
	}
	var buf bytes.Buffer
	if err := render.DynamicRules(&buf, sel); err != nil {
		return err
	}
	return s.write(&buf)
}

// showDynAll writes show all: the configuration, then under headings
// (render.AllSection) the main mode and quick mode policies and filters
// (generic and specific), then the main mode and quick mode SAs as show
// mmsas|qmsas list them (the "no SAs" text without the error code when
// there is none) and the statistics. resolvedns changes
// nothing.
func (s *Session) showDynAll(*grammar.Invocation) error {
	eng := s.cfg.Engine
	c, err := eng.Config()
	if err != nil {
		return err
	}
	mmp, err := eng.MMPolicies()
	if err != nil {
		return err
	}
	qmp, err := eng.QMPolicies()
	if err != nil {
		return err
	}
	mmg, mms, err := eng.MMFilters()
	if err != nil {
		return err
	}
	qmg, qms, err := eng.QMFilters()
	if err != nil {
		return err
	}
	st, err := eng.Stats()
	if err != nil {
		return err
	}
	mmsas, err := eng.MMSAs()
	if err != nil {
		return err
	}
	qmsas, err := eng.QMSAs()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	saOpt := render.SAOptions{At: s.cfg.Now(), TimeZone: s.cfg.TimeZone}
	sas := func(mm bool) error {
		if err := render.SAHeading(&buf, mm); err != nil {
			return err
		}
		buf.WriteByte('\n')
		var err error
		if mm {
			err = render.MMSAs(&buf, mmsas, saOpt)
		} else {
			err = render.QMSAs(&buf, qmsas, saOpt)
		}
		switch {
		case errors.Is(err, render.ErrNoSAs) && mm:
			buf.WriteString(errNoMMSAs.Msg + "\n")
		case errors.Is(err, render.ErrNoSAs):
			buf.WriteString(errNoQMSAs.Msg + "\n")
		case err != nil:
			return err
		}
		return nil
	}
	all := render.FilterSections{Generic: true, Specific: true}
	head := func(title string) func() error { return func() error { return render.AllSection(&buf, title) } }
	for _, f := range []func() error{
		func() error { return render.Config(&buf, c, eng.IKELogPath()) },
		head("Main Mode Policies"),
		func() error { return render.MMPolicies(&buf, mmp) },
		head("Quick Mode Policies"),
		func() error { return render.QMPolicies(&buf, qmp) },
		head("Main Mode Filters"),
		func() error { return render.MMFilters(&buf, mmg, mms, all) },
		head("Quick Mode Filters"),
		func() error { return render.QMFilters(&buf, qmg, qms, all) },
		func() error { return sas(true) },
		func() error { return sas(false) },
		func() error { buf.WriteByte('\n'); return render.Stats(&buf, st, true, true) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	return s.write(&buf)
}

// addrSelected reports whether a filter side (configured address a,
// prefix p) matches the selector tag given on the line: the same
// configured address (me, any, a server type; DNS names by name), or, for
// a literal address, a prefix equal to it with the mask tag (default: the
// address's default mask, /32). So srcaddr=192.0.2.5 selects the specific
// filters of me on a host with that address, not the filters of any.
func addrSelected(inv *grammar.Invocation, tag, maskTag string, a ipsec.Address, p netip.Prefix) bool {
	v, ok := inv.Get(tag)
	if !ok {
		return true
	}
	want := v.Addr
	if want.Kind != ipsec.AddrIP {
		return ipsec.SameAddress(want, a)
	}
	if !p.IsValid() {
		return false
	}
	bits := ipsec.DefaultMask(want)
	if m, ok := inv.Get(maskTag); ok {
		bits = m.Mask
	}
	return p.Masked() == netip.PrefixFrom(want.IP.Unmap(), int(bits)).Masked()
}

func mmSelected(inv *grammar.Invocation, f *ipsec.MMFilter) bool {
	return addrSelected(inv, "srcaddr", "srcmask", f.SrcAddr, f.Selector.Src) &&
		addrSelected(inv, "dstaddr", "dstmask", f.DstAddr, f.Selector.Dst)
}

func qmSelected(inv *grammar.Invocation, f *ipsec.QMFilter) bool {
	if !addrSelected(inv, "srcaddr", "srcmask", f.SrcAddr, f.Selector.Src) ||
		!addrSelected(inv, "dstaddr", "dstmask", f.DstAddr, f.Selector.Dst) {
		return false
	}
	if v, ok := inv.Get("protocol"); ok && v.Proto != f.Selector.Protocol {
		return false
	}
	if v, ok := inv.Get("srcport"); ok && uint16(v.Int) != f.Selector.SrcPort {
		return false
	}
	if v, ok := inv.Get("dstport"); ok && uint16(v.Int) != f.Selector.DstPort {
		return false
	}
	if v, ok := inv.Get("actioninbound"); ok && ipsec.Action(v.Int) != f.InboundAction {
		return false
	}
	if v, ok := inv.Get("actionoutbound"); ok && ipsec.Action(v.Int) != f.OutboundAction {
		return false
	}
	return true
}

// selectFilters keeps the filters that match.
func selectFilters[T any](fs []T, keep func(*T) bool) []T {
	var out []T
	for i := range fs {
		if keep(&fs[i]) {
			out = append(out, fs[i])
		}
	}
	return out
}
