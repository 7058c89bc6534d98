package driver

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/driver/ah"
	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/conn/conntest"
	"github.com/gonetsh/gonetsh/driver/esp"
	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// The AH SPIs of the bundles (the ESP ones are spiAB and spiBA).
const (
	spiAHAB = 0x1051
	spiAHBA = 0x2051
)

// bundleSuite is the ESP half of AH[SHA1]+ESP[3DES,SHA1] over a topology.
func bundleSuite(topo topology) suite {
	return suite{name: "AH-SHA1+ESP-3DES-SHA1", proto: ProtocolESP, cipher: ipsec.Cipher3DES, hash: ipsec.HashSHA1, topo: topo}
}

// ahParams returns the AH half of a bundle whose ESP SA is esp.
func (s suite) ahParams(ref uint64, spi uint32, espID sadb.ID) SAParams {
	return SAParams{
		Protocol: ProtocolAH, Mode: s.topo.mode, Hash: ipsec.HashSHA1,
		AuthKey: keyBytes(byte(spi>>4), esp.AuthKeyLen(ipsec.HashSHA1)),
		Ref:     ref, Bundle: espID,
	}
}

// installBundle installs both directions as AH+ESP bundles, the AH SA
// first from A to B and the ESP SA first from B to A.
func installBundle(t testing.TB, s suite, a, b *Driver) {
	t.Helper()
	topo := s.topo
	addBundle(t, s, a, b, s.abOut(), s.abIn(), spiAHAB, topo.aOut, topo.bIn, topo.aEnd, false)
	addBundle(t, s, b, a, s.baOut(), s.baIn(), spiAHBA, topo.bOut, topo.aIn, topo.bEnd, true)
}

// addBundle installs one direction of a bundle, from's outbound SAs and
// to's inbound ones: ESP under outID and inID (ESP SPI and keys from
// outID.SPI), AH with ahSPI; espFirst picks the order of the AddSA calls.
func addBundle(t testing.TB, s suite, from, to *Driver, outID, inID sadb.ID, ahSPI uint32, outRef, inRef uint64, local netip.Addr, espFirst bool) {
	t.Helper()
	ahOf := func(id sadb.ID) sadb.ID { id.SPI = ahSPI; return id }
	espOut, espIn := s.params(local, outRef, outID.SPI), s.params(netip.Addr{}, inRef, inID.SPI)
	espOut.Bundle, espIn.Bundle = ahOf(outID), ahOf(inID)
	for _, d := range []struct {
		d       *Driver
		id      sadb.ID
		esp, ah SAParams
	}{{to, inID, espIn, s.ahParams(inRef, ahSPI, inID)}, {from, outID, espOut, s.ahParams(outRef, ahSPI, outID)}} {
		if espFirst {
			require.NoError(t, d.d.AddSA(d.id, d.esp))
		}
		require.NoError(t, d.d.AddSA(ahOf(d.id), d.ah))
		if !espFirst {
			require.NoError(t, d.d.AddSA(d.id, d.esp))
		}
	}
}

// checkBundleWire checks a bundled wire packet: IPv4 protocol 51 between
// the endpoints, the AH SPI, ESP (Next Header 50) with the ESP SPI inside,
// no plaintext.
func checkBundleWire(t *testing.T, p conntest.Packet, src, dst netip.Addr, ahSPI, espSPI uint32, plain []byte) {
	t.Helper()
	require.Equal(t, conn.KindIP, p.Endpoint.Kind)
	ip := esp.IPv4(p.Data)
	require.True(t, ip.IsValid())
	require.Equal(t, src, ip.Src())
	require.Equal(t, dst, ip.Dst())
	require.Equal(t, byte(esp.ProtocolAH), ip.Protocol(), "AH outermost")
	h := ah.Header(ip.Payload())
	require.Equal(t, ahSPI, h.SPI())
	require.Equal(t, byte(esp.ProtocolESP), h.NextHeader(), "ESP inside AH")
	require.Equal(t, espSPI, esp.Header(ip.Payload()[24:]).SPI(), "ESP after a 24-byte AH (SHA1-96)")
	require.False(t, bytes.Contains(p.Data, plain[28:]), "the ICMP payload crossed the wire in clear")
}

// TestBundleRoundTrip: an echo and its reply through AH+ESP bundles in
// transport and tunnel mode arrive unchanged; on the wire AH is outermost
// with ESP inside and one IP header; the counters count each packet once
// and both SAs' byte lifetimes move.
func TestBundleRoundTrip(t *testing.T) {
	for _, topo := range []topology{hosts, gateways} {
		t.Run(topo.name, func(t *testing.T) {
			s := bundleSuite(topo)
			a, b, _ := newPair(t, nil)
			a.policy(t, topo.aSPD...)
			b.policy(t, topo.bSPD...)
			installBundle(t, s, a.d, b.d)

			req := echo(t, false, topo.aHost, topo.bHost, 1, 100)
			a.send(t, req)
			require.Equal(t, req, b.recv(t))
			rep := echo(t, true, topo.bHost, topo.aHost, 1, 100)
			b.send(t, rep)
			require.Equal(t, rep, a.recv(t))
			sent := a.sent.Packets()
			require.Len(t, sent, 1)
			checkBundleWire(t, sent[0], topo.aEnd, topo.bEnd, spiAHAB, spiAB, req)
			sent = b.sent.Packets()
			require.Len(t, sent, 1)
			checkBundleWire(t, sent[0], topo.bEnd, topo.aEnd, spiAHBA, spiBA, rep)

			st := a.d.Stats()
			require.Equal(t, uint64(1), st.ProtectedPacketsSent)
			require.Equal(t, uint64(1), st.ProtectedPacketsReceived)
			require.Equal(t, uint64(4), st.ActiveSecurityAssociations)
			require.Zero(t, st.BadSPIPackets+st.PacketsNotAuthenticated+st.PacketsNotDecrypted+st.SealFailures+st.SelectorMismatches)
			for _, id := range []sadb.ID{s.abOut(), {Dir: sadb.Outbound, SPI: spiAHAB, Dst: topo.bEnd}} {
				sa, ok := a.d.sad.Get(id)
				require.True(t, ok)
				require.NotZero(t, sa.Bytes(), "bytes charged to %v", id)
			}
		})
	}
}

// TestBundleTamperReplayStrip: a bundled packet with a flipped byte
// anywhere AH covers (in the ESP ciphertext here) fails AH; a replayed
// one is caught by AH's window; the intact ESP packet with its AH
// stripped is refused.
func TestBundleTamperReplayStrip(t *testing.T) {
	s := bundleSuite(hosts)
	a, b, _ := newPair(t, nil)
	a.policy(t, hosts.aSPD...)
	b.policy(t, hosts.bSPD...)
	installBundle(t, s, a.d, b.d)

	a.wire.SetHook(conntest.Tamper(conntest.All, 60))
	a.send(t, echo(t, false, hostA, hostB, 1, 64))
	b.stat(t, "PacketsNotAuthenticated", func(s Stats) uint64 { return s.PacketsNotAuthenticated }, 1)
	b.nothing(t)

	rec := &conntest.Recorder{Next: conntest.Duplicate(conntest.All)}
	a.wire.SetHook(rec.Hook)
	p := echo(t, false, hostA, hostB, 2, 64)
	a.send(t, p)
	require.Equal(t, p, b.recv(t))
	b.stat(t, "PacketsWithReplayDetection", func(s Stats) uint64 { return s.PacketsWithReplayDetection }, 1)
	b.nothing(t)

	// Strip the AH from a fresh packet: IP header, then the ESP packet.
	rec2 := &conntest.Recorder{Next: conntest.Drop(conntest.All)}
	a.wire.SetHook(rec2.Hook)
	a.send(t, echo(t, false, hostA, hostB, 3, 64))
	a.stat(t, "ProtectedPacketsSent", func(s Stats) uint64 { return s.ProtectedPacketsSent }, 3)
	got := rec2.Packets()
	require.Len(t, got, 1)
	w := got[0].Data
	stripped := append(append([]byte(nil), w[:20]...), w[20+24:]...)
	ip := esp.IPv4(stripped)
	ip.SetProtocol(esp.ProtocolESP)
	ip.SetTotalLength(uint16(len(stripped)))
	ip.UpdateChecksum()
	require.NoError(t, b.wire.Inject(conntest.Packet{Data: stripped, Endpoint: got[0].Endpoint}))
	b.stat(t, "PacketsNotAuthenticated", func(s Stats) uint64 { return s.PacketsNotAuthenticated }, 2)
	b.nothing(t)
}

// TestBundleHold: with only the AH SA of an outbound bundle installed the
// flow's packets wait (AH never goes alone); the ESP SA releases them
// inside the bundle.
func TestBundleHold(t *testing.T) {
	s := bundleSuite(hosts)
	a, b, _ := newPair(t, nil)
	a.policy(t, hosts.aSPD...)
	b.policy(t, hosts.bSPD...)
	ahOut := s.abOut()
	ahOut.SPI = spiAHAB
	require.NoError(t, a.d.AddSA(ahOut, s.ahParams(hosts.aOut, spiAHAB, s.abOut())))

	p := echo(t, false, hostA, hostB, 1, 64)
	a.send(t, p)
	a.acquire(t)
	a.held(t, 1)
	require.Empty(t, a.sent.Packets(), "AH alone on the wire")

	// B's side, then A's ESP: the held packet leaves as a bundle.
	ahIn := s.abIn()
	ahIn.SPI = spiAHAB
	require.NoError(t, b.d.AddSA(ahIn, s.ahParams(hosts.bIn, spiAHAB, s.abIn())))
	in := s.params(hostB, hosts.bIn, spiAB)
	in.Bundle = ahIn
	require.NoError(t, b.d.AddSA(s.abIn(), in))
	out := s.params(hostA, hosts.aOut, spiAB)
	out.Bundle = ahOut
	require.NoError(t, a.d.AddSA(s.abOut(), out))
	require.Equal(t, p, b.recv(t))
	a.held(t, 0)
	checkBundleWire(t, a.sent.Packets()[0], hostA, hostB, spiAHAB, spiAB, p)
}

// TestBundleParams: a bundle's halves must name each other, differ in
// protocol, share the Ref, direction and destination, and not use UDP.
func TestBundleParams(t *testing.T) {
	s := bundleSuite(hosts)
	a, _, _ := newPair(t, nil)
	ahOut := s.abOut()
	ahOut.SPI = spiAHAB
	require.NoError(t, a.d.AddSA(ahOut, s.ahParams(1, spiAHAB, s.abOut())))
	for _, tc := range []struct {
		name string
		edit func(*SAParams, *sadb.ID)
	}{
		{"other Ref", func(p *SAParams, _ *sadb.ID) { p.Ref = 2 }},
		{"not named back", func(p *SAParams, id *sadb.ID) { id.SPI = 0x1777 }},
		{"same protocol", func(p *SAParams, _ *sadb.ID) { *p = s.ahParams(1, spiAB, ahOut); p.Bundle = ahOut }},
		{"other direction", func(p *SAParams, _ *sadb.ID) { p.Bundle.Dir = sadb.Inbound }},
		{"UDP", func(p *SAParams, _ *sadb.ID) { p.Encap = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, id := s.params(hostA, 1, spiAB), s.abOut()
			p.Bundle = ahOut
			tc.edit(&p, &id)
			require.ErrorIs(t, a.d.AddSA(id, p), ErrSAParams)
		})
	}
}

// TestBundleAllocs: sealing and opening through a bundle does not
// allocate.
func TestBundleAllocs(t *testing.T) {
	s := bundleSuite(gateways)
	a, b := unstartedPair(t)
	a.policy(t, gateways.aSPD...)
	b.policy(t, gateways.bSPD...)
	installBundle(t, s, a.d, b.d)
	pkt := echo(t, false, gateways.aHost, gateways.bHost, 1, 1372)
	wire := sealN(t, a.d, pkt, allocRuns+1)
	buf := make([]byte, bufSize)
	require.Zero(t, testing.AllocsPerRun(allocRuns, func() {
		copy(buf[headroom:], pkt)
		if _, _, ok := a.d.outbound(buf, len(pkt)); !ok {
			t.Fatal("packet dropped")
		}
	}), "outbound")
	i := 0
	require.Zero(t, testing.AllocsPerRun(allocRuns, func() {
		w := wire[i]
		i++
		if _, ok := b.d.inbound(w.data, &w.ep); !ok {
			t.Fatal("packet dropped")
		}
	}), "inbound")
}
