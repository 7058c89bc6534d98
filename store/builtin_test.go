package store

import (
	"testing"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/stretchr/testify/require"
)

func TestBuiltin(t *testing.T) {
	s := Builtin(fixedClock)
	requireInvariants(t, &s)

	kerb := []ipsec.AuthMethod{{Kind: ipsec.AuthKerberos}}
	type ruleWant struct {
		id           int
		list, action GUID
	}
	for _, tc := range []struct {
		name, isakmp, def GUID
		policy            string
		rules             []ruleWant
	}{
		{GUIDPolicyServer, GUIDISAKMPServer, GUIDDefaultRuleServer, PolicyServer, []ruleWant{
			{1, GUIDFilterListAllIP, GUIDFilterActionRequestSecurity},
			{2, GUIDFilterListAllICMP, GUIDFilterActionPermit},
		}},
		{GUIDPolicyClient, GUIDISAKMPClient, GUIDDefaultRuleClient, PolicyClient, nil},
		{GUIDPolicySecureServer, GUIDISAKMPSecureServer, GUIDDefaultRuleSecureServer, PolicySecureServer, []ruleWant{
			{1, GUIDFilterListAllIP, GUIDFilterActionRequireSecurity},
			{2, GUIDFilterListAllICMP, GUIDFilterActionPermit},
		}},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			p, err := s.PolicyByGUID(tc.name)
			require.NoError(t, err)
			require.Equal(t, tc.policy, p.Name)
			require.Equal(t, tc.isakmp, p.ISAKMPGUID)
			require.NotEmpty(t, p.Description)
			require.False(t, p.Assigned)
			require.Equal(t, 480, p.MMLifetime)
			require.Equal(t, 180, p.PollingInterval)
			require.Zero(t, p.QMPerMM)
			require.False(t, p.MMPFS)
			require.Equal(t, ipsec.DefaultMMOffers, p.MMOffers)
			require.Equal(t, t0, p.Modified)

			d := p.DefaultRule
			require.Equal(t, tc.def, d.GUID)
			require.True(t, d.Default)
			require.True(t, d.Active)
			require.Equal(t, kerb, d.Auth)
			require.Equal(t, ipsec.DefaultQMOffers, d.QMOffers)

			require.Len(t, p.Rules, len(tc.rules))
			for i, w := range tc.rules {
				r := p.Rules[i]
				require.Equal(t, w.id, r.ID)
				require.Equal(t, w.list, r.FilterList)
				require.Equal(t, w.action, r.FilterAction)
				require.Equal(t, kerb, r.Auth)
				require.True(t, r.Active)
				require.Equal(t, ipsec.ConnAll, r.ConnType)
				require.False(t, r.Tunnel.IsValid(), "transport mode")
				require.Empty(t, r.Name)
				require.Regexp(t, `^\{[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}\}$`, string(r.GUID))
			}
		})
	}
	require.Equal(t, []string{PolicyServer, PolicyClient, PolicySecureServer},
		[]string{s.Policies[0].Name, s.Policies[1].Name, s.Policies[2].Name})

	// Derived rule GUIDs are distinct and stable.
	seen := map[GUID]bool{}
	for _, p := range s.Policies {
		for _, r := range p.Rules {
			require.False(t, seen[r.GUID])
			seen[r.GUID] = true
		}
	}
	require.Equal(t, Builtin(nil).Policies[0].Rules[1].GUID, s.Policies[0].Rules[1].GUID)

	for _, tc := range []struct {
		guid  GUID
		name  string
		proto ipsec.Protocol
	}{
		{GUIDFilterListAllIP, FilterListAllIP, ipsec.ProtoAny},
		{GUIDFilterListAllICMP, FilterListAllICMP, ipsec.ProtoICMP},
	} {
		l, err := s.FilterListByGUID(tc.guid)
		require.NoError(t, err)
		require.Equal(t, tc.name, l.Name)
		require.NotEmpty(t, l.Description)
		require.Equal(t, []Filter{{
			Mirrored: true,
			Src:      me, SrcMask: 32,
			Dst: anyAddr, DstMask: 0,
			Protocol: tc.proto,
		}}, l.Filters)
	}

	for _, tc := range []struct {
		guid         GUID
		name         string
		action       ipsec.Action
		inpass, soft bool
		offers       []ipsec.QMOffer
	}{
		{GUIDFilterActionPermit, FilterActionPermit, ipsec.ActionPermit, false, false, nil},
		{GUIDFilterActionRequestSecurity, FilterActionRequestSecurity, ipsec.ActionNegotiate, true, true,
			append(append([]ipsec.QMOffer{}, ipsec.DefaultQMOffers...), ipsec.QMOffer{AH: ipsec.HashSHA1}, ipsec.QMOffer{AH: ipsec.HashMD5})},
		{GUIDFilterActionRequireSecurity, FilterActionRequireSecurity, ipsec.ActionNegotiate, true, false, ipsec.DefaultQMOffers},
	} {
		a, err := s.FilterActionByGUID(tc.guid)
		require.NoError(t, err)
		require.Equal(t, tc.name, a.Name)
		require.NotEmpty(t, a.Description)
		require.Equal(t, tc.action, a.Action)
		require.Equal(t, tc.inpass, a.InPass)
		require.Equal(t, tc.soft, a.Soft)
		require.False(t, a.QMPFS)
		require.Equal(t, tc.offers, a.Offers)
	}

	// Every built-in object passes the same validation as user objects.
	for i := range s.Policies {
		p := s.Policies[i]
		require.NoError(t, s.validatePolicy(&p, i))
	}
	for i := range s.FilterLists {
		require.NoError(t, s.validateFilterList(&s.FilterLists[i], i))
	}
	for i := range s.FilterActions {
		require.NoError(t, s.validateFilterAction(&s.FilterActions[i], i))
	}
}

func TestBuiltinIndependent(t *testing.T) {
	a, b := Builtin(fixedClock), Builtin(fixedClock)
	a.Policies[0].MMOffers[0].Cipher = ipsec.CipherAES128
	a.FilterActions[2].Offers[0].ESPAuth = ipsec.HashMD5
	require.Equal(t, ipsec.DefaultMMOffers[0], b.Policies[0].MMOffers[0])
	require.Equal(t, ipsec.Cipher3DES, ipsec.DefaultMMOffers[0].Cipher, "package defaults untouched")
	require.Equal(t, ipsec.HashSHA1, ipsec.DefaultQMOffers[0].ESPAuth)
}

func TestGUIDs(t *testing.T) {
	g := RandomGUID()
	require.Regexp(t, `^\{[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}\}$`, string(g))
	require.NotEqual(t, g, RandomGUID())
	require.True(t, GUID("{ab-CD}").Equal("{AB-cd}"))
	require.Equal(t, derivedGUID("x"), derivedGUID("x"))
	require.NotEqual(t, derivedGUID("x"), derivedGUID("y"))
}
