package grammar

import "github.com/gonetsh/gonetsh/ipsec"

// Tag constructors keep each table row to one line.
func str(name, help string) Tag { return Tag{Name: name, Kind: KString, Help: help} }
func req(t Tag) Tag             { t.Required = true; return t }
func ref(t Tag, r Ref) Tag      { t.Ref = r; return t }
func boolean(name, help string) Tag {
	return Tag{Name: name, Kind: KBool, Help: help}
}
func integer(name string, min, max int64, help string) Tag {
	return Tag{Name: name, Kind: KInt, Min: min, Max: max, Help: help}
}
func enum(name string, vals []EnumValue, help string) Tag {
	return Tag{Name: name, Kind: KEnum, Enum: vals, Help: help}
}
func kind(name string, k Kind, help string) Tag { return Tag{Name: name, Kind: k, Help: help} }

// Enumerations shared by several commands. Val holds the typed constant the
// shell converts to.
var (
	enumAction = []EnumValue{
		{"permit", int(ipsec.ActionPermit)}, {"block", int(ipsec.ActionBlock)}, {"negotiate", int(ipsec.ActionNegotiate)},
	}
	enumConnType = []EnumValue{
		{"lan", int(ipsec.ConnLAN)}, {"dialup", int(ipsec.ConnDialup)}, {"all", int(ipsec.ConnAll)},
	}
	enumFormat  = []EnumValue{{"list", FormatList}, {"table", FormatTable}, {"json", FormatJSON}}
	enumLevel   = []EnumValue{{"verbose", LevelVerbose}, {"normal", LevelNormal}}
	enumRuleTyp = []EnumValue{{"tunnel", RuleTunnel}, {"transport", RuleTransport}}
	enumStore   = []EnumValue{{"local", StoreLocal}, {"persistent", StorePersistent}, {"domain", StoreDomain}}
	enumBatch   = []EnumValue{{"enable", 1}, {"disable", 0}}
)

// Values of the format, level, type and location enumerations.
const (
	FormatList = iota + 1
	FormatTable
	FormatJSON
)

// Values of the level enumeration.
const (
	LevelNormal = iota + 1
	LevelVerbose
)

// Values of show rule's type enumeration.
const (
	RuleTunnel = iota + 1
	RuleTransport
)

// Values of set store's location enumeration.
const (
	StoreLocal = iota + 1
	StorePersistent
	StoreDomain
)

// Help texts reused by several tags.
const (
	hName      = "Name of the policy."
	hDesc      = "Brief information about the object."
	hFormat    = "Output is displayed in screen format (list, default), table format, or as JSON (json, a gonetsh extension)."
	hLevel     = "Verbose or normal level of detail."
	hWide      = "If set to 'no', the output is truncated to fit the screen width of 80 characters."
	hResolve   = "If set to 'yes', the DNS names of the addresses are displayed. Default is 'no'."
	hKerberos  = "Specifies whether Kerberos (yes) is used as an authentication method."
	hPSK       = "Pre-shared key used for authentication."
	hRootCA    = "Root certificate authority used for certificate authentication; can be repeated. Embedded quotes are written \\'."
	hMMSec     = "One or more space separated security methods of the form ConfAlg-HashAlg-GroupNum, where ConfAlg is DES or 3DES (AES128, AES192, AES256 as extensions), HashAlg is MD5 or SHA1 (SHA256 as an extension) and GroupNum is 1 (Low), 2 (Medium) or 3 (DH2048)."
	hQMSec     = "One or more space separated offers of the form ESP[ConfAlg,AuthAlg]:k/s, AH[HashAlg]:k/s or AH[HashAlg]+ESP[ConfAlg,AuthAlg]:k/s, where ConfAlg is DES, 3DES or None, AuthAlg is MD5, SHA1 or None and HashAlg is MD5 or SHA1; k is a lifetime in kilobytes and s in seconds."
	hAddr      = "Source or destination address: me, any, an IP address, a DNS name, or a server type (dns, wins, dhcp, gateway)."
	hMask      = "Address mask or a prefix value in the range 1 to 32."
	hProto     = "Can be ANY, ICMP, TCP, UDP, RAW, or an integer."
	hPort      = "Port in the range 0 to 65535; 0 means any port. Only with TCP or UDP."
	hMirrored  = "Yes creates the mirrored filter as well. Default is yes."
	hConnType  = "Connection type: lan, dialup or all. Default is all."
	hActivate  = "Activates the rule in the policy if set to 'yes'."
	hTunnel    = "Tunnel end point IP address or DNS name."
	hFilterLst = "Name of the filter list."
	hFilterAct = "Name of the filter action."
	hGUID      = "GUID of the object."
)

func formatTags() []Tag {
	return []Tag{
		enum("level", enumLevel, hLevel),
		enum("format", enumFormat, hFormat),
		boolean("wide", hWide),
	}
}

func authTags() []Tag {
	return []Tag{
		kind("kerberos", KKerberos, hKerberos),
		kind("psk", KPSK, hPSK),
		{Name: "rootca", Kind: KRootCA, Multi: true, Help: hRootCA,
			Syntax: `"<certificate> certmap:yes|no excludecaname:yes|no"`},
	}
}

func cat(parts ...[]Tag) []Tag {
	var out []Tag
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func policyTags() []Tag {
	return []Tag{
		boolean("mmpfs", "Sets master perfect forward secrecy."),
		integer("qmpermm", 0, 2147483647, "Number of quick mode sessions per main mode session of IKE (0 = unlimited)."),
		integer("mmlifetime", 1, 71582788, "Main mode lifetime in minutes for IKE."),
		boolean("activatedefaultrule", "Activates or deactivates the default response rule."),
		integer("pollinginterval", 1, 43200, "Polling interval: the time in minutes for the policy agent to check for changes in the policy store."),
		boolean("assign", "Assigns the policy as active or inactive."),
	}
}

func filterTags() []Tag {
	return []Tag{
		kind("protocol", KProto, hProto),
		boolean("mirrored", hMirrored),
		kind("srcmask", KMask, hMask),
		kind("dstmask", KMask, hMask),
		kind("srcport", KPort, hPort),
		kind("dstport", KPort, hPort),
	}
}

func staticContext() *Context {
	mmsec := kind("mmsecmethods", KMMOffers, hMMSec)
	mmsec.Syntax = `"ConfAlg-HashAlg-GroupNum ..."`
	qmsec := kind("qmsecmethods", KQMOffers, hQMSec)
	qmsec.Syntax = `"neg1 neg2 ... negn"`
	filterAction := []Tag{
		boolean("qmpfs", "Sets quick mode perfect forward secrecy."),
		boolean("inpass", "Accepts unsecured communication, but always responds using IPsec."),
		boolean("soft", "Allows unsecured communication with non-IPsec-aware computers."),
		enum("action", enumAction, "Action of the filter action. Default is negotiate."),
		qmsec,
	}
	ruleTags := []Tag{
		ref(str("filterlist", hFilterLst), RefFilterList),
		ref(str("filteraction", hFilterAct), RefFilterAction),
		{Name: "tunnel", Kind: KAddr, Syntax: "<ip | dns>", Help: hTunnel},
		enum("conntype", enumConnType, hConnType),
		boolean("activate", hActivate),
	}
	return &Context{
		Name:    "static",
		Summary: "Changes to the `netsh ipsec static' context.",
		Groups: []Group{
			{"add", "Creates new policies and related information."},
			{"delete", "Deletes policies and related information."},
			{"set", "Modifies existing policies and related information."},
			{"show", "Displays details of policies and related information."},
		},
		Commands: []*Command{
			{ID: "static.add.filter", Words: []string{"add", "filter"}, Summary: "Adds a filter to filter list.",
				Purpose: "Adds a filter to the specified filter list; the filter list is created when it does not exist.",
				Tags: cat([]Tag{
					req(ref(str("filterlist", "Name of the filter list to which the filter is added."), RefFilterList)),
					req(kind("srcaddr", KAddr, hAddr)),
					req(kind("dstaddr", KAddr, hAddr)),
					str("description", "Brief information about the filter."),
				}, filterTags()),
				Remarks: []string{
					"If the filter list does not exist it will be created.",
					"To specify the current computer address, set srcaddr/dstaddr=me. To specify all computer addresses, set srcaddr/dstaddr=any.",
					"Server type can be WINS, DNS, DHCP or GATEWAY; the other address must then be me.",
					"If the source is a server type, source and destination masks are ignored.",
				},
				Examples: []string{
					"add filter filterlist=Filter1 192.145.168.0 192.145.168.45 srcmask=24 dstmask=32",
					"add filter filterlist=Filter1 srcaddr=DHCP dstaddr=0.0.0.0 protocol=ICMP srcmask=255.255.255.255 dstmask=255.255.255.255",
				}},
			{ID: "static.add.filteraction", Words: []string{"add", "filteraction"}, Summary: "Creates a filter action.",
				Purpose: "Creates a filter action.",
				Tags:    cat([]Tag{req(str("name", "Name of the filter action.")), str("description", hDesc)}, filterAction),
				Remarks: []string{"Quick mode security methods are ignored unless the action is negotiate."},
				Examples: []string{
					`add filteraction name=FilterA qmpfs=yes soft=y action=negotiate qmsec="AH[MD5]:204800k/300s ESP[DES,SHA1]:30000k/480s"`,
				}},
			{ID: "static.add.filterlist", Words: []string{"add", "filterlist"}, Summary: "Creates an empty filter list.",
				Purpose: "Creates an empty filter list with the given name.",
				Tags: []Tag{
					req(str("name", "Name of the filter list.")),
					str("description", "Brief information about the filter list."),
				},
				Examples: []string{"add filterlist Filter1"}},
			{ID: "static.add.policy", Words: []string{"add", "policy"}, Summary: "Creates a policy with a default response rule.",
				Purpose: "Creates a policy with a default response rule.",
				Tags: cat([]Tag{req(str("name", hName)), str("description", "Brief information about the policy.")},
					policyTags(), []Tag{mmsec}),
				Remarks: []string{
					"If mmpfs is set, qmpermm is set to 1.",
					"If the store is domain, assign has no effect.",
				},
				Examples: []string{`add policy Policy1 mmpfs= yes assign=yes mmsec="3DES-SHA1-3 DES-MD5-3 3DES-MD5-2"`}},
			{ID: "static.add.rule", Words: []string{"add", "rule"}, Summary: "Creates a rule for the specified policy.",
				Purpose: "Creates a rule with the specified filter list and filter action.",
				Tags: cat([]Tag{
					req(str("name", "Name of the rule.")),
					req(ref(str("policy", "Name of the policy to which the rule belongs."), RefPolicy)),
					req(ref(str("filterlist", hFilterLst), RefFilterList)),
					req(ref(str("filteraction", hFilterAct), RefFilterAction)),
				}, ruleTags[2:], []Tag{str("description", "Brief information about the rule.")}, authTags()),
				Remarks: []string{
					"The order in which kerberos, psk and rootca appear is the order of preference of the authentication methods.",
					"If no authentication method is given, Kerberos is used.",
				},
				Examples: []string{
					`add rule name=Rule policy=Policy filterlist=Filterlist filteraction=FilterAction kerberos=yes psk="my key" rootca="C=US,O=MSFT,CN=Microsoft Authenticode(tm) Root Authority"`,
				}},

			{ID: "static.delete.all", Words: []string{"delete", "all"},
				Summary: "Deletes all policies, filter lists, and filter actions.",
				Purpose: "Deletes all policies, filter lists and filter actions from the current store."},
			{ID: "static.delete.filter", Words: []string{"delete", "filter"}, Summary: "Deletes a filter from a filter list.",
				Purpose: "Deletes the filters of the filter list that match the given specification.",
				Tags: cat([]Tag{
					req(ref(str("filterlist", "Name of the filter list from which the filter is deleted."), RefFilterList)),
					req(kind("srcaddr", KAddr, hAddr)),
					req(kind("dstaddr", KAddr, hAddr)),
				}, filterTags())},
			{ID: "static.delete.filteraction", Words: []string{"delete", "filteraction"}, Summary: "Deletes a filter action.",
				Purpose: "Deletes a filter action, or all of them.",
				Tags:    []Tag{ref(str("name", "Name of the filter action."), RefFilterAction)},
				Ident:   &Ident{Tags: []string{"name"}, Keywords: []string{"all"}, Required: true}},
			{ID: "static.delete.filterlist", Words: []string{"delete", "filterlist"}, Summary: "Deletes a filter list.",
				Purpose: "Deletes a filter list, or all of them.",
				Tags:    []Tag{ref(str("name", "Name of the filter list."), RefFilterList)},
				Ident:   &Ident{Tags: []string{"name"}, Keywords: []string{"all"}, Required: true}},
			{ID: "static.delete.policy", Words: []string{"delete", "policy"}, Summary: "Deletes a policy and its rules.",
				Purpose: "Deletes a policy and its rules, or all policies.",
				Tags:    []Tag{ref(str("name", hName), RefPolicy)},
				Ident:   &Ident{Tags: []string{"name"}, Keywords: []string{"all"}, Required: true}},
			{ID: "static.delete.rule", Words: []string{"delete", "rule"}, Summary: "Deletes a rule from a policy.",
				Purpose: "Deletes a rule, or all rules but the default response rule, from a policy.",
				Tags: []Tag{
					ref(str("name", "Name of the rule."), RefRule),
					integer("id", 0, 2147483647, "ID of the rule."),
					req(ref(str("policy", "Name of the policy."), RefPolicy)),
				},
				Ident:   &Ident{Tags: []string{"name", "id"}, Keywords: []string{"all"}, Required: true},
				Remarks: []string{"The default response rule cannot be deleted."}},

			{ID: "static.dump", Words: []string{"dump"}, Summary: "Displays a configuration script.",
				Purpose: "Displays the current store as a script that rebuilds it."},
			{ID: "static.exportpolicy", Words: []string{"exportpolicy"}, Summary: "Exports all the policies from the policy store.",
				Purpose: "Exports all the policies, filter lists and filter actions of the current store to a file.",
				Tags:    []Tag{req(kind("file", KFile, "Name of the file to which the policies are exported."))}},
			{ID: "static.importpolicy", Words: []string{"importpolicy"}, Summary: "Imports the policies from a file to the policy store.",
				Purpose: "Imports the policies, filter lists and filter actions of a file into the current store.",
				Tags:    []Tag{req(kind("file", KFile, "Name of the file from which the policies are imported."))}},

			{ID: "static.set.batch", Words: []string{"set", "batch"}, Summary: "Sets the batch update mode.",
				Purpose: "Sets the batch update mode: while enabled, store updates are written when batch mode is disabled or netsh exits.",
				Tags:    []Tag{req(enum("mode", enumBatch, "Enables or disables the batch mode."))}},
			{ID: "static.set.defaultrule", Words: []string{"set", "defaultrule"}, Summary: "Modifies the default response rule of a policy.",
				Purpose: "Modifies the default response rule of the specified policy.",
				Tags: cat([]Tag{
					req(ref(str("policy", "Name of the policy whose default response rule is modified."), RefPolicy)),
					boolean("qmpfs", "Sets quick mode perfect forward secrecy."),
					boolean("activate", "Activates the default response rule."),
					qmsec,
				}, authTags())},
			{ID: "static.set.filteraction", Words: []string{"set", "filteraction"}, Summary: "Modifies a filter action.",
				Purpose: "Modifies a filter action.",
				Tags: cat([]Tag{
					ref(str("name", "Name of the filter action."), RefFilterAction),
					kind("guid", KGUID, hGUID),
					str("newname", "New name of the filter action."),
					str("description", hDesc),
				}, filterAction),
				Ident: &Ident{Tags: []string{"name", "guid"}, Required: true},
				Examples: []string{
					"set filteraction name=test qmsec=ESP[3DES,MD5]:100000k/2000s",
					"set filteraction guid={11E6E97E-0031-49f5-AC7D-5F2FE99BABAF} inpass=y",
				}},
			{ID: "static.set.filterlist", Words: []string{"set", "filterlist"}, Summary: "Modifies a filter list.",
				Purpose: "Modifies a filter list.",
				Tags: []Tag{
					ref(str("name", "Name of the filter list."), RefFilterList),
					kind("guid", KGUID, hGUID),
					str("newname", "New name of the filter list."),
					str("description", hDesc),
				},
				Ident: &Ident{Tags: []string{"name", "guid"}, Required: true}},
			{ID: "static.set.policy", Words: []string{"set", "policy"}, Summary: "Modifies a policy.",
				Purpose: "Modifies a policy.",
				Tags: cat([]Tag{
					ref(str("name", hName), RefPolicy),
					kind("guid", KGUID, hGUID),
					str("newname", "New name of the policy."),
					str("description", "Brief information about the policy."),
				}, policyTags(), []Tag{str("gponame", "Name of the group policy object to which the policy is assigned (domain store only)."), mmsec}),
				Ident: &Ident{Tags: []string{"name", "guid"}, Required: true}},
			{ID: "static.set.rule", Words: []string{"set", "rule"}, Summary: "Modifies a rule.",
				Purpose: "Modifies a rule of a policy.",
				Tags: cat([]Tag{
					ref(str("name", "Name of the rule."), RefRule),
					integer("id", 1, 2147483647, "ID of the rule."),
					req(ref(str("policy", "Name of the policy to which the rule belongs."), RefPolicy)),
					str("newname", "New name of the rule."),
					str("description", "Brief information about the rule."),
				}, ruleTags, authTags()),
				Ident:   &Ident{Tags: []string{"name", "id"}, Required: true},
				Remarks: []string{"If any authentication method is given, it replaces the whole list of the rule."}},
			{ID: "static.set.store", Words: []string{"set", "store"}, Summary: "Sets the current policy store.",
				Purpose: "Sets the current policy store for the rest of this netsh session.",
				Tags: []Tag{
					req(enum("location", enumStore, "Location of the IPsec policy store.")),
					str("domain", "Domain name for the domain store."),
				},
				Examples: []string{"set store location=local", "set store location=persistent"}},

			{ID: "static.show.all", Words: []string{"show", "all"},
				Summary: "Displays details of all policies and related information.",
				Purpose: "Displays details of all policies, filter lists and filter actions.",
				Tags:    []Tag{enum("format", enumFormat, hFormat), boolean("wide", hWide)}},
			{ID: "static.show.filteraction", Words: []string{"show", "filteraction"}, Summary: "Displays filter action details.",
				Purpose: "Displays the details of a filter action, of the one a rule uses, or of all.",
				Tags: cat([]Tag{
					ref(str("name", "Name of the filter action."), RefFilterAction),
					ref(str("rule", "Name of the rule."), RefRule),
				}, formatTags()),
				Ident: &Ident{Tags: []string{"name", "rule"}, Keywords: []string{"all"}, Required: true}},
			{ID: "static.show.filterlist", Words: []string{"show", "filterlist"}, Summary: "Displays filter list details.",
				Purpose: "Displays the details of a filter list, of the one a rule uses, or of all.",
				Tags: cat([]Tag{
					ref(str("name", "Name of the filter list."), RefFilterList),
					ref(str("rule", "Name of the rule."), RefRule),
				}, formatTags()[:2], []Tag{boolean("resolvedns", hResolve), boolean("wide", hWide)}),
				Ident: &Ident{Tags: []string{"name", "rule"}, Keywords: []string{"all"}, Required: true}},
			{ID: "static.show.gpoassignedpolicy", Words: []string{"show", "gpoassignedpolicy"},
				Summary: "Displays details of a group assigned policy.",
				Purpose: "Displays the details of the policy assigned to a group policy object, or to this computer.",
				Tags:    []Tag{str("name", "Name of the group policy object.")}},
			{ID: "static.show.policy", Words: []string{"show", "policy"}, Summary: "Displays policy details.",
				Purpose: "Displays the details of a policy, or of all.",
				Tags:    cat([]Tag{ref(str("name", hName), RefPolicy)}, formatTags()),
				Ident:   &Ident{Tags: []string{"name"}, Keywords: []string{"all"}, Required: true}},
			{ID: "static.show.rule", Words: []string{"show", "rule"}, Summary: "Displays rule details.",
				Purpose: "Displays the details of a rule of a policy, of all rules, or of the default response rule.",
				Tags: cat([]Tag{
					ref(str("name", "Name of the rule."), RefRule),
					integer("id", 0, 2147483647, "ID of the rule."),
					req(ref(str("policy", "Name of the policy."), RefPolicy)),
					enum("type", enumRuleTyp, "Type of rules to show: tunnel or transport."),
				}, formatTags()),
				Ident: &Ident{Tags: []string{"name", "id"}, Keywords: []string{"all", "default"}, Required: true}},
			{ID: "static.show.store", Words: []string{"show", "store"}, Summary: "Displays the current policy store.",
				Purpose: "Displays the current policy store."},
		},
	}
}

func globalCommands() []*Command {
	return []*Command{
		{ID: "global.up", Words: []string{".."}, Summary: "Goes up one context level."},
		{ID: "global.help", Words: []string{"?"}, Summary: "Displays a list of commands."},
		{ID: "global.abort", Words: []string{"abort"}, Summary: "Discards changes made while in offline mode."},
		{ID: "global.exit", Words: []string{"bye"}, Summary: "Exits the program."},
		{ID: "global.commit", Words: []string{"commit"}, Summary: "Commits changes made while in offline mode."},
		{ID: "global.dump", Words: []string{"dump"}, Summary: "Displays a configuration script."},
		{ID: "global.exec", Words: []string{"exec"}, Summary: "Runs a script file.",
			Purpose: "Loads the script file and runs it.",
			Tags:    []Tag{req(kind("file", KFile, "Name of the script file."))}},
		{ID: "global.exit", Words: []string{"exit"}, Summary: "Exits the program."},
		{ID: "global.gpupdate", Words: []string{"gpupdate"}, Summary: "Re-reads the IPsec policy store now (gonetsh).",
			Purpose: "Makes the IPsec engine re-read the policy store, the configuration and this computer's addresses and servers now, as gpupdate /force does on Windows, instead of at its next poll."},
		{ID: "global.help", Words: []string{"help"}, Summary: "Displays a list of commands."},
		{ID: "global.offline", Words: []string{"offline"}, Summary: "Sets the current mode to offline."},
		{ID: "global.online", Words: []string{"online"}, Summary: "Sets the current mode to online."},
		{ID: "global.popd", Words: []string{"popd"}, Summary: "Pops a context from the stack."},
		{ID: "global.pushd", Words: []string{"pushd"}, Summary: "Pushes current context on stack.",
			Purpose: "Pushes the current context on the stack and changes to the given context.",
			Tags:    []Tag{{Name: "context", Kind: KRest, Syntax: "<context path>", Help: "Context to change to."}}},
		{ID: "global.exit", Words: []string{"quit"}, Summary: "Exits the program."},
		{ID: "global.set.mode", Words: []string{"set", "mode"}, Summary: "Sets the current mode to online or offline.",
			Purpose: "Sets the current mode to online or offline.",
			Tags:    []Tag{req(enum("mode", []EnumValue{{"online", 1}, {"offline", 0}}, "Online or offline mode."))}},
		{ID: "global.show.mode", Words: []string{"show", "mode"}, Summary: "Shows the current mode."},
	}
}
