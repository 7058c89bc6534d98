package tun

// TCP segmentation and coalescing for a TUN device with virtio-net headers
// (IFF_VNET_HDR). References:
//   virtio 1.2 section 5.1.6 (struct virtio_net_hdr, its flags and GSO
//     types; a TUN device uses the legacy 10-byte header in native byte
//     order)
//   RFC 791  IPv4 header
//   RFC 9293 TCP header, sequence numbers and flags
//   RFC 1071 and RFC 1624 Internet checksum

import (
	"encoding/binary"
	"errors"
	"io"
	"math/bits"
)

// OffloadBatchSize is the BatchSize of CreateOffload's device: the segments
// of one 64 KiB TSO packet at an MSS down to about 512 bytes.
const OffloadBatchSize = 128

// virtio_net_hdr.
const (
	vnetHdrLen = 10

	vnetFlagNeedsCsum = 1 // checksum from csum_start, stored at csum_start+csum_offset

	vnetGSONone  = 0
	vnetGSOTCPv4 = 1
	vnetGSOECN   = 0x80
)

// vnetHdr is a decoded virtio_net_hdr.
type vnetHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16
	gsoSize    uint16
	csumStart  uint16
	csumOffset uint16
}

func (h *vnetHdr) decode(b []byte) {
	h.flags, h.gsoType = b[0], b[1]
	h.hdrLen = binary.NativeEndian.Uint16(b[2:])
	h.gsoSize = binary.NativeEndian.Uint16(b[4:])
	h.csumStart = binary.NativeEndian.Uint16(b[6:])
	h.csumOffset = binary.NativeEndian.Uint16(b[8:])
}

func (h *vnetHdr) encode(b []byte) {
	b[0], b[1] = h.flags, h.gsoType
	binary.NativeEndian.PutUint16(b[2:], h.hdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.gsoSize)
	binary.NativeEndian.PutUint16(b[6:], h.csumStart)
	binary.NativeEndian.PutUint16(b[8:], h.csumOffset)
}

// errGSO: a GSO packet the device cannot split (not IPv4/TCP, or
// inconsistent headers); it is dropped.
var errGSO = errors.New("tun: malformed or unsupported GSO packet")

// IPv4 and TCP offsets.
const (
	ipv4TotalLen = 2
	ipv4ID       = 4
	ipv4Flags    = 6
	ipv4TTL      = 8
	ipv4Proto    = 9
	ipv4Csum     = 10
	ipv4Src      = 12
	ipv4MinLen   = 20

	tcpSeq     = 4
	tcpAck     = 8
	tcpDataOff = 12
	tcpFlags   = 13
	tcpCsum    = 16
	tcpMinLen  = 20

	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
	tcpURG = 0x20
	tcpCWR = 0x80

	protoTCP = 6
)

// checksumAdd adds b to the ones'-complement sum acc (RFC 1071: the sum is
// independent of word size and byte order, so it runs on 64-bit words,
// read big-endian, with end-around carry).
func checksumAdd(acc uint64, b []byte) uint64 {
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	acc, c = bits.Add64(acc, c, 0)
	var tail [8]byte
	copy(tail[:], b) // zero padded, as RFC 1071 pads an odd byte
	acc, c = bits.Add64(acc, binary.BigEndian.Uint64(tail[:]), 0)
	return acc + c
}

// checksumFold folds a 64-bit ones'-complement sum to 16 bits.
func checksumFold(acc uint64) uint16 {
	s := acc>>32 + acc&0xffffffff
	s = s>>32 + s&0xffffffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}

// pseudoSum is the sum of the IPv4 pseudo-header of ip's TCP or UDP
// payload of length n (RFC 9293 section 3.1).
func pseudoSum(ip []byte, n int) uint64 {
	return checksumAdd(uint64(ip[ipv4Proto])+uint64(n), ip[ipv4Src:ipv4Src+8])
}

// ipv4HeaderChecksum sets the header checksum of ip, whose header is hl
// bytes.
func ipv4HeaderChecksum(ip []byte, hl int) {
	ip[ipv4Csum], ip[ipv4Csum+1] = 0, 0
	binary.BigEndian.PutUint16(ip[ipv4Csum:], ^checksumFold(checksumAdd(0, ip[:hl])))
}

// tcpHeaders returns the IPv4 header length and the TCP header length of
// pkt, an IPv4 TCP packet, or false if pkt is not one whose headers are
// whole and consistent with its total length.
func tcpHeaders(pkt []byte) (ihl, thl int, ok bool) {
	if len(pkt) < ipv4MinLen || pkt[0]>>4 != 4 || pkt[ipv4Proto] != protoTCP {
		return 0, 0, false
	}
	ihl = int(pkt[0]&0x0f) * 4
	if ihl < ipv4MinLen || int(binary.BigEndian.Uint16(pkt[ipv4TotalLen:])) != len(pkt) || len(pkt) < ihl+tcpMinLen {
		return 0, 0, false
	}
	thl = int(pkt[ihl+tcpDataOff]>>4) * 4
	if thl < tcpMinLen || ihl+thl > len(pkt) {
		return 0, 0, false
	}
	return ihl, thl, true
}

// completeChecksum finishes a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM):
// the field at start+offset holds the pseudo-header sum; the sum of
// pkt[start:] goes there, complemented.
func completeChecksum(pkt []byte, start, offset int) error {
	if start+offset+2 > len(pkt) {
		return errGSO
	}
	f := pkt[start+offset:]
	binary.BigEndian.PutUint16(f, ^checksumFold(checksumAdd(0, pkt[start:])))
	return nil
}

// splitTCP cuts pkt, an IPv4/TCP packet of up to 64 KiB with a TSO header
// h, into segments of at most h.gsoSize payload bytes, from segment first
// on, into bufs[i][offset:] with their lengths in sizes[i]. It returns how
// many it wrote and whether that was the last segment; a caller with fewer
// buffers than segments calls again with first advanced. Each segment gets
// the headers of pkt with its own total length, IP ID (incremented per
// segment, as the kernel's TSO does), sequence number, flags (FIN and PSH
// only on the last, CWR only on the first) and full IPv4 and TCP
// checksums.
func splitTCP(pkt []byte, h *vnetHdr, first int, bufs [][]byte, sizes []int, offset int) (int, bool, error) {
	ihl, thl, ok := tcpHeaders(pkt)
	mss := int(h.gsoSize)
	if !ok || mss == 0 {
		return 0, true, errGSO
	}
	hl := ihl + thl
	payload := pkt[hl:]
	total := max((len(payload)+mss-1)/mss, 1)
	n := min(total-first, len(bufs))
	id := binary.BigEndian.Uint16(pkt[ipv4ID:])
	seq := binary.BigEndian.Uint32(pkt[ihl+tcpSeq:])
	flags := pkt[ihl+tcpFlags]
	for k := range n {
		i := first + k
		chunk := payload[min(i*mss, len(payload)):min((i+1)*mss, len(payload))]
		if len(bufs[k]) < offset+hl+len(chunk) {
			return 0, true, io.ErrShortBuffer
		}
		seg := bufs[k][offset : offset+hl+len(chunk)]
		copy(seg, pkt[:hl])
		copy(seg[hl:], chunk)
		binary.BigEndian.PutUint16(seg[ipv4TotalLen:], uint16(len(seg)))
		binary.BigEndian.PutUint16(seg[ipv4ID:], id+uint16(i))
		ipv4HeaderChecksum(seg, ihl)
		tcp := seg[ihl:]
		binary.BigEndian.PutUint32(tcp[tcpSeq:], seq+uint32(i*mss))
		f := flags
		if i != total-1 {
			f &^= tcpFIN | tcpPSH
		}
		if i != 0 {
			f &^= tcpCWR
		}
		tcp[tcpFlags] = f
		tcp[tcpCsum], tcp[tcpCsum+1] = 0, 0
		binary.BigEndian.PutUint16(tcp[tcpCsum:], ^checksumFold(checksumAdd(pseudoSum(seg, len(tcp)), tcp)))
		sizes[k] = len(seg)
	}
	return n, first+n == total, nil
}

// coalescer merges consecutive TCP segments of one flow into one GSO
// packet for a TUN write, as the kernel's TCP GRO does (net/ipv4/tcp_offload.c
// decides by the same rules): the segments carry consecutive sequence
// numbers, identical IPv4 headers but for length, ID and checksum,
// identical TCP headers but for the sequence number, checksum and PSH,
// valid checksums, and equal payload sizes (the last may be shorter).
// Only ACK, optionally with PSH on the last segment, is merged; anything
// else goes out alone.
type coalescer struct {
	// buf holds the virtio header and the merged packet.
	buf [vnetHdrLen + 0xffff]byte
}

// mergeable reports whether pkt can start or join a merged packet and
// returns its header lengths.
func mergeable(pkt []byte) (ihl, thl int, ok bool) {
	ihl, thl, ok = tcpHeaders(pkt)
	if !ok || len(pkt) == ihl+thl {
		return 0, 0, false
	}
	if pkt[ipv4Flags]&0x3f != 0 || pkt[ipv4Flags+1] != 0 { // MF or fragment offset
		return 0, 0, false
	}
	if f := pkt[ihl+tcpFlags]; f&^tcpPSH != tcpACK {
		return 0, 0, false
	}
	if checksumFold(checksumAdd(0, pkt[:ihl])) != 0xffff {
		return 0, 0, false
	}
	tcp := pkt[ihl:]
	if checksumFold(checksumAdd(pseudoSum(pkt, len(tcp)), tcp)) != 0xffff {
		return 0, 0, false
	}
	return ihl, thl, true
}

// follows reports whether next continues first's flow after the bytes
// merged so far (sum of payloads, the end of the merged sequence space).
func follows(first, next []byte, ihl, thl, merged int) bool {
	nihl, nthl, ok := mergeable(next)
	if !ok || nihl != ihl || nthl != thl {
		return false
	}
	// IPv4: version/IHL and TOS; DF and TTL, protocol; addresses and
	// options.
	if first[0] != next[0] || first[1] != next[1] || first[ipv4Flags] != next[ipv4Flags] ||
		first[ipv4TTL] != next[ipv4TTL] || string(first[ipv4Src:ihl]) != string(next[ipv4Src:ihl]) {
		return false
	}
	ft, nt := first[ihl:], next[ihl:]
	// Ports; acknowledgment number, data offset, window, urgent pointer,
	// options: equal. Flags: ACK on both (mergeable), PSH ignored here.
	if string(ft[:tcpSeq]) != string(nt[:tcpSeq]) || string(ft[tcpAck:tcpFlags]) != string(nt[tcpAck:tcpFlags]) ||
		string(ft[tcpFlags+1:tcpCsum]) != string(nt[tcpFlags+1:tcpCsum]) || string(ft[tcpCsum+2:thl]) != string(nt[tcpCsum+2:thl]) {
		return false
	}
	seq := binary.BigEndian.Uint32(ft[tcpSeq:]) + uint32(merged)
	return binary.BigEndian.Uint32(nt[tcpSeq:]) == seq
}

// maxCoalesced bounds the segments of one merged packet (the kernel's
// GSO limit is far above what 64 KiB holds at any sensible MSS).
const maxCoalesced = 64

// coalesce merges a prefix of pkts (each the packet at bufs[i][offset:])
// that starts with pkts[0] into c.buf and returns the virtio header and
// packet to write and how many packets it holds. A lone packet is
// returned with a zero header, copied behind it.
func (c *coalescer) coalesce(bufs [][]byte, offset int) ([]byte, int) {
	first := bufs[0][offset:]
	ihl, thl, ok := mergeable(first)
	hl := ihl + thl
	mss := len(first) - hl
	n, total := 1, len(first)
	if ok && first[ihl+tcpFlags]&tcpPSH == 0 {
		for n < len(bufs) && n < maxCoalesced {
			next := bufs[n][offset:]
			plen := len(next) - hl
			if plen > mss || total+plen > 0xffff || !follows(first, next, ihl, thl, total-hl) {
				break
			}
			n++
			total += plen
			if plen < mss || next[ihl+tcpFlags]&tcpPSH != 0 {
				break
			}
		}
	}
	out := c.buf[:vnetHdrLen+total]
	pkt := out[vnetHdrLen:]
	if n == 1 {
		clear(out[:vnetHdrLen])
		copy(pkt, first)
		return out, 1
	}
	copy(pkt, first)
	at := len(first)
	for _, b := range bufs[1:n] {
		at += copy(pkt[at:], b[offset+hl:])
	}
	last := bufs[n-1][offset:]
	pkt[ihl+tcpFlags] |= last[ihl+tcpFlags] & tcpPSH
	binary.BigEndian.PutUint16(pkt[ipv4TotalLen:], uint16(total))
	ipv4HeaderChecksum(pkt, ihl)
	// The TCP checksum field holds the pseudo-header sum over the whole
	// TCP length; the kernel completes it per segment.
	tcp := pkt[ihl:]
	binary.BigEndian.PutUint16(tcp[tcpCsum:], checksumFold(pseudoSum(pkt, len(tcp))))
	h := vnetHdr{
		flags:      vnetFlagNeedsCsum,
		gsoType:    vnetGSOTCPv4,
		hdrLen:     uint16(hl),
		gsoSize:    uint16(mss),
		csumStart:  uint16(ihl),
		csumOffset: tcpCsum,
	}
	h.encode(out)
	return out, n
}
