package store

import (
	"net/netip"
	"time"

	"testing"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/stretchr/testify/require"
)

func TestAddPolicy(t *testing.T) {
	s := newState(t)
	p := NewPolicy("P1")
	p.Description = "first"
	got, err := s.AddPolicy(p)
	require.NoError(t, err)
	require.Equal(t, GUID("{00000001-0000-4000-8000-000000000001}"), got.GUID)
	require.Equal(t, GUID("{00000001-0000-4000-8000-000000000002}"), got.ISAKMPGUID)
	require.Equal(t, GUID("{00000001-0000-4000-8000-000000000003}"), got.DefaultRule.GUID)
	require.Equal(t, t0, got.Modified)
	require.Equal(t, "first", got.Description)
	require.False(t, got.Assigned)
	require.Equal(t, DefaultMMLifetime, got.MMLifetime)
	require.Equal(t, DefaultPollingInterval, got.PollingInterval)
	require.Zero(t, got.QMPerMM)
	require.Equal(t, ipsec.DefaultMMOffers, got.MMOffers)
	dr := got.DefaultRule
	require.True(t, dr.Default)
	require.Zero(t, dr.ID)
	require.True(t, dr.Active)
	require.Equal(t, []ipsec.AuthMethod{{Kind: ipsec.AuthKerberos}}, dr.Auth)
	require.Empty(t, dr.FilterList)
	require.Empty(t, dr.FilterAction)
	require.Equal(t, ipsec.DefaultQMOffers, dr.QMOffers)
	require.Empty(t, got.Rules)

	stored, err := s.Policy("p1") // case-insensitive
	require.NoError(t, err)
	require.Equal(t, got, stored)
	require.Len(t, s.Policies, 4)
	requireInvariants(t, s)

	// Normalisation of a bare Policy value.
	bare, err := s.AddPolicy(Policy{Name: "bare", MMPFS: true, QMPerMM: 5, DefaultRule: Rule{Active: false}})
	require.NoError(t, err)
	require.Equal(t, 1, bare.QMPerMM, "mmpfs forces qmpermm 1")
	require.Equal(t, DefaultMMLifetime, bare.MMLifetime)
	require.Equal(t, ipsec.DefaultMMOffers, bare.MMOffers)
	require.Equal(t, ipsec.ConnAll, bare.DefaultRule.ConnType)
	require.Equal(t, []ipsec.AuthMethod{{Kind: ipsec.AuthKerberos}}, bare.DefaultRule.Auth)
	require.False(t, bare.DefaultRule.Active, "activatedefaultrule=no kept")
}

func TestAddPolicyAssignIsExclusive(t *testing.T) {
	s := newState(t)
	a := NewPolicy("A")
	a.Assigned = true
	_, err := s.AddPolicy(a)
	require.NoError(t, err)
	b := NewPolicy("B")
	b.Assigned = true
	_, err = s.AddPolicy(b)
	require.NoError(t, err)
	got, ok := s.AssignedPolicy()
	require.True(t, ok)
	require.Equal(t, "B", got.Name)
	pa, _ := s.Policy("A")
	require.False(t, pa.Assigned)

	// Put with assign moves it back; Put without assign clears it.
	pa.Assigned = true
	require.NoError(t, s.PutPolicy(pa))
	got, _ = s.AssignedPolicy()
	require.Equal(t, "A", got.Name)
	pa.Assigned = false
	require.NoError(t, s.PutPolicy(pa))
	_, ok = s.AssignedPolicy()
	require.False(t, ok)
	requireInvariants(t, s)
}

func TestAddFilterListAndAction(t *testing.T) {
	s := newState(t)
	l, err := s.AddFilterList(FilterList{Name: "L1", Description: "d"})
	require.NoError(t, err)
	require.Equal(t, "L1", l.Name)
	require.NotEmpty(t, l.GUID)
	require.Equal(t, t0, l.Modified)
	require.Empty(t, l.Filters)

	a, err := s.AddFilterAction(NewFilterAction("A1"))
	require.NoError(t, err)
	require.Equal(t, ipsec.ActionNegotiate, a.Action)
	require.Equal(t, ipsec.DefaultQMOffers, a.Offers)
	require.False(t, a.InPass || a.Soft || a.QMPFS)

	block, err := s.AddFilterAction(FilterAction{Name: "blk", Action: ipsec.ActionBlock})
	require.NoError(t, err)
	require.Empty(t, block.Offers, "no offers for block")

	byGUID, err := s.FilterActionByGUID(GUID(string(a.GUID)))
	require.NoError(t, err)
	require.Equal(t, a, byGUID)
	requireInvariants(t, s)
}

func TestAddFilter(t *testing.T) {
	s := newState(t)
	f := NewFilter(me, ip("10.0.0.1"))
	require.NoError(t, s.AddFilter("NewList", f))
	l, err := s.FilterList("newlist")
	require.NoError(t, err)
	require.Equal(t, []Filter{f}, l.Filters, "list created by add filter")
	require.Empty(t, l.Description)

	g := NewFilter(ip("192.168.1.0"), anyAddr)
	g.SrcMask = 24
	g.Protocol = ipsec.ProtoTCP
	g.DstPort = 443
	require.NoError(t, s.AddFilter("NEWLIST", g))
	require.NoError(t, s.AddFilter("NEWLIST", g), "duplicates allowed")
	l, _ = s.FilterList("NewList")
	require.Equal(t, []Filter{f, g, g}, l.Filters)
	require.Len(t, s.FilterLists, 3)

	dns := ipsec.Address{Kind: ipsec.AddrDNS}
	require.NoError(t, s.AddFilter("srv", NewFilter(me, dns)), "server type with me")
	zero := ipsec.Address{Kind: ipsec.AddrIP, IP: netip.IPv4Unspecified()}
	require.NoError(t, s.AddFilter("srv", NewFilter(ipsec.Address{Kind: ipsec.AddrDHCP}, zero)), "server type with 0.0.0.0 (Microsoft's example)")
}

func TestAddRule(t *testing.T) {
	s := newState(t)
	r, err := s.AddRule(PolicyServer, "all ip traffic", "PERMIT", NewRule("R1"))
	require.NoError(t, err)
	require.Equal(t, 3, r.ID, "built-in rules are 1 and 2")
	require.Equal(t, GUIDFilterListAllIP, r.FilterList)
	require.Equal(t, GUIDFilterActionPermit, r.FilterAction)
	require.NotEmpty(t, r.GUID)
	require.True(t, r.Active)
	require.Equal(t, ipsec.ConnAll, r.ConnType)

	got, err := s.Rule("server (request security)", "r1")
	require.NoError(t, err)
	require.Equal(t, r, got)
	got, err = s.RuleByID(PolicyServer, 3)
	require.NoError(t, err)
	require.Equal(t, r, got)

	// IDs are one above the highest, not reused while a later rule exists.
	r2, err := s.AddRule(PolicyServer, FilterListAllICMP, FilterActionPermit, NewRule("R2"))
	require.NoError(t, err)
	require.Equal(t, 4, r2.ID)
	require.NoError(t, s.DeleteRule(PolicyServer, "R1"))
	r3, err := s.AddRule(PolicyServer, FilterListAllICMP, FilterActionPermit, NewRule("R3"))
	require.NoError(t, err)
	require.Equal(t, 5, r3.ID)

	// Auth list and tunnel are stored as given.
	tr := NewRule("tun")
	tr.Tunnel = ip("10.9.9.9")
	tr.Auth = []ipsec.AuthMethod{{Kind: ipsec.AuthPSK, PSK: "k"}, {Kind: ipsec.AuthRootCA, CA: "CN=x", CertMap: true}}
	tr.ConnType = ipsec.ConnLAN
	got, err = s.AddRule(PolicyClient, FilterListAllIP, FilterActionRequireSecurity, tr)
	require.NoError(t, err)
	require.Equal(t, 1, got.ID)
	require.Equal(t, tr.Auth, got.Auth)
	require.Equal(t, tr.Tunnel, got.Tunnel)
	requireInvariants(t, s)
}

func TestLookupErrors(t *testing.T) {
	s := newState(t)
	for _, tc := range []struct {
		name string
		fn   func() error
		code int
	}{
		{"policy", func() error { _, err := s.Policy("nope"); return err }, CodePolicyNotFound},
		{"policy guid", func() error { _, err := s.PolicyByGUID("{X}"); return err }, CodeGUIDNotFound},
		{"list", func() error { _, err := s.FilterList("nope"); return err }, CodeFilterListNotFound},
		{"list guid", func() error { _, err := s.FilterListByGUID("{X}"); return err }, CodeGUIDNotFound},
		{"action", func() error { _, err := s.FilterAction("nope"); return err }, CodeFilterActionNotFound},
		{"action guid", func() error { _, err := s.FilterActionByGUID("{X}"); return err }, CodeGUIDNotFound},
		{"rule policy", func() error { _, err := s.Rule("nope", "r"); return err }, CodePolicyNotFound},
		{"rule", func() error { _, err := s.Rule(PolicyServer, "nope"); return err }, CodeRuleNotFound},
		{"rule empty name", func() error { _, err := s.Rule(PolicyServer, ""); return err }, CodeRuleNotFound},
		{"rule id", func() error { _, err := s.RuleByID(PolicyServer, 9); return err }, CodeRuleIDNotFound},
		{"rule id policy", func() error { _, err := s.RuleByID("nope", 1); return err }, CodePolicyNotFound},
		{"default rule policy", func() error { _, err := s.DefaultRule("nope"); return err }, CodePolicyNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) { requireCode(t, tc.fn(), tc.code) })
	}

	// Lookups by GUID ignore the case of the hex digits.
	p, err := s.PolicyByGUID("{7238523c-70fa-11d1-864c-14a300000000}")
	require.NoError(t, err)
	require.Equal(t, PolicySecureServer, p.Name)
	dr, err := s.RuleByID(PolicyClient, 0)
	require.NoError(t, err)
	require.Equal(t, GUIDDefaultRuleClient, dr.GUID)
}

// TestMutationErrors runs every failing mutation on a populated store and
// checks the code and that the State did not change.
func TestMutationErrors(t *testing.T) {
	setup := func(t *testing.T) *State {
		s := newState(t)
		_, err := s.AddPolicy(NewPolicy("P"))
		require.NoError(t, err)
		_, err = s.AddPolicy(NewPolicy("Q"))
		require.NoError(t, err)
		_, err = s.AddRule("P", FilterListAllIP, FilterActionPermit, NewRule("R"))
		require.NoError(t, err)
		_, err = s.AddRule("P", FilterListAllICMP, FilterActionPermit, NewRule("S"))
		require.NoError(t, err)
		_, err = s.AddFilterList(FilterList{Name: "Free"})
		require.NoError(t, err)
		_, err = s.AddFilterAction(NewFilterAction("FreeAction"))
		require.NoError(t, err)
		require.NoError(t, s.AddFilter("Free", NewFilter(me, ip("10.1.1.1"))))
		return s
	}
	policy := func(s *State, name string) Policy { p, _ := s.Policy(name); return p }
	rule := func(s *State, p, name string) Rule { r, _ := s.Rule(p, name); return r }
	list := func(s *State, name string) FilterList { l, _ := s.FilterList(name); return l }
	action := func(s *State, name string) FilterAction { a, _ := s.FilterAction(name); return a }

	for _, tc := range []struct {
		name string
		fn   func(s *State) error
		code int
	}{
		{"add policy exists", func(s *State) error { _, err := s.AddPolicy(NewPolicy("p")); return err }, CodePolicyExists},
		{"add policy builtin exists", func(s *State) error { _, err := s.AddPolicy(NewPolicy("CLIENT (respond only)")); return err }, CodePolicyExists},
		{"add policy empty name", func(s *State) error { _, err := s.AddPolicy(NewPolicy("")); return err }, CodeInvalid},
		{"add policy with rules", func(s *State) error {
			p := NewPolicy("new")
			p.Rules = []Rule{NewRule("x")}
			_, err := s.AddPolicy(p)
			return err
		}, CodeInvalid},
		{"add policy negative lifetime", func(s *State) error {
			p := NewPolicy("new")
			p.MMLifetime = -1
			_, err := s.AddPolicy(p)
			return err
		}, CodeInvalid},
		{"add policy bad mm offer", func(s *State) error {
			p := NewPolicy("new")
			p.MMOffers = []ipsec.MMOffer{{Cipher: ipsec.Cipher3DES}}
			_, err := s.AddPolicy(p)
			return err
		}, CodeInvalid},
		{"add list exists", func(s *State) error { _, err := s.AddFilterList(FilterList{Name: "FREE"}); return err }, CodeFilterListExists},
		{"add list empty", func(s *State) error { _, err := s.AddFilterList(FilterList{}); return err }, CodeInvalid},
		{"add action exists", func(s *State) error { _, err := s.AddFilterAction(NewFilterAction("permit")); return err }, CodeFilterActionExists},
		{"add action bad offer", func(s *State) error {
			a := NewFilterAction("new")
			a.Offers = []ipsec.QMOffer{{ESP: true}}
			_, err := s.AddFilterAction(a)
			return err
		}, CodeInvalid},
		{"add filter server type without me", func(s *State) error {
			return s.AddFilter("Free", NewFilter(ip("1.2.3.4"), ipsec.Address{Kind: ipsec.AddrWINS}))
		}, CodeInvalid},
		{"add filter bad mask", func(s *State) error {
			f := NewFilter(me, ip("1.2.3.4"))
			f.DstMask = 33
			return s.AddFilter("Free", f)
		}, CodeInvalid},
		{"add filter no address", func(s *State) error { return s.AddFilter("Free", Filter{Src: me}) }, CodeInvalid},
		{"add filter new list no name", func(s *State) error { return s.AddFilter("", NewFilter(me, anyAddr)) }, CodeInvalid},
		{"add rule no policy", func(s *State) error {
			_, err := s.AddRule("nope", FilterListAllIP, FilterActionPermit, NewRule("x"))
			return err
		}, CodePolicyNotFound},
		{"add rule no list", func(s *State) error {
			_, err := s.AddRule("P", "nope", FilterActionPermit, NewRule("x"))
			return err
		}, CodeFilterListNotFound},
		{"add rule no action", func(s *State) error {
			_, err := s.AddRule("P", FilterListAllIP, "nope", NewRule("x"))
			return err
		}, CodeFilterActionNotFound},
		{"add rule exists", func(s *State) error {
			_, err := s.AddRule("p", FilterListAllIP, FilterActionPermit, NewRule("r"))
			return err
		}, CodeRuleExists},
		{"add rule empty psk", func(s *State) error {
			r := NewRule("x")
			r.Auth = []ipsec.AuthMethod{{Kind: ipsec.AuthPSK}}
			_, err := s.AddRule("P", FilterListAllIP, FilterActionPermit, r)
			return err
		}, CodeInvalid},
		{"add rule tunnel me", func(s *State) error {
			r := NewRule("x")
			r.Tunnel = me
			_, err := s.AddRule("P", FilterListAllIP, FilterActionPermit, r)
			return err
		}, CodeInvalid},
		{"put policy unknown guid", func(s *State) error {
			p := policy(s, "P")
			p.GUID = "{00000000-0000-0000-0000-000000000000}"
			return s.PutPolicy(p)
		}, CodeGUIDNotFound},
		{"put policy rename clash", func(s *State) error {
			p := policy(s, "P")
			p.Name = "q"
			return s.PutPolicy(p)
		}, CodePolicyExists},
		{"put policy empty name", func(s *State) error {
			p := policy(s, "P")
			p.Name = ""
			return s.PutPolicy(p)
		}, CodeInvalid},
		{"put policy rule clash", func(s *State) error {
			p := policy(s, "P")
			p.Rules[1].Name = "R"
			return s.PutPolicy(p)
		}, CodeRuleExists},
		{"put policy duplicate rule id", func(s *State) error {
			p := policy(s, "P")
			p.Rules[1].ID = p.Rules[0].ID
			return s.PutPolicy(p)
		}, CodeInvalid},
		{"put policy dangling rule", func(s *State) error {
			p := policy(s, "P")
			p.Rules[0].FilterAction = "{00000000-0000-0000-0000-000000000000}"
			return s.PutPolicy(p)
		}, CodeGUIDNotFound},
		{"put list unknown guid", func(s *State) error { return s.PutFilterList(FilterList{GUID: "{X}", Name: "x"}) }, CodeGUIDNotFound},
		{"put list rename clash", func(s *State) error {
			l := list(s, "Free")
			l.Name = "all ip traffic"
			return s.PutFilterList(l)
		}, CodeFilterListExists},
		{"put list bad filter", func(s *State) error {
			l := list(s, "Free")
			l.Filters[0].Src = ipsec.Address{}
			return s.PutFilterList(l)
		}, CodeInvalid},
		{"put action unknown guid", func(s *State) error { return s.PutFilterAction(FilterAction{GUID: "{X}", Name: "x"}) }, CodeGUIDNotFound},
		{"put action rename clash", func(s *State) error {
			a := action(s, "FreeAction")
			a.Name = "PERMIT"
			return s.PutFilterAction(a)
		}, CodeFilterActionExists},
		{"put rule no policy", func(s *State) error { return s.PutRule("nope", rule(s, "P", "R")) }, CodePolicyNotFound},
		{"put rule unknown guid", func(s *State) error {
			r := rule(s, "P", "R")
			r.GUID = "{X}"
			return s.PutRule("P", r)
		}, CodeGUIDNotFound},
		{"put rule other policy", func(s *State) error { return s.PutRule("Q", rule(s, "P", "R")) }, CodeGUIDNotFound},
		{"put rule rename clash", func(s *State) error {
			r := rule(s, "P", "R")
			r.Name = "s"
			return s.PutRule("P", r)
		}, CodeRuleExists},
		{"put rule dangling list", func(s *State) error {
			r := rule(s, "P", "R")
			r.FilterList = "{X}"
			return s.PutRule("P", r)
		}, CodeGUIDNotFound},
		{"put rule as default", func(s *State) error {
			r := rule(s, "P", "R")
			r.Default = true
			return s.PutRule("P", r)
		}, CodeInvalid},
		{"put default rule no policy", func(s *State) error { return s.PutDefaultRule("nope", Rule{}) }, CodePolicyNotFound},
		{"put default rule bad offer", func(s *State) error {
			r, _ := s.DefaultRule("P")
			r.QMOffers = []ipsec.QMOffer{{}}
			return s.PutDefaultRule("P", r)
		}, CodeInvalid},
		{"delete policy", func(s *State) error { return s.DeletePolicy("nope") }, CodePolicyNotFound},
		{"delete list missing", func(s *State) error { return s.DeleteFilterList("nope") }, CodeFilterListNotFound},
		{"delete list in use", func(s *State) error { return s.DeleteFilterList("all ip traffic") }, CodeFilterListInUse},
		{"delete action missing", func(s *State) error { return s.DeleteFilterAction("nope") }, CodeFilterActionNotFound},
		{"delete action in use", func(s *State) error { return s.DeleteFilterAction("permit") }, CodeFilterActionInUse},
		{"delete filter no list", func(s *State) error { _, err := s.DeleteFilter("nope", NewFilter(me, anyAddr)); return err }, CodeFilterListNotFound},
		{"delete filter no match", func(s *State) error { _, err := s.DeleteFilter("Free", NewFilter(me, anyAddr)); return err }, CodeNoMatchingFilter},
		{"delete rule no policy", func(s *State) error { return s.DeleteRule("nope", "R") }, CodePolicyNotFound},
		{"delete rule missing", func(s *State) error { return s.DeleteRule("P", "nope") }, CodeRuleNotFound},
		{"delete rule id missing", func(s *State) error { return s.DeleteRuleByID("P", 99) }, CodeRuleIDNotFound},
		{"delete default rule", func(s *State) error { return s.DeleteRuleByID("P", 0) }, CodeDefaultRule},
		{"delete rule id no policy", func(s *State) error { return s.DeleteRuleByID("nope", 1) }, CodePolicyNotFound},
		{"delete all rules no policy", func(s *State) error { _, err := s.DeleteAllRules("nope"); return err }, CodePolicyNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := setup(t)
			before, changes := s.Clone(), s.env.changes
			requireCode(t, tc.fn(s), tc.code)
			require.Equal(t, before, s.Clone(), "state changed by a failed operation")
			require.Equal(t, changes, s.env.changes, "failed operation counted as a change")
		})
	}
}

func TestInUseMessage(t *testing.T) {
	s := newState(t)
	err := s.DeleteFilterList(FilterListAllIP)
	require.EqualError(t, err, `ERR IPsec[05084] : Filter List "All IP Traffic" is used by rule "ID 1" in policy "Server (Request Security)" and cannot be deleted.`)
	_, err = s.AddPolicy(NewPolicy("P"))
	require.NoError(t, err)
	_, err = s.AddFilterAction(NewFilterAction("A"))
	require.NoError(t, err)
	_, err = s.AddRule("P", FilterListAllICMP, "a", NewRule("Mine"))
	require.NoError(t, err)
	err = s.DeleteFilterAction("A")
	require.EqualError(t, err, `ERR IPsec[05085] : Filter Action "A" is used by rule "Mine" in policy "P" and cannot be deleted.`)
}

func TestPut(t *testing.T) {
	clock := tickClock()
	s := Builtin(fixedClock)
	s.SetEnv(clock, (&guidGen{prefix: 2}).next)

	// Policy: rename and settings; identity kept even if the copy lies.
	p, err := s.Policy(PolicyServer)
	require.NoError(t, err)
	p.Name = "Renamed"
	p.Description = "new"
	p.MMPFS = true
	p.ISAKMPGUID = "{bogus}"
	p.DefaultRule.GUID = "{bogus}"
	require.NoError(t, s.PutPolicy(p))
	got, err := s.Policy("renamed")
	require.NoError(t, err)
	require.Equal(t, GUIDPolicyServer, got.GUID)
	require.Equal(t, GUIDISAKMPServer, got.ISAKMPGUID)
	require.Equal(t, GUIDDefaultRuleServer, got.DefaultRule.GUID)
	require.Equal(t, "new", got.Description)
	require.Equal(t, 1, got.QMPerMM)
	require.Equal(t, t0.Add(time.Second), got.Modified)
	_, err = s.Policy(PolicyServer)
	requireCode(t, err, CodePolicyNotFound)

	// Renaming to a different case of the same name is not a clash.
	got.Name = "RENAMED"
	require.NoError(t, s.PutPolicy(got))

	// Rule: switch the filter action; ID and GUID kept.
	r, err := s.RuleByID("renamed", 1)
	require.NoError(t, err)
	r.FilterAction = GUIDFilterActionPermit
	r.Name = "now named"
	r.ID = 77
	r.Active = false
	require.NoError(t, s.PutRule("Renamed", r))
	r2, err := s.Rule("renamed", "NOW NAMED")
	require.NoError(t, err)
	require.Equal(t, 1, r2.ID)
	require.Equal(t, GUIDFilterActionPermit, r2.FilterAction)
	require.False(t, r2.Active)
	pol, _ := s.Policy("renamed")
	require.Equal(t, r2.Modified, pol.Modified, "policy stamped with its rule")

	// Default rule: deactivate, new offers and auth; identity kept.
	d, err := s.DefaultRule("renamed")
	require.NoError(t, err)
	d.Active = false
	d.QMPFS = true
	d.QMOffers = []ipsec.QMOffer{{AH: ipsec.HashSHA1}}
	d.Auth = []ipsec.AuthMethod{{Kind: ipsec.AuthPSK, PSK: "secret"}}
	d.FilterList = GUIDFilterListAllIP // ignored
	d.ID = 5                           // ignored
	require.NoError(t, s.PutDefaultRule("renamed", d))
	d2, _ := s.DefaultRule("renamed")
	require.False(t, d2.Active)
	require.True(t, d2.QMPFS)
	require.Equal(t, d.QMOffers, d2.QMOffers)
	require.Equal(t, d.Auth, d2.Auth)
	require.Empty(t, d2.FilterList)
	require.Zero(t, d2.ID)
	require.Equal(t, GUIDDefaultRuleServer, d2.GUID)

	// Filter list and action.
	l, _ := s.FilterList(FilterListAllIP)
	l.Name = "Everything"
	l.Filters = append(l.Filters, NewFilter(me, ip("10.0.0.1")))
	require.NoError(t, s.PutFilterList(l))
	l2, err := s.FilterList("everything")
	require.NoError(t, err)
	require.Len(t, l2.Filters, 2)
	a, _ := s.FilterAction(FilterActionPermit)
	a.Action = ipsec.ActionBlock
	require.NoError(t, s.PutFilterAction(a))
	a2, _ := s.FilterActionByGUID(GUIDFilterActionPermit)
	require.Equal(t, ipsec.ActionBlock, a2.Action)
	requireInvariants(t, &s)
}

func TestCopiesDoNotAlias(t *testing.T) {
	s := newState(t)
	p, _ := s.Policy(PolicyServer)
	p.MMOffers[0].Cipher = ipsec.CipherAES256
	p.Rules[0].Auth[0].Kind = ipsec.AuthPSK
	p.DefaultRule.QMOffers[0].ESP = false
	l, _ := s.FilterList(FilterListAllIP)
	l.Filters[0].Protocol = ipsec.ProtoTCP
	a, _ := s.FilterAction(FilterActionRequireSecurity)
	a.Offers[0].ESPCipher = ipsec.CipherNone
	require.Equal(t, Builtin(fixedClock), s.Clone())

	// Input slices are not kept either.
	np := NewPolicy("P")
	added, err := s.AddPolicy(np)
	require.NoError(t, err)
	np.MMOffers[0].Cipher = ipsec.CipherAES256
	added.MMOffers[0].Cipher = ipsec.CipherAES256
	got, _ := s.Policy("P")
	require.Equal(t, ipsec.DefaultMMOffers, got.MMOffers)

	c := s.Clone()
	c.Policies[0].Rules[0].Auth[0].Kind = ipsec.AuthPSK
	c.FilterLists[0].Filters[0].Protocol = ipsec.ProtoUDP
	c.FilterActions[1].Offers[0].AH = ipsec.HashMD5
	require.Equal(t, ipsec.AuthKerberos, s.Policies[0].Rules[0].Auth[0].Kind)
	require.Equal(t, ipsec.ProtoICMP, s.FilterLists[0].Filters[0].Protocol)
	require.Equal(t, ipsec.HashNone, s.FilterActions[1].Offers[0].AH)
}

func TestDeletePolicy(t *testing.T) {
	s := newState(t)
	require.NoError(t, s.DeletePolicy("server (REQUEST security)"))
	_, err := s.Policy(PolicyServer)
	requireCode(t, err, CodePolicyNotFound)
	require.Len(t, s.Policies, 2)
	require.Len(t, s.FilterLists, 2, "lists stay")
	require.Len(t, s.FilterActions, 3, "actions stay")
	require.Equal(t, 2, s.DeleteAllPolicies())
	require.Empty(t, s.Policies)
	require.Zero(t, s.DeleteAllPolicies())
}

func TestDeleteFilterListAndAction(t *testing.T) {
	s := newState(t)
	// In use by both secured policies; free once they are gone.
	requireCode(t, s.DeleteFilterList(FilterListAllIP), CodeFilterListInUse)
	require.NoError(t, s.DeletePolicy(PolicyServer))
	requireCode(t, s.DeleteFilterList(FilterListAllIP), CodeFilterListInUse)
	require.NoError(t, s.DeletePolicy(PolicySecureServer))
	require.NoError(t, s.DeleteFilterList("ALL IP TRAFFIC"))
	require.NoError(t, s.DeleteFilterAction("require security"))
	_, err := s.FilterList(FilterListAllIP)
	requireCode(t, err, CodeFilterListNotFound)
	_, err = s.FilterAction(FilterActionRequireSecurity)
	requireCode(t, err, CodeFilterActionNotFound)

	// A rule in any policy counts, not only the default ones.
	_, err = s.AddRule(PolicyClient, FilterListAllICMP, FilterActionPermit, NewRule("x"))
	require.NoError(t, err)
	requireCode(t, s.DeleteFilterList(FilterListAllICMP), CodeFilterListInUse)
	requireCode(t, s.DeleteFilterAction(FilterActionPermit), CodeFilterActionInUse)
	require.NoError(t, s.DeleteRuleByID(PolicyClient, 1))
	require.NoError(t, s.DeleteFilterList(FilterListAllICMP))
	require.NoError(t, s.DeleteFilterAction(FilterActionPermit))
	requireInvariants(t, s)
}

func TestDeleteAllFilterListsAndActions(t *testing.T) {
	s := newState(t)
	_, err := s.AddFilterList(FilterList{Name: "free1"})
	require.NoError(t, err)
	_, err = s.AddFilterList(FilterList{Name: "free2"})
	require.NoError(t, err)
	_, err = s.AddFilterAction(NewFilterAction("freeA"))
	require.NoError(t, err)

	// Built-in lists are used by Server: kept and reported; free ones go.
	refused := s.DeleteAllFilterLists()
	require.Len(t, refused, 2)
	requireCode(t, refused[0], CodeFilterListInUse)
	require.Contains(t, refused[0].Msg, FilterListAllICMP)
	require.Contains(t, refused[1].Msg, FilterListAllIP)
	require.Equal(t, []string{FilterListAllICMP, FilterListAllIP}, listNames(s))

	refused = s.DeleteAllFilterActions()
	require.Len(t, refused, 3, "Permit, Request and Require Security are all used")
	requireCode(t, refused[0], CodeFilterActionInUse)
	require.Len(t, s.FilterActions, 3)
	requireInvariants(t, s)

	s.DeleteAllPolicies()
	require.Empty(t, s.DeleteAllFilterLists())
	require.Empty(t, s.DeleteAllFilterActions())
	require.Empty(t, s.FilterLists)
	require.Empty(t, s.FilterActions)
}

func listNames(s *State) []string {
	var names []string
	for _, l := range s.FilterLists {
		names = append(names, l.Name)
	}
	return names
}

func TestDeleteFilter(t *testing.T) {
	host := NewFilter(me, ip("10.0.0.1"))
	hostDescr := host
	hostDescr.Description = "same spec, other text"
	hostTCP := host
	hostTCP.Protocol = ipsec.ProtoTCP
	hostUnmirrored := host
	hostUnmirrored.Mirrored = false
	hostPort := host
	hostPort.DstPort = 80
	subnet := NewFilter(ip("10.0.0.0"), anyAddr)
	subnet.SrcMask = 8
	dnsName := NewFilter(me, ipsec.Address{Kind: ipsec.AddrDNSName, Name: "Host.Example", IP: netip.MustParseAddr("192.0.2.1")})

	all := []Filter{host, hostTCP, hostDescr, hostUnmirrored, hostPort, subnet, dnsName}
	for _, tc := range []struct {
		name string
		spec Filter
		n    int
		left []Filter
	}{
		{"every equal filter, description ignored", host, 2, []Filter{hostTCP, hostUnmirrored, hostPort, subnet, dnsName}},
		{"protocol", hostTCP, 1, []Filter{host, hostDescr, hostUnmirrored, hostPort, subnet, dnsName}},
		{"mirrored", hostUnmirrored, 1, []Filter{host, hostTCP, hostDescr, hostPort, subnet, dnsName}},
		{"port", hostPort, 1, []Filter{host, hostTCP, hostDescr, hostUnmirrored, subnet, dnsName}},
		{"mask", subnet, 1, []Filter{host, hostTCP, hostDescr, hostUnmirrored, hostPort, dnsName}},
		{"dns name by name, any case, any resolution",
			NewFilter(me, ipsec.Address{Kind: ipsec.AddrDNSName, Name: "host.example", IP: netip.MustParseAddr("192.0.2.99")}),
			1, []Filter{host, hostTCP, hostDescr, hostUnmirrored, hostPort, subnet}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newState(t)
			for _, f := range all {
				require.NoError(t, s.AddFilter("L", f))
			}
			n, err := s.DeleteFilter("l", tc.spec)
			require.NoError(t, err)
			require.Equal(t, tc.n, n)
			l, _ := s.FilterList("L")
			require.Equal(t, tc.left, l.Filters)
		})
	}

	t.Run("wrong mask does not match", func(t *testing.T) {
		s := newState(t)
		require.NoError(t, s.AddFilter("L", subnet))
		spec := subnet
		spec.SrcMask = 16
		_, err := s.DeleteFilter("L", spec)
		requireCode(t, err, CodeNoMatchingFilter)
	})
	t.Run("list left empty stays", func(t *testing.T) {
		s := newState(t)
		require.NoError(t, s.AddFilter("L", host))
		n, err := s.DeleteFilter("L", host)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		l, err := s.FilterList("L")
		require.NoError(t, err)
		require.Empty(t, l.Filters)
	})
}

func TestDeleteRules(t *testing.T) {
	s := newState(t)
	_, err := s.AddRule(PolicyServer, FilterListAllIP, FilterActionPermit, NewRule("Mine"))
	require.NoError(t, err)
	require.NoError(t, s.DeleteRule(PolicyServer, "MINE"))
	require.NoError(t, s.DeleteRuleByID(PolicyServer, 2))
	p, _ := s.Policy(PolicyServer)
	require.Len(t, p.Rules, 1)
	require.Equal(t, 1, p.Rules[0].ID)

	n, err := s.DeleteAllRules(PolicySecureServer)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	p, _ = s.Policy(PolicySecureServer)
	require.Empty(t, p.Rules)
	require.Equal(t, GUIDDefaultRuleSecureServer, p.DefaultRule.GUID, "default response rule kept")
	_, err = s.RuleByID(PolicySecureServer, 0)
	require.NoError(t, err)
}

func TestDeleteAll(t *testing.T) {
	s := newState(t)
	s.DeleteAll()
	require.Empty(t, s.Policies)
	require.Empty(t, s.FilterLists)
	require.Empty(t, s.FilterActions)
	// The store stays usable.
	_, err := s.AddPolicy(NewPolicy("P"))
	require.NoError(t, err)
	require.NoError(t, s.AddFilter("L", NewFilter(me, anyAddr)))
}

// TestOpsCountChanges checks that every mutating operation reports its
// change exactly once on success and never on failure: batch mode relies on
// it to skip rebuilding the in-memory State after a failed command.
func TestOpsCountChanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(s *State) error
	}{
		{"AddPolicy", func(s *State) error { _, err := s.AddPolicy(NewPolicy("n")); return err }},
		{"AddFilterList", func(s *State) error { _, err := s.AddFilterList(FilterList{Name: "n"}); return err }},
		{"AddFilterAction", func(s *State) error { _, err := s.AddFilterAction(NewFilterAction("n")); return err }},
		{"AddFilter existing", func(s *State) error { return s.AddFilter(FilterListAllIP, NewFilter(me, anyAddr)) }},
		{"AddFilter new list", func(s *State) error { return s.AddFilter("n", NewFilter(me, anyAddr)) }},
		{"AddRule", func(s *State) error {
			_, err := s.AddRule(PolicyClient, FilterListAllIP, FilterActionPermit, NewRule("n"))
			return err
		}},
		{"PutPolicy", func(s *State) error { p, _ := s.Policy(PolicyClient); return s.PutPolicy(p) }},
		{"PutFilterList", func(s *State) error { l, _ := s.FilterList(FilterListAllIP); return s.PutFilterList(l) }},
		{"PutFilterAction", func(s *State) error { a, _ := s.FilterAction(FilterActionPermit); return s.PutFilterAction(a) }},
		{"PutRule", func(s *State) error { r, _ := s.RuleByID(PolicyServer, 1); return s.PutRule(PolicyServer, r) }},
		{"PutDefaultRule", func(s *State) error { r, _ := s.DefaultRule(PolicyServer); return s.PutDefaultRule(PolicyServer, r) }},
		{"DeletePolicy", func(s *State) error { return s.DeletePolicy(PolicyClient) }},
		{"DeleteAllPolicies", func(s *State) error { s.DeleteAllPolicies(); return nil }},
		{"DeleteFilterList", func(s *State) error {
			if err := s.DeletePolicy(PolicyServer); err != nil {
				return err
			}
			return s.DeleteFilterList("x")
		}},
		{"DeleteAllFilterLists", func(s *State) error { s.DeleteAllFilterLists(); return nil }},
		{"DeleteFilterAction", func(s *State) error { return s.DeleteFilterAction("y") }},
		{"DeleteAllFilterActions", func(s *State) error { s.DeleteAllFilterActions(); return nil }},
		{"DeleteFilter", func(s *State) error {
			_, err := s.DeleteFilter(FilterListAllIP, NewFilter(me, anyAddr))
			return err
		}},
		{"DeleteRule", func(s *State) error { return s.DeleteRule(PolicyServer, "named") }},
		{"DeleteRuleByID", func(s *State) error { return s.DeleteRuleByID(PolicyServer, 1) }},
		{"DeleteAllRules", func(s *State) error { _, err := s.DeleteAllRules(PolicyServer); return err }},
		{"DeleteAll", func(s *State) error { s.DeleteAll(); return nil }},
		{"merge", func(s *State) error { in := Builtin(fixedClock); return s.merge(&in) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newState(t)
			_, err := s.AddFilterList(FilterList{Name: "x"})
			require.NoError(t, err)
			_, err = s.AddFilterAction(FilterAction{Name: "y", Action: ipsec.ActionBlock})
			require.NoError(t, err)
			require.NoError(t, s.AddFilter(FilterListAllIP, NewFilter(me, anyAddr)))
			_, err = s.AddRule(PolicyServer, FilterListAllIP, FilterActionPermit, NewRule("named"))
			require.NoError(t, err)
			before := s.env.changes
			require.NoError(t, tc.fn(s))
			// DeleteFilterList's setup deletes a policy first.
			want := before + 1
			if tc.name == "DeleteFilterList" {
				want++
			}
			require.Equal(t, want, s.env.changes)
		})
	}
}

// TestAddNamelessRules checks that rules without a name, like the built-in
// ones, can be added more than once and are told apart by ID.
func TestAddNamelessRules(t *testing.T) {
	st := Builtin(fixedClock)
	for i := 0; i < 2; i++ {
		_, err := st.AddRule(PolicyClient, FilterListAllIP, FilterActionPermit, NewRule(""))
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := st.Policy(PolicyClient)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 2 || p.Rules[0].ID != 1 || p.Rules[1].ID != 2 {
		t.Fatalf("rules = %+v", p.Rules)
	}
}
