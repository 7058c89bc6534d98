package driver

import (
	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// saCounts fills the SA-count lines of s from the SAD and the pending
// acquires.
func (d *Driver) saCounts(s *Stats) {
	d.sas.mu.Lock()
	for id, x := range d.sas.byID {
		s.ActiveSecurityAssociations++
		if id.Dir == sadb.Outbound && x.mode == ModeTunnel {
			s.ActiveTunnels++
		}
	}
	d.sas.mu.Unlock()
	d.pending.mu.Lock()
	s.PendingKeyOperations = uint64(len(d.pending.flows))
	d.pending.mu.Unlock()
}

// IPsec maps s onto the 21 counters of `netsh ipsec dynamic show stats
// type=ipsec` (reference section 5.9):
//
//   - Active Security Associations: the SAs installed now, each direction
//     counting one;
//   - Pending Key Operations: the negotiate entries with packets held for
//     an SA (Acquires not yet answered by AddSA, FailAcquire or the
//     timeout);
//   - Key Additions and Key Deletions: SAs added, and SAs removed by
//     DeleteSA, hard expiry or Close;
//   - Active Tunnels: the tunnel-mode outbound SAs, one per tunnel and
//     direction out;
//   - Bad SPI Packets, Packets Not Decrypted, Packets Not Authenticated,
//     Packets With Replay Detection and the eight byte counters: the data
//     path's counters of the same name (protected payload bytes, see
//     Stats).
//
// Always zero: Offloaded Security Associations and Offloaded Bytes
// Sent/Received (no NIC offload: every packet is processed in the
// driver), and Rekeys, which the driver cannot tell from a new SA: only
// the negotiator knows that an SA replaces another, and may fill it in.
func (s Stats) IPsec() ipsec.IPsecStats {
	return ipsec.IPsecStats{
		ActiveSecurityAssociations: s.ActiveSecurityAssociations,
		PendingKeyOperations:       s.PendingKeyOperations,
		KeyAdditions:               s.KeyAdditions,
		KeyDeletions:               s.KeyDeletions,
		ActiveTunnels:              s.ActiveTunnels,
		BadSPIPackets:              s.BadSPIPackets,
		PacketsNotDecrypted:        s.PacketsNotDecrypted,
		PacketsNotAuthenticated:    s.PacketsNotAuthenticated,
		PacketsWithReplayDetection: s.PacketsWithReplayDetection,
		ConfidentialBytesSent:      s.ConfidentialBytesSent,
		ConfidentialBytesReceived:  s.ConfidentialBytesReceived,
		AuthenticatedBytesSent:     s.AuthenticatedBytesSent,
		AuthenticatedBytesReceived: s.AuthenticatedBytesReceived,
		TransportBytesSent:         s.TransportBytesSent,
		TransportBytesReceived:     s.TransportBytesReceived,
		BytesSentInTunnels:         s.BytesSentInTunnels,
		BytesReceivedInTunnels:     s.BytesReceivedInTunnels,
	}
}
