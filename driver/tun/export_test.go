package tun

// Test hooks for the offload code (package tun_test builds its packets with
// tuntest, which imports tun).

// VnetHdr is the decoded virtio_net_hdr of the tests.
type VnetHdr struct {
	Flags, GSOType                         uint8
	HdrLen, GSOSize, CsumStart, CsumOffset uint16
}

const VnetHdrLen = vnetHdrLen

// SplitTCP runs splitTCP for a TSO packet with MSS mss from segment
// first.
func SplitTCP(pkt []byte, mss, first int, bufs [][]byte, sizes []int, offset int) (int, bool, error) {
	h := vnetHdr{gsoType: vnetGSOTCPv4, gsoSize: uint16(mss)}
	return splitTCP(pkt, &h, first, bufs, sizes, offset)
}

// Coalescer wraps the Write path's merger.
type Coalescer struct{ c coalescer }

// Coalesce merges a prefix of bufs; it returns the header, the packet
// and how many buffers went in.
func (c *Coalescer) Coalesce(bufs [][]byte, offset int) (VnetHdr, []byte, int) {
	out, n := c.c.coalesce(bufs, offset)
	var h vnetHdr
	h.decode(out)
	return VnetHdr{h.flags, h.gsoType, h.hdrLen, h.gsoSize, h.csumStart, h.csumOffset}, out[vnetHdrLen:], n
}

// CompleteChecksum finishes a partial checksum as the kernel would.
func CompleteChecksum(pkt []byte, start, offset int) error {
	return completeChecksum(pkt, start, offset)
}

// InternetChecksum is the device's checksum of b.
func InternetChecksum(b []byte) uint16 { return ^checksumFold(checksumAdd(0, b)) }
