package render

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/ipsec"
)

// The paths the golden transcripts (built-in policies only) do not reach:
// tunnel filters, literal prefixes, PSK and root CA authentication, AH
// offers, PFS groups and empty sections.

func TestDynamicQMFilterTunnel(t *testing.T) {
	f := ipsec.QMFilter{
		Name:     "T (1)",
		Selector: ipsec.Selector{Src: netip.MustParsePrefix("10.1.0.0/16"), Dst: netip.MustParsePrefix("10.2.3.4/32"), Protocol: ipsec.ProtoTCP, DstPort: 80},
		SrcAddr:  ipsec.Address{Kind: ipsec.AddrIP, IP: netip.MustParseAddr("10.1.0.0")},
		DstAddr:  ipsec.Address{Kind: ipsec.AddrIP, IP: netip.MustParseAddr("10.2.3.4")},
		Tunnel:   netip.MustParseAddr("203.0.113.9"), Direction: ipsec.Outbound, ConnType: ipsec.ConnLAN,
		InboundAction: ipsec.ActionNegotiate, OutboundAction: ipsec.ActionNegotiate, QMPolicy: "QP", Weight: 12434,
	}
	var b bytes.Buffer
	require.NoError(t, QMFilters(&b, nil, []ipsec.QMFilter{f}, FilterSections{Specific: true}))
	require.Equal(t, `
Specific Filters
----------------

Filter name            : T (1)
Connection Type        : LAN
Source Address         : 10.1.0.0 (255.255.0.0)
Destination Address    : 10.2.3.4 (255.255.255.255)
Protocol               : TCP
Source Port            : ANY
Destination Port       : 80
Tunnel Destination     : 203.0.113.9
Direction              : Outbound
Inbound Action         : NEGOTIATE
Outbound Action        : NEGOTIATE
Mirrored               : NO
Policy name            : QP
Weight                 : 12434

1 Specific Filter(s)
`, b.String())
}

func TestDynamicMMFilterAuth(t *testing.T) {
	f := ipsec.MMFilter{
		Name: "R (1)", Generic: true, ConnType: ipsec.ConnAll, Direction: ipsec.Inbound, MMPolicy: "P",
		SrcAddr: ipsec.Address{Kind: ipsec.AddrDNS}, DstAddr: ipsec.Address{Kind: ipsec.AddrMe},
		Auth: []ipsec.AuthMethod{{Kind: ipsec.AuthPSK, PSK: "secret"}, {Kind: ipsec.AuthRootCA, CA: "CN=Root"}, {Kind: ipsec.AuthKerberos}},
	}
	var b bytes.Buffer
	require.NoError(t, MMFilters(&b, []ipsec.MMFilter{f}, nil, FilterSections{Generic: true, Specific: true}))
	require.Equal(t, `
Generic Filters
---------------

Filter name            : R (1)
Connection Type        : ALL
Source Address         : <DNS Servers>
Destination Address    : <My IP Address>
Direction              : Inbound
Policy name            : P
Auth Methods           : Preshared key, Root CA (CN=Root), Kerberos

1 Generic Filter(s)

Specific Filters
----------------

0 Specific Filter(s)
`, b.String())
	require.NotContains(t, b.String(), "secret", "key material is never shown")
}

func TestDynamicQMPolicyOffers(t *testing.T) {
	pols := []ipsec.QMPolicy{
		{Name: "A", PFS: true, PFSGroup: ipsec.DHGroup14, Offers: []ipsec.QMOffer{
			{AH: ipsec.HashSHA1, LifeKB: 50000, LifeSec: 900},
			{AH: ipsec.HashMD5, ESP: true, ESPCipher: ipsec.CipherDES, ESPAuth: ipsec.HashNone},
		}},
		{Name: "B", PFS: true, Offers: []ipsec.QMOffer{{ESP: true, ESPCipher: ipsec.Cipher3DES, ESPAuth: ipsec.HashSHA1}}},
	}
	var b bytes.Buffer
	require.NoError(t, QMPolicies(&b, pols))
	require.Equal(t, `
Policy Name            : A

Encryption  Integrity  AH    Lifetime (Kbytes/secs)  PFS DH Group
----------  ---------  ----  ----------------------  ------------
None        None       SHA1  50000/900               DH2048(3)
DES         None       MD5   100000/3600             DH2048(3)

Policy Name            : B

Encryption  Integrity  AH    Lifetime (Kbytes/secs)  PFS DH Group
----------  ---------  ----  ----------------------  ------------
3DES        SHA1       None  100000/3600             Main Mode
`, b.String())
}

func TestDynamicRulesAndSAHeading(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, DynamicRules(&b, nil))
	require.Equal(t, "\n0 Rule(s)\n", b.String())
	b.Reset()
	require.NoError(t, DynamicRules(&b, []RuleFilters{{Tunnel: true}}))
	require.Equal(t, "\nTunnel Rule\n-----------\n\n1 Rule(s)\n", b.String())
	b.Reset()
	require.NoError(t, SAHeading(&b, true))
	require.Equal(t, "\nMain Mode SAs\n=============\n", b.String())
}
