package ipsec

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStrings(t *testing.T) {
	require.Equal(t, "3DES-SHA1-3", MMOffer{Cipher3DES, HashSHA1, DHGroup14}.String())
	require.Equal(t, "DES-MD5-1", MMOffer{CipherDES, HashMD5, DHGroup1}.String())
	require.Equal(t, "AES256-SHA256-20", MMOffer{CipherAES256, HashSHA256, DHGroup20}.String())
	require.Equal(t, "DH2048(3)", DHGroup14.DisplayName())

	require.Equal(t, "ESP[3DES,SHA1]", QMOffer{ESP: true, ESPCipher: Cipher3DES, ESPAuth: HashSHA1}.String())
	require.Equal(t, "AH[MD5]:204800k/300s", QMOffer{AH: HashMD5, LifeKB: 204800, LifeSec: 300}.String())
	require.Equal(t, "AH[SHA1]+ESP[None,MD5]:30000k", QMOffer{AH: HashSHA1, ESP: true, ESPAuth: HashMD5, LifeKB: 30000}.String())
	require.Equal(t, "ESP[AESGCM128,None]:900s", QMOffer{ESP: true, ESPCipher: CipherAESGCM128, LifeSec: 900}.String())

	for p, want := range map[Protocol]string{ProtoAny: "ANY", ProtoICMP: "ICMP", ProtoTCP: "TCP", ProtoUDP: "UDP", ProtoRAW: "RAW", 47: "47"} {
		require.Equal(t, want, p.String())
	}
	require.True(t, ProtoUDP.HasPorts())
	require.False(t, ProtoICMP.HasPorts())
}

func TestMaskAndAddress(t *testing.T) {
	for m, want := range map[Mask]string{0: "0.0.0.0", 8: "255.0.0.0", 20: "255.255.240.0", 32: "255.255.255.255"} {
		require.Equal(t, want, m.Dotted())
	}
	ip := Address{Kind: AddrIP, IP: netip.MustParseAddr("10.0.0.1")}
	zero := Address{Kind: AddrIP, IP: netip.IPv4Unspecified()}
	require.Equal(t, Mask(32), DefaultMask(ip))
	require.Equal(t, Mask(0), DefaultMask(zero))
	require.Equal(t, Mask(0), DefaultMask(Address{Kind: AddrAny}))
	require.Equal(t, "<Any IP Address>", zero.Display(0))
	require.Equal(t, "0.0.0.0", zero.Display(32))
	require.Equal(t, "<My IP Address>", Address{Kind: AddrMe}.Display(32))
	require.Equal(t, "<Default Gateway>", Address{Kind: AddrGateway}.Display(32))
	dns := Address{Kind: AddrDNSName, Name: "wsus.example.test", IP: netip.MustParseAddr("192.0.2.10")}
	require.Equal(t, "192.0.2.10", dns.Display(32))
	require.Equal(t, "wsus.example.test", dns.String())
	require.False(t, Address{}.IsValid())
	require.True(t, AddrWINS.IsServerType())
	require.False(t, AddrMe.IsServerType())
}
