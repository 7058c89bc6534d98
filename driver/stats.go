package driver

import "sync/atomic"

// Stats are the driver's counters. The first two blocks are its share of
// `netsh ipsec dynamic show stats type=ipsec` (reference section 5.9);
// Stats.IPsec maps them onto netsh's 21 lines. Byte counts are protected
// payload: the inner packet in tunnel mode, the bytes after the IP header
// in transport mode.
type Stats struct {
	// SA counts: a snapshot of the SAD and the acquires (statsmap.go).
	ActiveSecurityAssociations uint64 // installed SAs, each direction one
	PendingKeyOperations       uint64 // negotiate entries waiting for an SA
	KeyAdditions               uint64 // SAs added
	KeyDeletions               uint64 // SAs deleted, hard-expired or wiped by Close
	ActiveTunnels              uint64 // tunnel-mode outbound SAs

	BadSPIPackets              uint64 // ESP/AH with no SA for (SPI, destination, protocol)
	PacketsNotDecrypted        uint64 // SA found, packet unusable: malformed, bad padding, bad inner packet
	PacketsNotAuthenticated    uint64 // ICV (or GCM tag) mismatch
	PacketsWithReplayDetection uint64 // duplicate or behind the replay window
	ConfidentialBytesSent      uint64 // through ESP with encryption
	ConfidentialBytesReceived  uint64
	AuthenticatedBytesSent     uint64 // through AH, or ESP with integrity
	AuthenticatedBytesReceived uint64
	TransportBytesSent         uint64 // through transport-mode SAs
	TransportBytesReceived     uint64
	BytesSentInTunnels         uint64 // through tunnel-mode SAs
	BytesReceivedInTunnels     uint64

	// Packets moved.
	ProtectedPacketsSent     uint64
	ProtectedPacketsReceived uint64
	ClearPacketsSent         uint64 // permitted, unmatched or exempt
	ClearPacketsReceived     uint64 // the same, plus InPassAccepted

	// Policy drops.
	BlockedOutbound     uint64 // block entries, outbound
	BlockedInbound      uint64 // block entries, inbound
	ClearNegotiateDrops uint64 // cleartext inbound matching a negotiate entry without InPass
	InPassAccepted      uint64 // cleartext inbound accepted by InPass
	SelectorMismatches  uint64 // opened, but not the traffic of the SA's entry

	// Acquires and held packets.
	Acquires            uint64 // Acquire events raised
	AcquireQueueDrops   uint64 // held-packet queue full (per entry or in total)
	AcquireTimeoutDrops uint64 // held packets dropped on timeout, FailAcquire or Close

	// Other drops.
	ExpiredSADrops   uint64 // the packet that hit a hard byte limit, or raced a deletion
	SealFailures     uint64 // fragments in transport mode, packets too big, sequence space exhausted
	DummyPackets     uint64 // ESP Next Header 59 (RFC 4303 section 2.6)
	MalformedPackets uint64 // not IPv4, truncated, short headers, ESP/AH fragments
	SendErrors       uint64
	TUNWriteErrors   uint64

	// NAT-T port.
	KeepalivesReceived uint64
	KeepalivesSent     uint64 // RFC 3948 section 2.3
	IKEReceived        uint64
}

// counters are the live Stats, one atomic per field.
type counters struct {
	KeyAdditions, KeyDeletions atomic.Uint64

	BadSPIPackets, PacketsNotDecrypted, PacketsNotAuthenticated, PacketsWithReplayDetection atomic.Uint64
	ConfidentialBytesSent, ConfidentialBytesReceived                                        atomic.Uint64
	AuthenticatedBytesSent, AuthenticatedBytesReceived                                      atomic.Uint64
	TransportBytesSent, TransportBytesReceived                                              atomic.Uint64
	BytesSentInTunnels, BytesReceivedInTunnels                                              atomic.Uint64

	ProtectedPacketsSent, ProtectedPacketsReceived, ClearPacketsSent, ClearPacketsReceived atomic.Uint64

	BlockedOutbound, BlockedInbound, ClearNegotiateDrops, InPassAccepted, SelectorMismatches atomic.Uint64

	Acquires, AcquireQueueDrops, AcquireTimeoutDrops atomic.Uint64

	ExpiredSADrops, SealFailures, DummyPackets, MalformedPackets, SendErrors, TUNWriteErrors atomic.Uint64

	KeepalivesReceived, KeepalivesSent, IKEReceived atomic.Uint64
}

// Stats returns a snapshot of the counters; each is read atomically, the
// set is not a consistent cut.
func (d *Driver) Stats() Stats {
	c := &d.stats
	s := Stats{
		KeyAdditions: c.KeyAdditions.Load(),
		KeyDeletions: c.KeyDeletions.Load(),

		BadSPIPackets:              c.BadSPIPackets.Load(),
		PacketsNotDecrypted:        c.PacketsNotDecrypted.Load(),
		PacketsNotAuthenticated:    c.PacketsNotAuthenticated.Load(),
		PacketsWithReplayDetection: c.PacketsWithReplayDetection.Load(),
		ConfidentialBytesSent:      c.ConfidentialBytesSent.Load(),
		ConfidentialBytesReceived:  c.ConfidentialBytesReceived.Load(),
		AuthenticatedBytesSent:     c.AuthenticatedBytesSent.Load(),
		AuthenticatedBytesReceived: c.AuthenticatedBytesReceived.Load(),
		TransportBytesSent:         c.TransportBytesSent.Load(),
		TransportBytesReceived:     c.TransportBytesReceived.Load(),
		BytesSentInTunnels:         c.BytesSentInTunnels.Load(),
		BytesReceivedInTunnels:     c.BytesReceivedInTunnels.Load(),

		ProtectedPacketsSent:     c.ProtectedPacketsSent.Load(),
		ProtectedPacketsReceived: c.ProtectedPacketsReceived.Load(),
		ClearPacketsSent:         c.ClearPacketsSent.Load(),
		ClearPacketsReceived:     c.ClearPacketsReceived.Load(),

		BlockedOutbound:     c.BlockedOutbound.Load(),
		BlockedInbound:      c.BlockedInbound.Load(),
		ClearNegotiateDrops: c.ClearNegotiateDrops.Load(),
		InPassAccepted:      c.InPassAccepted.Load(),
		SelectorMismatches:  c.SelectorMismatches.Load(),

		Acquires:            c.Acquires.Load(),
		AcquireQueueDrops:   c.AcquireQueueDrops.Load(),
		AcquireTimeoutDrops: c.AcquireTimeoutDrops.Load(),

		ExpiredSADrops:   c.ExpiredSADrops.Load(),
		SealFailures:     c.SealFailures.Load(),
		DummyPackets:     c.DummyPackets.Load(),
		MalformedPackets: c.MalformedPackets.Load(),
		SendErrors:       c.SendErrors.Load(),
		TUNWriteErrors:   c.TUNWriteErrors.Load(),

		KeepalivesReceived: c.KeepalivesReceived.Load(),
		KeepalivesSent:     c.KeepalivesSent.Load(),
		IKEReceived:        c.IKEReceived.Load(),
	}
	d.saCounts(&s)
	return s
}

// protected counts one packet of n protected bytes through x.
func (c *counters) protected(x *xform, n int, sent bool) {
	b := uint64(n)
	if sent {
		c.ProtectedPacketsSent.Add(1)
		if x.confidential {
			c.ConfidentialBytesSent.Add(b)
		}
		if x.authenticated {
			c.AuthenticatedBytesSent.Add(b)
		}
		if x.mode == ModeTunnel {
			c.BytesSentInTunnels.Add(b)
		} else {
			c.TransportBytesSent.Add(b)
		}
		return
	}
	c.ProtectedPacketsReceived.Add(1)
	if x.confidential {
		c.ConfidentialBytesReceived.Add(b)
	}
	if x.authenticated {
		c.AuthenticatedBytesReceived.Add(b)
	}
	if x.mode == ModeTunnel {
		c.BytesReceivedInTunnels.Add(b)
	} else {
		c.TransportBytesReceived.Add(b)
	}
}
