package grammar

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gonetsh/gonetsh/ipsec"
)

// The `netsh ipsec dynamic` context (reference section 3, Windows Server
// 2003 form). Dynamic commands talk to the running SPD: main mode and quick
// mode policies, rules (a main mode filter and a quick mode filter each), the
// security associations and statistics, and the machine-wide configuration
// of `set config`.

// Values of the enumerations of the dynamic context.
const (
	// show mmfilter / show qmfilter type=
	FilterGeneric = iota + 1
	FilterSpecific
)

// Values of show stats' type enumeration.
const (
	StatsIKE = iota + 1
	StatsIPsec
)

// Properties of `set config` (the Val of the property enumeration, and the
// property argument of ParseConfigValue), in usage order.
const (
	ConfigIPsecDiagnostics = iota + 1 // 0-7
	ConfigIKELogging                  // 0-1
	ConfigStrongCRLCheck              // 0-2
	ConfigIPsecLogInterval            // 60-86400 seconds
	ConfigIPsecExempt                 // 0-3 (NoDefaultExempt)
	ConfigBootMode                    // stateful | block | permit
	ConfigBootExemptions              // none | "Protocol:SrcPort:DstPort:Direction ..."
)

// BootMode is the bootmode property of `set config`: what the IPsec driver
// does with traffic from start-up until the persistent policy is applied.
type BootMode uint8

// Boot modes, in usage order.
const (
	BootStateful BootMode = iota + 1
	BootBlock
	BootPermit
)

// String returns the netsh word (lower case; show config prints it upper case).
func (m BootMode) String() string {
	switch m {
	case BootStateful:
		return "stateful"
	case BootBlock:
		return "block"
	case BootPermit:
		return "permit"
	}
	return fmt.Sprintf("BootMode(%d)", uint8(m))
}

// BootDirection is the direction of a boot exemption.
type BootDirection uint8

// Directions of a boot exemption.
const (
	BootInbound BootDirection = iota + 1
	BootOutbound
)

// String returns the netsh word.
func (d BootDirection) String() string {
	switch d {
	case BootInbound:
		return "inbound"
	case BootOutbound:
		return "outbound"
	}
	return fmt.Sprintf("BootDirection(%d)", uint8(d))
}

// BootExemption is one entry of the bootexemptions property: traffic the
// driver lets through in block and stateful boot mode.
type BootExemption struct {
	Protocol  ipsec.Protocol
	SrcPort   uint16 // 0 = any
	DstPort   uint16 // 0 = any
	Direction BootDirection
}

// String returns the entry as netsh writes it, Protocol:SrcPort:DstPort:Direction,
// e.g. TCP:0:80:inbound.
func (e BootExemption) String() string {
	return fmt.Sprintf("%s:%d:%d:%s", e.Protocol, e.SrcPort, e.DstPort, e.Direction)
}

// ConfigValue is a validated `set config` value.
type ConfigValue struct {
	Property   int             // one of the Config* constants
	Int        int64           // the integer properties (all but bootmode and bootexemptions)
	BootMode   BootMode        // ConfigBootMode
	Exemptions []BootExemption // ConfigBootExemptions; empty for none
}

// String returns the value as `set config` takes it: the number, the boot
// mode word, `none` or the space separated exemptions (to be quoted when
// there are several).
func (v ConfigValue) String() string {
	switch v.Property {
	case ConfigBootMode:
		return v.BootMode.String()
	case ConfigBootExemptions:
		if len(v.Exemptions) == 0 {
			return "none"
		}
		parts := make([]string, len(v.Exemptions))
		for i, e := range v.Exemptions {
			parts[i] = e.String()
		}
		return strings.Join(parts, " ")
	}
	return strconv.FormatInt(v.Int, 10)
}

var (
	enumConfigProp = []EnumValue{
		{"ipsecdiagnostics", ConfigIPsecDiagnostics},
		{"ikelogging", ConfigIKELogging},
		{"strongcrlcheck", ConfigStrongCRLCheck},
		{"ipsecloginterval", ConfigIPsecLogInterval},
		{"ipsecexempt", ConfigIPsecExempt},
		{"bootmode", ConfigBootMode},
		{"bootexemptions", ConfigBootExemptions},
	}
	enumBootMode = []EnumValue{
		{"stateful", int(BootStateful)}, {"block", int(BootBlock)}, {"permit", int(BootPermit)},
	}
	enumBootDir    = []EnumValue{{"inbound", int(BootInbound)}, {"outbound", int(BootOutbound)}}
	enumFilterType = []EnumValue{{"generic", FilterGeneric}, {"specific", FilterSpecific}}
	enumStatsType  = []EnumValue{{"ike", StatsIKE}, {"ipsec", StatsIPsec}}
	enumDynRuleTyp = []EnumValue{{"transport", RuleTransport}, {"tunnel", RuleTunnel}}
)

// ConfigPropertyName returns the netsh name of a Config* property, or "".
func ConfigPropertyName(property int) string {
	for _, e := range enumConfigProp {
		if e.Val == property {
			return e.Word
		}
	}
	return ""
}

// configInts are the bounds of the integer properties (reference 3.7, 4.4)
// and the error code and text of a value out of them.
var configInts = map[int]struct {
	min, max int64
	code     ErrCode
	msg      string
}{
	ConfigIPsecDiagnostics: {0, 7, ErrConfigDiagnostics, "ipsecdiagnostics must be an integer from 0 to 7."},
	ConfigIKELogging:       {0, 1, ErrConfigIKELogging, "ikelogging must be 0 or 1."},
	ConfigStrongCRLCheck:   {0, 2, ErrConfigCRLCheck, "strongcrlcheck must be an integer from 0 to 2."},
	ConfigIPsecLogInterval: {60, 86400, ErrConfigLogInterval, "ipsecloginterval must be an integer from 60 to 86400 (seconds)."},
	ConfigIPsecExempt:      {0, 3, ErrConfigExempt, "ipsecexempt must be an integer from 0 to 3."},
}

// Texts of the bootmode and bootexemptions value errors.
const (
	msgBootMode       = "bootmode must be stateful, block or permit."
	msgBootExemptions = "bootexemptions must be none or a space separated list of Protocol:SrcPort:DstPort:Direction entries"
	msgConfigProperty = "Unknown configuration property: use ipsecdiagnostics, ikelogging, strongcrlcheck, ipsecloginterval, ipsecexempt, bootmode or bootexemptions."
)

// ParseConfigValue validates the value of `set config` for property (one
// of the Config* constants, as the property tag's Value.Int carries it):
//
//	ipsecdiagnostics  0-7
//	ikelogging        0-1
//	strongcrlcheck    0-2
//	ipsecloginterval  60-86400 (seconds)
//	ipsecexempt       0-3
//	bootmode          stateful | block | permit (case-insensitive, unique prefixes)
//	bootexemptions    none, or Protocol:SrcPort:DstPort:Direction entries
//	                  separated by spaces; Protocol is TCP, UDP, ICMP, RAW,
//	                  ANY or 0-255, ports 0-65535 (0 = any; other ports only
//	                  with TCP or UDP), Direction inbound | outbound
//
// Integers are plain decimal digits. A bad value returns a *Error whose
// Error() is `ERR IPsec[0506x] : <property> must be ... .`; the error has no
// position (Invocation.Config adds it).
func ParseConfigValue(property int, raw string) (ConfigValue, error) {
	v := ConfigValue{Property: property}
	fail := func(code ErrCode, msg string) (ConfigValue, error) {
		return ConfigValue{}, &Error{Code: code, Token: raw, Msg: msg}
	}
	if r, ok := configInts[property]; ok {
		n, err := strconv.ParseUint(raw, 10, 32)
		if err != nil || int64(n) < r.min || int64(n) > r.max {
			return fail(r.code, r.msg)
		}
		v.Int = int64(n)
		return v, nil
	}
	switch property {
	case ConfigBootMode:
		e, err := matchEnum(enumBootMode, raw)
		if err != nil {
			return fail(ErrConfigBootMode, msgBootMode)
		}
		v.BootMode = BootMode(e.Val)
		return v, nil
	case ConfigBootExemptions:
		fields := strings.Fields(raw)
		if len(fields) == 0 {
			return fail(ErrConfigBootExempt, msgBootExemptions+".")
		}
		if len(fields) == 1 && strings.EqualFold(fields[0], "none") {
			return v, nil
		}
		for _, f := range fields {
			e, why := parseBootExemption(f)
			if why != "" {
				return fail(ErrConfigBootExempt, fmt.Sprintf("%s; %q is not valid: %s.", msgBootExemptions, f, why))
			}
			v.Exemptions = append(v.Exemptions, e)
		}
		return v, nil
	}
	return fail(ErrConfigProperty, msgConfigProperty)
}

// parseBootExemption parses one Protocol:SrcPort:DstPort:Direction entry; a
// non-empty string says why it is not valid.
func parseBootExemption(f string) (BootExemption, string) {
	var e BootExemption
	if strings.EqualFold(f, "none") {
		return e, "none cannot be combined with other entries"
	}
	parts := strings.Split(f, ":")
	if len(parts) != 4 {
		return e, "it does not have four fields separated by colons"
	}
	p, err := ParseProtocol(parts[0])
	if err != nil || parts[0] == "" {
		return e, "the protocol must be TCP, UDP, ICMP, RAW, ANY or a number from 0 to 255"
	}
	e.Protocol = p
	for i, dst := range []*uint16{&e.SrcPort, &e.DstPort} {
		n, err := strconv.ParseUint(parts[1+i], 10, 16)
		if err != nil {
			return e, "a port must be a number from 0 to 65535, 0 meaning any"
		}
		*dst = uint16(n)
	}
	if (e.SrcPort != 0 || e.DstPort != 0) && !p.HasPorts() {
		return e, "ports other than 0 can be given only with TCP or UDP"
	}
	d, err := matchEnum(enumBootDir, parts[3])
	if err != nil {
		return e, "the direction must be inbound or outbound"
	}
	e.Direction = BootDirection(d.Val)
	return e, ""
}

// Config validates the value of a parsed `set config` line (see
// ParseConfigValue). A value error carries the position of the value and
// the line, as Parse's errors do.
func (inv *Invocation) Config() (ConfigValue, error) {
	prop, okP := inv.Get("property")
	val, okV := inv.Get("value")
	if inv.Cmd == nil || inv.Cmd.ID != "dynamic.set.config" || !okP || !okV {
		return ConfigValue{}, &Error{Code: ErrMissing, Cmd: inv.Cmd, Line: inv.Line, Token: "value"}
	}
	cv, err := ParseConfigValue(int(prop.Int), val.Str)
	if e, ok := err.(*Error); ok {
		e.Line, e.Pos = inv.Line, valuePos(inv.Line, val.Pos)
	}
	return cv, err
}

// valuePos returns where the value of the argument starting at pos begins
// in line (after `tag=` when the argument is tagged).
func valuePos(line string, pos Position) Position {
	raw, err := lexArgs(line)
	if err != nil {
		return pos
	}
	for _, a := range joinEquals(raw) {
		if a.Pos.Offset == pos.Offset {
			return a.ValPos
		}
	}
	return pos
}

// Help texts of the dynamic context.
const (
	hMMPolicy   = "Name of the main mode policy."
	hQMPolicy   = "Name of the quick mode policy."
	hQMPerMM    = "Number of quick mode sessions per main mode session of IKE (0 = unlimited, the default)."
	hMMLifetime = "Main mode lifetime in minutes, from 1 to 71582788. Default is 480."
	hSoftSA     = "Soft SA expiration time in seconds, from 1 to 2147483647."
	hSoftQM     = "Yes allows unsecured communication with computers that do not respond to IKE. Default is no."
	hPFSGroup   = "Quick mode perfect forward secrecy: GRP1 (Low), GRP2 (Medium), GRP3 (DH2048), GRPMM (the main mode group) or NOPFS (none, the default)."
	hActionIn   = "Action for inbound packets: permit, block or negotiate. Default is negotiate."
	hActionOut  = "Action for outbound packets: permit, block or negotiate. Default is negotiate."
	hTunnelDst  = "Tunnel destination: the IP address or DNS name of the tunnel end point."
	hDynName    = "Name of the filter."
	hFilterType = "Generic filters (as configured) or specific filters (expanded per address, with weights)."
	hAuthOrder  = "The order in which kerberos, psk and rootca appear is the order of preference of the authentication methods; if none is given, Kerberos is used."
	hServerType = "Server type can be WINS, DNS, DHCP or GATEWAY; the other address must then be me."
)

func mmsecTag() Tag {
	t := kind("mmsecmethods", KMMOffers, hMMSec)
	t.Syntax = `"ConfAlg-HashAlg-GroupNum ..."`
	return t
}

func qmsecTag() Tag {
	t := kind("qmsecmethods", KQMOffers, hQMSec)
	t.Syntax = `"neg1 neg2 ... negn"`
	return t
}

// mmPolicyTags are the changeable tags of add/set mmpolicy. Windows' bounds
// are unknown (reference 8, item 7): qmpermm and mmlifetime take static's
// (0-2147483647 sessions, 1-71582788 minutes); softsaexpirationtime is in
// seconds and takes any positive signed 32-bit value, 1-2147483647, so that
// no script value Windows might accept is refused here.
func mmPolicyTags() []Tag {
	return []Tag{
		integer("qmpermm", 0, 2147483647, hQMPerMM),
		integer("mmlifetime", 1, 71582788, hMMLifetime),
		integer("softsaexpirationtime", 1, 2147483647, hSoftSA),
		mmsecTag(),
	}
}

// qmPolicyTags are the changeable tags of add/set qmpolicy.
func qmPolicyTags() []Tag {
	return []Tag{
		boolean("soft", hSoftQM),
		kind("pfsgroup", KPFSGroup, hPFSGroup),
		qmsecTag(),
	}
}

// ruleKeyTags are the tags that identify a dynamic rule (set rule, delete
// rule): addresses, protocol, ports, mirrored, conntype (all required), then
// masks and tunnel end point.
func ruleKeyTags() []Tag {
	return []Tag{
		req(kind("srcaddr", KAddr, hAddr)),
		req(kind("dstaddr", KAddr, hAddr)),
		req(kind("protocol", KProto, hProto)),
		req(kind("srcport", KPort, hPort)),
		req(kind("dstport", KPort, hPort)),
		req(boolean("mirrored", hMirrored)),
		req(enum("conntype", enumConnType, hConnType)),
		kind("srcmask", KMask, hMask),
		kind("dstmask", KMask, hMask),
		tunnelDstTag(),
	}
}

func tunnelDstTag() Tag {
	t := kind("tunneldstaddress", KAddr, hTunnelDst)
	t.Syntax = "<ip | dns>"
	return t
}

func actionTags() []Tag {
	return []Tag{
		enum("actioninbound", enumAction, hActionIn),
		enum("actionoutbound", enumAction, hActionOut),
	}
}

func dynamicContext() *Context {
	policyIdent := &Ident{Tags: []string{"name"}, Keywords: []string{"all"}, Required: true}
	// show mmsas/qmsas take a bare `all` before the address filters; it is
	// modelled as the keyword of an optional group with srcaddr, so `all`
	// and srcaddr exclude each other.
	saIdent := &Ident{Tags: []string{"srcaddr"}, Keywords: []string{"all"}}
	return &Context{
		Name:    "dynamic",
		Summary: "Changes to the `netsh ipsec dynamic' context.",
		Groups: []Group{
			{"add", "Adds policy, filter, and actions to SPD."},
			{"delete", "Deletes policy, filter, and actions from SPD."},
			{"set", "Modifies policy, filter, and actions in SPD."},
			{"show", "Displays policy, filter, and actions from SPD."},
		},
		Commands: []*Command{
			{ID: "dynamic.add.mmpolicy", Words: []string{"add", "mmpolicy"}, Summary: "Adds a main mode policy to SPD.",
				Purpose: "Adds a main mode (IKE) policy to the SPD.",
				Tags:    cat([]Tag{req(str("name", hMMPolicy))}, mmPolicyTags()),
				Remarks: []string{
					"Without mmsecmethods the default methods are used: 3DES-SHA1-2 3DES-MD5-2 DES-SHA1-1 DES-MD5-1.",
				},
				Examples: []string{
					`add mmpolicy name=mmp qmpermm=10 mmlifetime=300 softsa=20 mmsec="3DES-SHA1-3 DES-SHA1-2 3DES-MD5-3"`,
					"add mmpolicy name=TempMMpolicy",
				}},
			{ID: "dynamic.add.qmpolicy", Words: []string{"add", "qmpolicy"}, Summary: "Adds a quick mode policy to SPD.",
				Purpose: "Adds a quick mode policy to the SPD.",
				Tags:    cat([]Tag{req(str("name", hQMPolicy))}, qmPolicyTags())},
			{ID: "dynamic.add.rule", Words: []string{"add", "rule"}, Summary: "Adds a rule and associated filters to SPD.",
				Purpose: "Adds a rule to the SPD: a main mode filter and a quick mode filter between the given addresses, bound to the given policies.",
				Tags: cat([]Tag{
					req(kind("srcaddr", KAddr, hAddr)),
					req(kind("dstaddr", KAddr, hAddr)),
					req(str("mmpolicy", hMMPolicy)),
					str("qmpolicy", hQMPolicy),
					kind("protocol", KProto, hProto),
					kind("srcport", KPort, hPort),
					kind("dstport", KPort, hPort),
					boolean("mirrored", hMirrored),
					enum("conntype", enumConnType, hConnType),
				}, actionTags(), []Tag{
					kind("srcmask", KMask, hMask),
					kind("dstmask", KMask, hMask),
					tunnelDstTag(),
				}, authTags()),
				Remarks: []string{
					"A quick mode policy is needed when an action is negotiate.",
					"Ports can be given only when the protocol is TCP or UDP.",
					hServerType,
					hAuthOrder,
				},
				Examples: []string{
					"add rule srcaddr=any dstaddr=any mmpolicy=TempMMpolicy actioninbound=block actionoutbound=block",
					"add rule srcaddr=any dstaddr=any mmpolicy=TempMMpolicy protocol=ICMP actioninbound=permit actionoutbound=permit",
					"add rule srcaddr=any dstaddr=any mmpolicy=TempMMpolicy protocol=TCP srcport=0 dstport=80 mirrored=yes actioninbound=permit actionoutbound=permit",
				}},

			{ID: "dynamic.delete.all", Words: []string{"delete", "all"},
				Summary: "Deletes all policies, filters, and actions from SPD.",
				Purpose: "Deletes all main mode and quick mode policies, rules and filters from the SPD."},
			{ID: "dynamic.delete.mmpolicy", Words: []string{"delete", "mmpolicy"}, Summary: "Deletes a main mode policy from SPD.",
				Purpose: "Deletes a main mode policy, or all of them, from the SPD.",
				Tags:    []Tag{str("name", hMMPolicy)},
				Ident:   policyIdent,
				Remarks: []string{"A policy that a rule uses cannot be deleted."}},
			{ID: "dynamic.delete.qmpolicy", Words: []string{"delete", "qmpolicy"}, Summary: "Deletes a quick mode policy from SPD.",
				Purpose: "Deletes a quick mode policy, or all of them, from the SPD.",
				Tags:    []Tag{str("name", hQMPolicy)},
				Ident:   policyIdent,
				Remarks: []string{"A policy that a rule uses cannot be deleted."}},
			{ID: "dynamic.delete.rule", Words: []string{"delete", "rule"}, Summary: "Deletes a rule and associated filters from SPD.",
				Purpose: "Deletes the rule with the given addresses, protocol, ports, mirroring, connection type, masks and tunnel end point, and its filters, from the SPD.",
				Tags:    ruleKeyTags()},

			{ID: "dynamic.set.config", Words: []string{"set", "config"}, Summary: "Sets the IPsec configuration and boot time behavior.",
				Purpose: "Sets an IPsec configuration property, or the boot time behavior of the IPsec driver.",
				Tags: []Tag{
					req(enum("property", enumConfigProp, "The configuration property to set.")),
					req(Tag{Name: "value", Kind: KString, Syntax: `<integer> | stateful | block | permit | none | "<exemption> ..."`,
						Help: "The value of the property; see the remarks."}),
				},
				Remarks: []string{
					"ipsecdiagnostics: 0 to 7; 0 turns driver diagnostic logging off, 7 logs every category. Default is 0.",
					"ikelogging: 0 or 1; turns IKE logging off or on. Default is 0.",
					"strongcrlcheck: 0 (no CRL checking), 1 (fail if the certificate is revoked) or 2 (fail on any CRL check error). Default is 1.",
					"ipsecloginterval: 60 to 86400 seconds between the driver's summary events. Default is 3600.",
					"ipsecexempt: 0 to 3; the default exemptions from IPsec filtering (0: multicast, broadcast, RSVP, Kerberos and IKE; 1: multicast, broadcast and IKE; 2: RSVP, Kerberos and IKE; 3: IKE only). Default is 3.",
					"bootmode: stateful, block or permit; the behavior of the IPsec driver at start-up until the persistent policy is applied. Default is stateful.",
					`bootexemptions: none, or a quoted space separated list of Protocol:SrcPort:DstPort:Direction entries allowed in block and stateful boot mode, where Protocol is TCP, UDP, ICMP, RAW or a number, a port of 0 means any and Direction is inbound or outbound; e.g. "TCP:0:80:inbound UDP:0:53:outbound". DHCP is always allowed.`,
				},
				Examples: []string{
					"set config ipsecexempt value=0",
					"set config property=ipsecdiagnostics value=7",
					"set config bootmode value=stateful",
				}},
			{ID: "dynamic.set.mmpolicy", Words: []string{"set", "mmpolicy"}, Summary: "Modifies a main mode policy in SPD.",
				Purpose: "Modifies a main mode policy in the SPD; name identifies the policy.",
				Tags:    cat([]Tag{req(str("name", hMMPolicy))}, mmPolicyTags())},
			{ID: "dynamic.set.qmpolicy", Words: []string{"set", "qmpolicy"}, Summary: "Modifies a quick mode policy in SPD.",
				Purpose: "Modifies a quick mode policy in the SPD; name identifies the policy.",
				Tags:    cat([]Tag{req(str("name", hQMPolicy))}, qmPolicyTags())},
			{ID: "dynamic.set.rule", Words: []string{"set", "rule"}, Summary: "Modifies a rule and associated filters in SPD.",
				Purpose: "Modifies a rule in the SPD. The addresses, protocol, ports, mirroring, connection type, masks and tunnel end point identify the rule; only the policies, the actions and the authentication methods can be changed.",
				Tags: cat(ruleKeyTags(), []Tag{
					str("mmpolicy", hMMPolicy),
					str("qmpolicy", hQMPolicy),
				}, actionTags(), authTags()),
				Remarks: []string{
					"If any authentication method is given, it replaces the whole list of the rule; with none, the dynamic defaults apply.",
					hServerType,
				},
				Examples: []string{
					"set rule srca=WINS dsta=0.0.0.0 srcmask=32 dstmask=32 tunneldst=192.168.145.1 proto=tcp srcport=80 dstport=80 mir=no con=lan qmp=QMPolicy1",
				}},

			{ID: "dynamic.show.all", Words: []string{"show", "all"},
				Summary: "Displays policies, filters, SAs, and statistics from SPD.",
				Purpose: "Displays the configuration, policies, filters, security associations and statistics of the SPD.",
				Tags:    []Tag{boolean("resolvedns", hResolve)}},
			{ID: "dynamic.show.config", Words: []string{"show", "config"}, Summary: "Displays IPsec configuration.",
				Purpose: "Displays the IPsec configuration properties and boot time behavior."},
			{ID: "dynamic.show.mmfilter", Words: []string{"show", "mmfilter"}, Summary: "Displays main mode filter details from SPD.",
				Purpose: "Displays the details of a main mode filter, or of all, optionally only generic or specific filters and only those of the given addresses.",
				Tags: []Tag{
					str("name", hDynName),
					enum("type", enumFilterType, hFilterType),
					kind("srcaddr", KAddr, hAddr),
					kind("dstaddr", KAddr, hAddr),
					kind("srcmask", KMask, hMask),
					kind("dstmask", KMask, hMask),
					boolean("resolvedns", hResolve),
				},
				Ident: policyIdent},
			{ID: "dynamic.show.mmpolicy", Words: []string{"show", "mmpolicy"}, Summary: "Displays main mode policy details from SPD.",
				Purpose: "Displays the details of a main mode policy, or of all.",
				Tags:    []Tag{str("name", hMMPolicy)},
				Ident:   policyIdent},
			{ID: "dynamic.show.mmsas", Words: []string{"show", "mmsas"}, Summary: "Displays main mode security associations from SPD.",
				Purpose: "Displays the main mode security associations, all of them or those of the given addresses.",
				Tags: []Tag{
					kind("srcaddr", KAddr, hAddr),
					kind("dstaddr", KAddr, hAddr),
					enum("format", enumFormat, hFormat),
					boolean("resolvedns", hResolve),
				},
				Ident: saIdent},
			{ID: "dynamic.show.qmfilter", Words: []string{"show", "qmfilter"}, Summary: "Displays quick mode filter details from SPD.",
				Purpose: "Displays the details of a quick mode filter, or of all, optionally only generic or specific filters and only those matching the given selectors and actions.",
				Tags: cat([]Tag{
					str("name", hDynName),
					enum("type", enumFilterType, hFilterType),
					kind("srcaddr", KAddr, hAddr),
					kind("dstaddr", KAddr, hAddr),
					kind("srcmask", KMask, hMask),
					kind("dstmask", KMask, hMask),
					kind("protocol", KProto, hProto),
					kind("srcport", KPort, hPort),
					kind("dstport", KPort, hPort),
				}, actionTags(), []Tag{boolean("resolvedns", hResolve)}),
				Ident: policyIdent},
			{ID: "dynamic.show.qmpolicy", Words: []string{"show", "qmpolicy"}, Summary: "Displays quick mode policy details from SPD.",
				Purpose: "Displays the details of a quick mode policy, or of all.",
				Tags:    []Tag{str("name", hQMPolicy)},
				Ident:   policyIdent},
			{ID: "dynamic.show.qmsas", Words: []string{"show", "qmsas"}, Summary: "Displays quick mode security associations from SPD.",
				Purpose: "Displays the quick mode security associations, all of them or those of the given addresses and protocol.",
				Tags: []Tag{
					kind("srcaddr", KAddr, hAddr),
					kind("dstaddr", KAddr, hAddr),
					kind("protocol", KProto, hProto),
					enum("format", enumFormat, hFormat),
					boolean("resolvedns", hResolve),
				},
				Ident: saIdent},
			{ID: "dynamic.show.rule", Words: []string{"show", "rule"}, Summary: "Displays rule details from SPD.",
				Purpose: "Displays the rules of the SPD, optionally only those of the given type, addresses, protocol and ports.",
				Tags: []Tag{
					enum("type", enumDynRuleTyp, "Type of rules to show: transport or tunnel."),
					kind("srcaddr", KAddr, hAddr),
					kind("dstaddr", KAddr, hAddr),
					kind("srcmask", KMask, hMask),
					kind("dstmask", KMask, hMask),
					kind("protocol", KProto, hProto),
					kind("srcport", KPort, hPort),
					kind("dstport", KPort, hPort),
					boolean("resolvedns", hResolve),
				}},
			{ID: "dynamic.show.stats", Words: []string{"show", "stats"}, Summary: "Displays IPsec and IKE statistics from the SPD.",
				Purpose: "Displays IKE (main mode) and IPsec (quick mode) statistics; both unless type is given.",
				Tags:    []Tag{enum("type", enumStatsType, "Statistics to show: ike or ipsec.")}},
		},
	}
}
