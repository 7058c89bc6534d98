//go:build linux

package tun

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// CreateOffload creates a kernel TUN interface as Create does, but with
// virtio-net headers (IFF_VNET_HDR) and the offloads TUN_F_CSUM and
// TUN_F_TSO4 turned on, so that the kernel hands over TCP/IPv4 packets of
// up to 64 KiB (TSO) and takes merged ones back (GRO done here), one
// system call for many packets:
//
//   - Read reads one packet; a TSO packet is cut into MSS-sized segments
//     with their own headers and checksums, as many as bufs hold, the
//     rest in the next Reads; a packet whose checksum the kernel left to
//     the device (VIRTIO_NET_HDR_F_NEEDS_CSUM) gets it completed.
//   - Write merges consecutive TCP segments of one flow in bufs into one
//     GSO packet (the rules of the kernel's TCP GRO) and writes the others
//     alone. The kernel checks the merged packet's checksum per segment.
//
// UDP segmentation offload (TUN_F_USO4) is not turned on: the data path
// would gain little from it, and the kernel then segments UDP itself.
//
// It opens /dev/net/tun itself through golang.org/x/sys/unix: water, which
// Create uses, cannot ask for IFF_VNET_HDR or set offloads.
func CreateOffload(name string, mtu int) (Device, error) {
	mtu, err := checkCreate(name, mtu)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("tun: open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %q: %w", ErrName, name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: create %q: %w", name, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, unix.TUN_F_CSUM|unix.TUN_F_TSO4); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: %s: offloads: %w", ifr.Name(), err)
	}
	// os.NewFile puts the non-blocking descriptor in the runtime poller:
	// Close wakes a blocked Read.
	d := &offloadDevice{f: os.NewFile(uintptr(fd), "/dev/net/tun"), name: ifr.Name()}
	if err := configure(d.name, mtu); err != nil {
		_ = d.f.Close()
		return nil, err
	}
	return d, nil
}

// offloadDevice is CreateOffload's Device.
type offloadDevice struct {
	f    *os.File
	name string

	// rbuf is Read's packet buffer, w Write's merge buffer: Read and
	// Write are each not concurrent with themselves. A TSO packet in
	// rbuf with more segments than a Read had buffers stays there, with
	// rhdr, rlen and the next segment to hand out in rnext (0: none
	// pending).
	rbuf  [vnetHdrLen + 0xffff]byte
	rhdr  vnetHdr
	rlen  int
	rnext int
	w     coalescer
	// noMerge is set when the kernel refused a merged packet; later
	// writes go one packet each.
	noMerge bool

	closeOnce sync.Once
}

func (d *offloadDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if len(sizes) < len(bufs) || offset < 0 {
		return 0, io.ErrShortBuffer
	}
	if d.rnext > 0 {
		return d.split(bufs, sizes, offset)
	}
	// A packet the device cannot take apart (errGSO) is dropped, as a
	// NIC drops a malformed frame, and the next one read: the data path
	// must not stall on it.
	for {
		n, err := d.f.Read(d.rbuf[:])
		if err != nil {
			return 0, err
		}
		if n, err = d.take(n, bufs, sizes, offset); err != errGSO {
			return n, err
		}
	}
}

// take hands out the packet of n bytes (virtio header included) just
// read into rbuf.
func (d *offloadDevice) take(n int, bufs [][]byte, sizes []int, offset int) (int, error) {
	if n < vnetHdrLen {
		return 0, errGSO
	}
	h := &d.rhdr
	h.decode(d.rbuf[:])
	pkt := d.rbuf[vnetHdrLen:n]
	switch h.gsoType &^ vnetGSOECN {
	case vnetGSOTCPv4:
		d.rlen = n
		return d.split(bufs, sizes, offset)
	case vnetGSONone:
	default:
		return 0, errGSO
	}
	if h.flags&vnetFlagNeedsCsum != 0 {
		if err := completeChecksum(pkt, int(h.csumStart), int(h.csumOffset)); err != nil {
			return 0, err
		}
	}
	if len(bufs[0]) < offset+len(pkt) {
		return 0, io.ErrShortBuffer
	}
	sizes[0] = copy(bufs[0][offset:], pkt)
	return 1, nil
}

// split hands out the next segments of the TSO packet in rbuf.
func (d *offloadDevice) split(bufs [][]byte, sizes []int, offset int) (int, error) {
	n, last, err := splitTCP(d.rbuf[vnetHdrLen:d.rlen], &d.rhdr, d.rnext, bufs, sizes, offset)
	d.rnext += n
	if last || err != nil {
		d.rnext = 0
	}
	return n, err
}

func (d *offloadDevice) Write(bufs [][]byte, offset int) (int, error) {
	for i, b := range bufs {
		if offset < 0 || offset > len(b) {
			return i, io.ErrShortBuffer
		}
	}
	for i := 0; i < len(bufs); {
		var out []byte
		n := 1
		if d.noMerge {
			out = d.w.buf[:vnetHdrLen+len(bufs[i])-offset]
			clear(out[:vnetHdrLen])
			copy(out[vnetHdrLen:], bufs[i][offset:])
		} else {
			out, n = d.w.coalesce(bufs[i:], offset)
		}
		if _, err := d.f.Write(out); err != nil {
			if n > 1 && errors.Is(err, unix.EINVAL) {
				d.noMerge = true // and again, one by one
				continue
			}
			return i, err
		}
		i += n
	}
	return len(bufs), nil
}

func (d *offloadDevice) BatchSize() int { return OffloadBatchSize }

func (d *offloadDevice) MTU() (int, error) { return mtuOf(d.name) }

func (d *offloadDevice) Name() (string, error) { return d.name, nil }

func (d *offloadDevice) Close() error {
	var err error
	d.closeOnce.Do(func() { err = d.f.Close() })
	return err
}
