package render

import (
	"net/netip"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

// Fixture times are fixed; Windows-like objects use fixedTime.
var (
	fixedTime = time.Date(2026, 11, 27, 9, 5, 7, 0, time.UTC)
	laterTime = time.Date(2026, 11, 27, 14, 30, 0, 0, time.UTC)
)

const testHost = "GONETSH-HOST"

func wk(prefix string) store.GUID { return store.GUID("{" + prefix + "-70FA-11D1-864C-14A300000000}") }

var (
	guidAllICMP  = wk("72385235")
	guidAllIP    = wk("7238523A")
	guidPermit   = wk("7238523B")
	guidRequest  = wk("72385233")
	guidRequire  = wk("7238523F")
	guidBlockAll = store.GUID("{0B1C2D3E-4F50-4617-8899-AABBCCDDEEFF}")
	guidTunnelFA = store.GUID("{1A2B3C4D-5E6F-4071-8293-A4B5C6D7E8F9}")
	guidWebList  = store.GUID("{9F8E7D6C-5B4A-4039-8271-605F4E3D2C1B}")
)

func me() ipsec.Address   { return ipsec.Address{Kind: ipsec.AddrMe} }
func any4() ipsec.Address { return ipsec.Address{Kind: ipsec.AddrAny} }
func ip(s string) ipsec.Address {
	return ipsec.Address{Kind: ipsec.AddrIP, IP: netip.MustParseAddr(s)}
}

func esp(c ipsec.Cipher, h ipsec.Hash) ipsec.QMOffer {
	return ipsec.QMOffer{ESP: true, ESPCipher: c, ESPAuth: h}
}

var kerberos = []ipsec.AuthMethod{{Kind: ipsec.AuthKerberos}}

func defaultRule(guid string, active bool) store.Rule {
	return store.Rule{
		GUID: store.GUID(guid), ID: DefaultRuleID, Default: true,
		ConnType: ipsec.ConnAll, Active: active, Auth: kerberos,
		QMOffers: append([]ipsec.QMOffer(nil), ipsec.DefaultQMOffers...),
		Modified: fixedTime,
	}
}

func builtinPolicy(name, guid, isakmp, desc string, dr store.Rule, rules ...store.Rule) store.Policy {
	return store.Policy{
		GUID: wk(guid), Name: name, Description: desc,
		PollingInterval: 180, MMLifetime: 480,
		MMOffers:    append([]ipsec.MMOffer(nil), ipsec.DefaultMMOffers...),
		ISAKMPGUID:  wk(isakmp),
		DefaultRule: dr, Rules: rules, Modified: fixedTime,
	}
}

func builtinRule(guid string, id int, fl, fa store.GUID) store.Rule {
	return store.Rule{
		GUID: wk(guid), ID: id, FilterList: fl, FilterAction: fa,
		ConnType: ipsec.ConnAll, Active: true, Auth: kerberos, Modified: fixedTime,
	}
}

// builtinState is a store like a fresh Windows Server 2003 local store
// (reference 4.1-4.3): three policies, two filter lists, three filter
// actions. Descriptions are paraphrases; the GUID mapping of lists and
// actions is this fixture's guess.
func builtinState() *store.State {
	return &store.State{
		Policies: []store.Policy{
			builtinPolicy("Client (Respond Only)", "72385236", "72385237",
				"Communicate normally (unsecured). Use the default response rule to negotiate with servers that request security.",
				defaultRule("{59319BF0-5EE3-11D2-ACE8-0060B0ECCA17}", true)),
			builtinPolicy("Secure Server (Require Security)", "7238523C", "7238523D",
				"For all IP traffic, always require security using Kerberos trust. Do not allow unsecured communication with untrusted clients.",
				defaultRule("{59319C01-5EE3-11D2-ACE8-0060B0ECCA17}", true),
				builtinRule("7238523E", 1, guidAllIP, guidRequire),
				builtinRule("72385238", 2, guidAllICMP, guidPermit)),
			builtinPolicy("Server (Request Security)", "72385230", "72385231",
				"For all IP traffic, always request security using Kerberos trust. Allow unsecured communication with clients that do not respond.",
				defaultRule("{59319BDF-5EE3-11D2-ACE8-0060B0ECCA17}", true),
				builtinRule("72385232", 1, guidAllIP, guidRequest),
				builtinRule("72385234", 2, guidAllICMP, guidPermit)),
		},
		FilterLists: []store.FilterList{
			{GUID: guidAllICMP, Name: "All ICMP Traffic",
				Description: "Matches all ICMP packets between this computer and any other computer.",
				Filters:     []store.Filter{{Mirrored: true, Src: me(), SrcMask: 32, Dst: any4(), DstMask: 0, Protocol: ipsec.ProtoICMP}},
				Modified:    fixedTime},
			{GUID: guidAllIP, Name: "All IP Traffic",
				Description: "Matches all IP packets from this computer to any other computer, except broadcast, multicast, Kerberos, RSVP and ISAKMP (IKE).",
				Filters:     []store.Filter{{Mirrored: true, Src: me(), SrcMask: 32, Dst: any4(), DstMask: 0, Protocol: ipsec.ProtoAny}},
				Modified:    fixedTime},
		},
		FilterActions: []store.FilterAction{
			{GUID: guidPermit, Name: "Permit", Description: "Permit unsecured IP packets to pass through.",
				Action: ipsec.ActionPermit, Modified: fixedTime},
			{GUID: guidRequest, Name: "Request Security (Optional)",
				Description: "Accepts unsecured communication, but requests clients to establish trust and security methods.",
				Action:      ipsec.ActionNegotiate, InPass: true, Soft: true,
				Offers: []ipsec.QMOffer{
					esp(ipsec.Cipher3DES, ipsec.HashSHA1), esp(ipsec.Cipher3DES, ipsec.HashMD5),
					esp(ipsec.CipherDES, ipsec.HashSHA1), esp(ipsec.CipherDES, ipsec.HashMD5),
					{AH: ipsec.HashSHA1}, {AH: ipsec.HashMD5},
				},
				Modified: fixedTime},
			{GUID: guidRequire, Name: "Require Security",
				Description: "Accepts unsecured communication, but always requires clients to establish trust and security methods.",
				Action:      ipsec.ActionNegotiate, InPass: true,
				Offers:   append([]ipsec.QMOffer(nil), ipsec.DefaultQMOffers...),
				Modified: fixedTime},
		},
	}
}

// fullState is builtinState plus objects that exercise every field: names
// with spaces and '=', DNS names, server types, ports, lifetimes, tunnels,
// all authentication kinds, an inactive rule and an assigned policy.
func fullState() *store.State {
	st := builtinState()
	st.FilterLists = append(st.FilterLists, store.FilterList{
		GUID: guidWebList, Name: "Web Servers=DMZ",
		Filters: []store.Filter{
			{Description: "HTTPS in", Mirrored: true, Src: ip("10.1.2.0"), SrcMask: 24, Dst: me(), DstMask: 32,
				Protocol: ipsec.ProtoTCP, DstPort: 443},
			{Src: me(), SrcMask: 32,
				Dst:     ipsec.Address{Kind: ipsec.AddrDNSName, Name: "wsus.example.com", IP: netip.MustParseAddr("192.0.2.10")},
				DstMask: 32, Protocol: ipsec.ProtoTCP, SrcPort: 1024, DstPort: 8530},
			{Description: "Name resolution", Mirrored: true, Src: me(), SrcMask: 32,
				Dst: ipsec.Address{Kind: ipsec.AddrDNS}, DstMask: 32, Protocol: ipsec.ProtoUDP, DstPort: 53},
			{Description: "GRE from anywhere to the branch gateway of the far-away office", Mirrored: true,
				Src: ip("0.0.0.0"), SrcMask: 0, Dst: ip("203.0.113.7"), DstMask: 32, Protocol: 47},
		},
		Modified: laterTime,
	})
	st.FilterActions = append(st.FilterActions,
		store.FilterAction{GUID: guidBlockAll, Name: "Block All", Description: "Drop it",
			Action: ipsec.ActionBlock, Modified: laterTime},
		store.FilterAction{GUID: guidTunnelFA, Name: "ESP Tunnel", Action: ipsec.ActionNegotiate, QMPFS: true,
			Offers: []ipsec.QMOffer{
				{ESP: true, ESPCipher: ipsec.Cipher3DES, ESPAuth: ipsec.HashSHA1, LifeKB: 100000, LifeSec: 900},
				{AH: ipsec.HashMD5, ESP: true, ESPCipher: ipsec.CipherDES, ESPAuth: ipsec.HashSHA1, LifeKB: 30000, LifeSec: 480},
				{AH: ipsec.HashSHA1, LifeKB: 20480},
				{ESP: true, ESPCipher: ipsec.CipherDES, ESPAuth: ipsec.HashMD5, LifeSec: 600},
			},
			Modified: laterTime},
	)
	st.Policies = append(st.Policies, store.Policy{
		GUID: "{C0FFEE00-1234-4567-89AB-CDEF01234567}", Name: "Site Link Policy",
		Description: "Tunnel to the branch office", Assigned: true,
		PollingInterval: 30, MMPFS: true, QMPerMM: 1, MMLifetime: 60,
		MMOffers: []ipsec.MMOffer{
			{Cipher: ipsec.Cipher3DES, Hash: ipsec.HashSHA1, Group: ipsec.DHGroup14},
			{Cipher: ipsec.CipherDES, Hash: ipsec.HashMD5, Group: ipsec.DHGroup2},
		},
		ISAKMPGUID: "{C0FFEE01-1234-4567-89AB-CDEF01234567}",
		DefaultRule: store.Rule{
			GUID: "{C0FFEE02-1234-4567-89AB-CDEF01234567}", ID: DefaultRuleID, Default: true,
			ConnType: ipsec.ConnAll, QMPFS: true,
			QMOffers: []ipsec.QMOffer{esp(ipsec.Cipher3DES, ipsec.HashSHA1)},
			Auth:     []ipsec.AuthMethod{{Kind: ipsec.AuthPSK, PSK: "fallback"}},
			Modified: laterTime,
		},
		Rules: []store.Rule{
			{GUID: "{C0FFEE03-1234-4567-89AB-CDEF01234567}", ID: 1, Name: "Branch tunnel",
				FilterList: guidWebList, FilterAction: guidTunnelFA, Tunnel: ip("198.51.100.1"),
				ConnType: ipsec.ConnLAN, Active: true,
				Auth: []ipsec.AuthMethod{
					{Kind: ipsec.AuthPSK, PSK: "my shared key"},
					{Kind: ipsec.AuthRootCA, CA: `C=US,O=Example,CN="Example Root CA"`, CertMap: true},
					{Kind: ipsec.AuthKerberos},
				},
				Modified: laterTime},
			{GUID: "{C0FFEE04-1234-4567-89AB-CDEF01234567}", ID: 2, Name: "Block=web", Description: "Not used",
				FilterList: guidAllIP, FilterAction: guidBlockAll,
				Tunnel:   ipsec.Address{Kind: ipsec.AddrDNSName, Name: "gw.example.net"},
				ConnType: ipsec.ConnDialup, Modified: laterTime},
		},
		Modified: laterTime,
	})
	return st
}
