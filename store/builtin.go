package store

import (
	"slices"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
)

// Names of the built-in objects (reference §4.1, §4.2).
const (
	PolicyClient       = "Client (Respond Only)"
	PolicyServer       = "Server (Request Security)"
	PolicySecureServer = "Secure Server (Require Security)"

	FilterListAllIP   = "All IP Traffic"
	FilterListAllICMP = "All ICMP Traffic"

	FilterActionPermit          = "Permit"
	FilterActionRequestSecurity = "Request Security (Optional)"
	FilterActionRequireSecurity = "Require Security"
)

// Well-known GUIDs of the built-in objects. The policy GUIDs are as the
// reference maps them (inferred there from AD dumps). The reference lists the
// filter list, filter action, ISAKMP and default-response GUIDs without
// names; the mapping below is ours and rests on the creation order the GUIDs
// suggest: each policy's ISAKMP object is the policy GUID + 1; the
// default-response objects follow the dump order Server, Client, Secure
// Server; the filter list and action created next to each other pair up
// (72385235 All ICMP Traffic with 72385233 Permit, 7238523A All IP Traffic
// with 7238523B Request Security (Optional)); 7238523F Require Security
// belongs to Secure Server (7238523C). The model has no separate
// default-response filter action, so the 59319xxx GUIDs name the default
// response rules.
const (
	GUIDPolicyServer       GUID = "{72385230-70FA-11D1-864C-14A300000000}"
	GUIDPolicyClient       GUID = "{72385236-70FA-11D1-864C-14A300000000}"
	GUIDPolicySecureServer GUID = "{7238523C-70FA-11D1-864C-14A300000000}"

	GUIDISAKMPServer       GUID = "{72385231-70FA-11D1-864C-14A300000000}"
	GUIDISAKMPClient       GUID = "{72385237-70FA-11D1-864C-14A300000000}"
	GUIDISAKMPSecureServer GUID = "{7238523D-70FA-11D1-864C-14A300000000}"

	GUIDDefaultRuleServer       GUID = "{59319BDF-5EE3-11D2-ACE8-0060B0ECCA17}"
	GUIDDefaultRuleClient       GUID = "{59319C01-5EE3-11D2-ACE8-0060B0ECCA17}"
	GUIDDefaultRuleSecureServer GUID = "{59319BF0-5EE3-11D2-ACE8-0060B0ECCA17}"

	GUIDFilterListAllIP   GUID = "{7238523A-70FA-11D1-864C-14A300000000}"
	GUIDFilterListAllICMP GUID = "{72385235-70FA-11D1-864C-14A300000000}"

	GUIDFilterActionPermit          GUID = "{72385233-70FA-11D1-864C-14A300000000}"
	GUIDFilterActionRequestSecurity GUID = "{7238523B-70FA-11D1-864C-14A300000000}"
	GUIDFilterActionRequireSecurity GUID = "{7238523F-70FA-11D1-864C-14A300000000}"
)

// Builtin returns the content of a store that has never been written: the
// three built-in policies (unassigned, default IKE settings), the two
// built-in filter lists and the three built-in filter actions, all stamped
// with clock() (time.Now when nil). The four regular rules have no
// well-known GUID; theirs are derived from the policy and filter list names
// and are the same in every store. They have no name (shown as NONE) and
// IDs 1 (All IP Traffic) and 2 (All ICMP Traffic).
func Builtin(clock func() time.Time) State {
	if clock == nil {
		clock = time.Now
	}
	now := clock().UTC()
	me := ipsec.Address{Kind: ipsec.AddrMe}
	anyAddr := ipsec.Address{Kind: ipsec.AddrAny}
	meToAny := func(p ipsec.Protocol) []Filter {
		f := NewFilter(me, anyAddr)
		f.Protocol = p
		return []Filter{f}
	}
	requestOffers := append(slices.Clone(ipsec.DefaultQMOffers),
		ipsec.QMOffer{AH: ipsec.HashSHA1}, ipsec.QMOffer{AH: ipsec.HashMD5})

	policy := func(guid, isakmp, defRule GUID, name, desc string, rules ...Rule) Policy {
		p := NewPolicy(name)
		p.GUID, p.ISAKMPGUID, p.Description, p.Modified = guid, isakmp, desc, now
		p.DefaultRule.GUID, p.DefaultRule.Modified = defRule, now
		p.Rules = rules
		return p
	}
	rule := func(policy string, id int, list, action GUID, listName string) Rule {
		r := NewRule("")
		r.GUID = derivedGUID(policy + "/" + listName)
		r.ID, r.FilterList, r.FilterAction, r.Modified = id, list, action, now
		return r
	}
	secured := func(policy string, action GUID) []Rule {
		return []Rule{
			rule(policy, 1, GUIDFilterListAllIP, action, FilterListAllIP),
			rule(policy, 2, GUIDFilterListAllICMP, GUIDFilterActionPermit, FilterListAllICMP),
		}
	}

	return State{
		// In the order of the AD dumps (GUID order).
		Policies: []Policy{
			policy(GUIDPolicyServer, GUIDISAKMPServer, GUIDDefaultRuleServer, PolicyServer,
				"Requests security for all IP traffic using Kerberos trust, and still talks to clients that do not answer with IPsec.",
				secured(PolicyServer, GUIDFilterActionRequestSecurity)...),
			policy(GUIDPolicyClient, GUIDISAKMPClient, GUIDDefaultRuleClient, PolicyClient,
				"Talks in the clear and secures traffic only when a server asks for it, through the default response rule."),
			policy(GUIDPolicySecureServer, GUIDISAKMPSecureServer, GUIDDefaultRuleSecureServer, PolicySecureServer,
				"Requires security for all IP traffic using Kerberos trust, and refuses unsecured traffic from untrusted clients.",
				secured(PolicySecureServer, GUIDFilterActionRequireSecurity)...),
		},
		FilterLists: []FilterList{
			{
				GUID:        GUIDFilterListAllICMP,
				Name:        FilterListAllICMP,
				Description: "Matches every ICMP packet between this computer and any other computer.",
				Filters:     meToAny(ipsec.ProtoICMP),
				Modified:    now,
			},
			{
				GUID:        GUIDFilterListAllIP,
				Name:        FilterListAllIP,
				Description: "Matches every IP packet between this computer and any other computer, except broadcast, multicast and IKE.",
				Filters:     meToAny(ipsec.ProtoAny),
				Modified:    now,
			},
		},
		FilterActions: []FilterAction{
			{
				GUID:        GUIDFilterActionPermit,
				Name:        FilterActionPermit,
				Description: "Lets unsecured IP packets pass.",
				Action:      ipsec.ActionPermit,
				Modified:    now,
			},
			{
				GUID:        GUIDFilterActionRequestSecurity,
				Name:        FilterActionRequestSecurity,
				Description: "Accepts unsecured packets but asks for security, and falls back to clear text with peers that do not speak IPsec.",
				Action:      ipsec.ActionNegotiate,
				InPass:      true,
				Soft:        true,
				Offers:      requestOffers,
				Modified:    now,
			},
			{
				GUID:        GUIDFilterActionRequireSecurity,
				Name:        FilterActionRequireSecurity,
				Description: "Accepts unsecured packets but always answers with IPsec, and never falls back to clear text.",
				Action:      ipsec.ActionNegotiate,
				InPass:      true,
				Offers:      slices.Clone(ipsec.DefaultQMOffers),
				Modified:    now,
			},
		},
	}
}
