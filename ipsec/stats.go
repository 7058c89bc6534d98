package ipsec

// IKEStats are the IKE (main mode) counters of `show stats type=ike`
// (reference 5.9), in the order netsh prints them. The negotiator feeds
// them; the zero value is a fresh service.
type IKEStats struct {
	ActiveAcquire          uint64
	ActiveReceive          uint64
	AcquireFailures        uint64
	ReceiveFailures        uint64
	SendFailures           uint64
	AcquireHeapSize        uint64
	ReceiveHeapSize        uint64
	AuthenticationFailures uint64
	NegotiationFailures    uint64
	InvalidCookiesReceived uint64
	TotalAcquire           uint64
	TotalGetSPI            uint64
	KeyAdditions           uint64
	KeyUpdates             uint64
	GetSPIFailures         uint64
	KeyAdditionFailures    uint64
	KeyUpdateFailures      uint64
	ISADBListSize          uint64
	ConnectionListSize     uint64
	IKEMainMode            uint64
	IKEQuickMode           uint64
	SoftAssociations       uint64
	InvalidPacketsReceived uint64
}

// IPsecStats are the IPsec (quick mode and data path) counters of
// `show stats type=ipsec` (reference 5.9), in the order netsh prints them.
// The driver feeds them; the zero value is a fresh service.
type IPsecStats struct {
	ActiveSecurityAssociations    uint64
	OffloadedSecurityAssociations uint64
	PendingKeyOperations          uint64
	KeyAdditions                  uint64
	KeyDeletions                  uint64
	Rekeys                        uint64
	ActiveTunnels                 uint64
	BadSPIPackets                 uint64
	PacketsNotDecrypted           uint64
	PacketsNotAuthenticated       uint64
	PacketsWithReplayDetection    uint64
	ConfidentialBytesSent         uint64
	ConfidentialBytesReceived     uint64
	AuthenticatedBytesSent        uint64
	AuthenticatedBytesReceived    uint64
	TransportBytesSent            uint64
	TransportBytesReceived        uint64
	BytesSentInTunnels            uint64
	BytesReceivedInTunnels        uint64
	OffloadedBytesSent            uint64
	OffloadedBytesReceived        uint64
}

// Stats are both blocks of `show stats`.
type Stats struct {
	IKE   IKEStats
	IPsec IPsecStats
}
