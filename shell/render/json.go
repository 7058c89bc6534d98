// # JSON schema (format=json)
//
// JSON output is a gonetsh extension for scripts and CI.
// Every show prints one JSON document (two-space indent, a final newline,
// no HTML escaping). Keys are netsh tag names and appear in the order
// below; every key is always present unless marked "only", and lists are
// always arrays (possibly empty), never null, so a parser sees one shape.
// Level and wide do not change JSON output.
//
//	show all:           {"store": Store, "policies": [Policy], "filterlists": [FilterList], "filteractions": [FilterAction]}
//	show policy:        {"policies": [Policy]}
//	show rule:          {"policy": "<policy name>", "rules": [Rule]}
//	show filterlist:    {"filterlists": [FilterList]}
//	show filteraction:  {"filteractions": [FilterAction]}
//
//	Store = {
//	  "location": "local" | "persistent" | "domain",
//	  "host": "<computer name>",
//	  "domain": "<domain name>"            only for the domain store
//	}
//
//	Policy = {
//	  "name": string, "description": string,
//	  "guid": "{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}",
//	  "assign": bool, "mmpfs": bool,
//	  "qmpermm": int,                      0 = unlimited
//	  "mmlifetime": int,                   minutes
//	  "activatedefaultrule": bool,
//	  "pollinginterval": int,              minutes
//	  "mmsecmethods": ["3DES-SHA1-2", ...], netsh form, preference order
//	  "lastmodified": "2026-11-27T09:05:07Z", RFC 3339, UTC
//	  "rules": [Rule]                      the rules in order, then the default response rule
//	}
//
//	Rule = {
//	  "id": int,                           0 for the default response rule
//	  "guid": string, "name": string, "description": string,
//	  "filterlist": string,                name; "" for the default response rule
//	  "filteraction": string,              name; "" for the default response rule
//	  "tunnel": string,                    netsh input form (IP or DNS name); "" = none
//	  "conntype": "all" | "lan" | "dialup",
//	  "activate": bool,
//	  "auth": [Auth],                      preference order
//	  "default": bool,                     true for the default response rule
//	  "qmpfs": bool,                       only for the default response rule
//	  "qmsecmethods": ["ESP[3DES,SHA1]", ...] only for the default response rule
//	}
//
//	Auth = {"kerberos": true}
//	     | {"psk": "<key>"}
//	     | {"rootca": "<CA distinguished name>", "certmap": bool, "excludecaname": bool}
//
//	FilterList = {
//	  "name": string, "description": string, "guid": string,
//	  "lastmodified": RFC 3339 string,
//	  "filters": [Filter]
//	}
//
//	Filter = {
//	  "description": string, "mirrored": bool,
//	  "srcaddr": string,                   netsh input form: "me", "any", "10.0.0.1",
//	                                       "dns", "wins", "dhcp", "gateway" or the DNS name
//	  "srcmask": "255.255.255.255",        dotted
//	  "dstaddr": string, "dstmask": string,
//	  "protocol": "ANY" | "ICMP" | "TCP" | "UDP" | "RAW" | "<number>",
//	  "srcport": int, "dstport": int       0 = any
//	}
//
//	FilterAction = {
//	  "name": string, "description": string, "guid": string,
//	  "action": "permit" | "block" | "negotiate",
//	  "qmpfs": bool, "inpass": bool, "soft": bool,
//	  "qmsecmethods": ["ESP[3DES,SHA1]", "AH[MD5]:20480k/300s", ...], netsh form, as stored
//	  "lastmodified": RFC 3339 string
//	}
package render

import (
	"encoding/json"
	"io"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

type jsonStore struct {
	Location string `json:"location"`
	Host     string `json:"host"`
	Domain   string `json:"domain,omitempty"`
}

type jsonPolicy struct {
	Name                string     `json:"name"`
	Description         string     `json:"description"`
	GUID                string     `json:"guid"`
	Assign              bool       `json:"assign"`
	MMPFS               bool       `json:"mmpfs"`
	QMPerMM             int        `json:"qmpermm"`
	MMLifetime          int        `json:"mmlifetime"`
	ActivateDefaultRule bool       `json:"activatedefaultrule"`
	PollingInterval     int        `json:"pollinginterval"`
	MMSecMethods        []string   `json:"mmsecmethods"`
	LastModified        string     `json:"lastmodified"`
	Rules               []jsonRule `json:"rules"`
}

type jsonRule struct {
	ID           int        `json:"id"`
	GUID         string     `json:"guid"`
	Name         string     `json:"name"`
	Description  string     `json:"description"`
	FilterList   string     `json:"filterlist"`
	FilterAction string     `json:"filteraction"`
	Tunnel       string     `json:"tunnel"`
	ConnType     string     `json:"conntype"`
	Activate     bool       `json:"activate"`
	Auth         []jsonAuth `json:"auth"`
	Default      bool       `json:"default"`
	QMPFS        *bool      `json:"qmpfs,omitempty"`
	QMSecMethods *[]string  `json:"qmsecmethods,omitempty"`
}

type jsonAuth struct {
	Kerberos      bool    `json:"kerberos,omitempty"`
	PSK           *string `json:"psk,omitempty"`
	RootCA        *string `json:"rootca,omitempty"`
	CertMap       *bool   `json:"certmap,omitempty"`
	ExcludeCAName *bool   `json:"excludecaname,omitempty"`
}

type jsonFilterList struct {
	Name         string       `json:"name"`
	Description  string       `json:"description"`
	GUID         string       `json:"guid"`
	LastModified string       `json:"lastmodified"`
	Filters      []jsonFilter `json:"filters"`
}

type jsonFilter struct {
	Description string `json:"description"`
	Mirrored    bool   `json:"mirrored"`
	SrcAddr     string `json:"srcaddr"`
	SrcMask     string `json:"srcmask"`
	DstAddr     string `json:"dstaddr"`
	DstMask     string `json:"dstmask"`
	Protocol    string `json:"protocol"`
	SrcPort     int    `json:"srcport"`
	DstPort     int    `json:"dstport"`
}

type jsonFilterAction struct {
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	GUID         string   `json:"guid"`
	Action       string   `json:"action"`
	QMPFS        bool     `json:"qmpfs"`
	InPass       bool     `json:"inpass"`
	Soft         bool     `json:"soft"`
	QMSecMethods []string `json:"qmsecmethods"`
	LastModified string   `json:"lastmodified"`
}

type jsonAll struct {
	Store         jsonStore          `json:"store"`
	Policies      []jsonPolicy       `json:"policies"`
	FilterLists   []jsonFilterList   `json:"filterlists"`
	FilterActions []jsonFilterAction `json:"filteractions"`
}

type jsonPolicies struct {
	Policies []jsonPolicy `json:"policies"`
}

type jsonRules struct {
	Policy string     `json:"policy"`
	Rules  []jsonRule `json:"rules"`
}

type jsonFilterLists struct {
	FilterLists []jsonFilterList `json:"filterlists"`
}

type jsonFilterActions struct {
	FilterActions []jsonFilterAction `json:"filteractions"`
}

func writeJSON(w io.Writer, doc any) error {
	var b out
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return b.flush(w)
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func mmStrings(offers []ipsec.MMOffer) []string {
	out := make([]string, 0, len(offers))
	for _, m := range offers {
		out = append(out, m.String())
	}
	return out
}

func qmStrings(offers []ipsec.QMOffer) []string {
	out := make([]string, 0, len(offers))
	for _, q := range offers {
		out = append(out, q.String())
	}
	return out
}

func toJSONStore(o Options) jsonStore {
	s := jsonStore{Location: o.location().String(), Host: o.Host}
	if o.location() == store.Domain {
		s.Domain = o.Domain
	}
	return s
}

func toJSONPolicies(st *store.State, pols []store.Policy) []jsonPolicy {
	out := make([]jsonPolicy, 0, len(pols))
	for i := range pols {
		p := &pols[i]
		out = append(out, jsonPolicy{
			Name:                p.Name,
			Description:         p.Description,
			GUID:                string(p.GUID),
			Assign:              p.Assigned,
			MMPFS:               p.MMPFS,
			QMPerMM:             p.QMPerMM,
			MMLifetime:          p.MMLifetime,
			ActivateDefaultRule: p.DefaultRule.Active,
			PollingInterval:     p.PollingInterval,
			MMSecMethods:        mmStrings(p.MMOffers),
			LastModified:        rfc3339(p.Modified),
			Rules:               toJSONRules(st, policyRules(p)),
		})
	}
	return out
}

func toJSONRules(st *store.State, rules []store.Rule) []jsonRule {
	out := make([]jsonRule, 0, len(rules))
	for i := range rules {
		r := &rules[i]
		j := jsonRule{
			ID:          ruleID(r),
			GUID:        string(r.GUID),
			Name:        r.Name,
			Description: r.Description,
			ConnType:    r.ConnType.String(),
			Activate:    r.Active,
			Auth:        toJSONAuth(r.Auth),
			Default:     r.Default,
		}
		if r.ConnType == 0 {
			j.ConnType = ipsec.ConnAll.String()
		}
		if r.Tunnel.IsValid() {
			j.Tunnel = r.Tunnel.String()
		}
		if r.Default {
			pfs, qm := r.QMPFS, qmStrings(r.QMOffers)
			j.QMPFS, j.QMSecMethods = &pfs, &qm
		} else {
			j.FilterList = filterListName(st, r)
			j.FilterAction = filterActionName(st, r)
		}
		out = append(out, j)
	}
	return out
}

func toJSONAuth(auth []ipsec.AuthMethod) []jsonAuth {
	out := make([]jsonAuth, 0, len(auth))
	for _, a := range auth {
		switch a.Kind {
		case ipsec.AuthKerberos:
			out = append(out, jsonAuth{Kerberos: true})
		case ipsec.AuthPSK:
			psk := a.PSK
			out = append(out, jsonAuth{PSK: &psk})
		case ipsec.AuthRootCA:
			ca, cm, ex := a.CA, a.CertMap, a.ExcludeCAName
			out = append(out, jsonAuth{RootCA: &ca, CertMap: &cm, ExcludeCAName: &ex})
		}
	}
	return out
}

func toJSONFilterLists(lists []store.FilterList) []jsonFilterList {
	out := make([]jsonFilterList, 0, len(lists))
	for _, fl := range lists {
		filters := make([]jsonFilter, 0, len(fl.Filters))
		for _, f := range fl.Filters {
			filters = append(filters, jsonFilter{
				Description: f.Description,
				Mirrored:    f.Mirrored,
				SrcAddr:     f.Src.String(),
				SrcMask:     f.SrcMask.Dotted(),
				DstAddr:     f.Dst.String(),
				DstMask:     f.DstMask.Dotted(),
				Protocol:    f.Protocol.String(),
				SrcPort:     int(f.SrcPort),
				DstPort:     int(f.DstPort),
			})
		}
		out = append(out, jsonFilterList{
			Name:         fl.Name,
			Description:  fl.Description,
			GUID:         string(fl.GUID),
			LastModified: rfc3339(fl.Modified),
			Filters:      filters,
		})
	}
	return out
}

func toJSONFilterActions(acts []store.FilterAction) []jsonFilterAction {
	out := make([]jsonFilterAction, 0, len(acts))
	for _, fa := range acts {
		out = append(out, jsonFilterAction{
			Name:         fa.Name,
			Description:  fa.Description,
			GUID:         string(fa.GUID),
			Action:       fa.Action.String(),
			QMPFS:        fa.QMPFS,
			InPass:       fa.InPass,
			Soft:         fa.Soft,
			QMSecMethods: qmStrings(fa.Offers),
			LastModified: rfc3339(fa.Modified),
		})
	}
	return out
}
