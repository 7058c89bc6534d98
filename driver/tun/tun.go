// Package tun is the boundary between the ESP data path and the host's
// network stack: a TUN device that carries raw IPv4 packets (no link-layer
// header, no packet-information prefix).
//
// The Device interface has wireguard-go's batch shape, so that a device
// with virtio-net headers hands the data path many packets per system call
// without changing any caller. Two kernel implementations exist on Linux:
//
//   - Create uses github.com/songgao/water and moves one packet per call
//     (BatchSize 1);
//   - CreateOffload opens /dev/net/tun with IFF_VNET_HDR and TCP
//     segmentation offload (offload_linux.go): one Read returns the
//     segments of a TCP packet of up to 64 KiB, cut in user space, and
//     Write merges consecutive segments of a TCP flow into one write
//     (BatchSize OffloadBatchSize).
//
// Package tuntest holds an in-memory Device for tests.
package tun

import "errors"

// Device is a TUN device: Read returns packets the host routed into the
// tunnel (to be protected and sent), Write injects packets the tunnel
// delivered (already unprotected) into the host's stack.
//
// A packet is one whole IPv4 datagram starting at its IP header. Each
// packet lives in its own buffer bufs[i], starting at bufs[i][offset]: the
// first offset bytes are headroom that the device neither reads nor writes,
// so that the caller can prepend outer headers (ESP, UDP, IP) in place.
//
// Read and Write may be called concurrently with each other, but neither
// may be called concurrently with itself. Close may be called at any time,
// from any goroutine, any number of times.
type Device interface {
	// Read reads up to len(bufs) packets, at most BatchSize, into
	// bufs[i][offset:] and stores each packet's length in sizes[i]. It
	// blocks until at least one packet is available or the device is
	// closed, and returns the number of packets read. len(sizes) must be
	// at least len(bufs).
	//
	// Each bufs[i] should have room for offset+MTU bytes; a packet that
	// does not fit is truncated by the kernel (water) or rejected with
	// io.ErrShortBuffer (tuntest, CreateOffload). The caller owns bufs
	// and sizes; the device keeps no reference after Read returns.
	//
	// n > 0 and err != nil may come together: the first n packets are
	// valid. After Close, Read returns an error satisfying
	// errors.Is(err, os.ErrClosed).
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)

	// Write writes one packet per buffer, bufs[i][offset:], and returns
	// how many were written; on error, bufs[n] is the packet that failed
	// and the rest were not attempted (a device that merged bufs[n] with
	// the packets after it reports the first of them). Write does not
	// keep or modify the buffers. After Close, Write returns an error satisfying
	// errors.Is(err, os.ErrClosed).
	Write(bufs [][]byte, offset int) (int, error)

	// BatchSize is the largest number of packets one Read returns and
	// the number of buffers a caller should pass to Read and Write. It is
	// constant for the life of the device and at least 1.
	BatchSize() int

	// MTU returns the device's current MTU, as the kernel sees it now
	// (an administrator may change it).
	MTU() (int, error)

	// Name returns the interface name, e.g. "gonetsh0".
	Name() (string, error)

	// Close releases the device. For a kernel TUN device this removes the
	// interface (the device is never persistent). Close unblocks pending
	// Reads and Writes; the first Close returns the release error, later
	// calls return nil.
	Close() error
}

// MTU bounds accepted by Create. 68 is the smallest MTU IPv4 allows
// (RFC 791); 65535 is the largest IPv4 datagram.
const (
	MinMTU     = 68
	MaxMTU     = 65535
	DefaultMTU = 1500
)

// Errors returned by Create.
var (
	ErrName        = errors.New("tun: invalid interface name")
	ErrMTU         = errors.New("tun: MTU out of range")
	ErrUnsupported = errors.New("tun: not supported on this platform")
)

// maxNameLen is IFNAMSIZ minus the terminating NUL.
const maxNameLen = 15

// validName reports whether name can be given to the kernel as an
// interface name: empty (the kernel picks "tunN"), or 1-15 bytes of
// printable ASCII other than '/' and ':', and not "." or "..".
func validName(name string) bool {
	if len(name) > maxNameLen || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c == '/' || c == ':' || c >= 0x7f {
			return false
		}
	}
	return true
}
