//go:build linux

package netnstest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Packet is one captured IPv4 packet.
type Packet struct {
	// Outgoing is true for a packet the namespace sent on the interface,
	// false for one it received.
	Outgoing bool
	// Data is the IPv4 packet, header first, cut to SnapLen bytes; Len is
	// its whole length.
	Data []byte
	Len  int
}

// SnapLen is the most a Capture keeps of one packet: a whole packet at
// the MTUs the tests use.
const SnapLen = 2048

// captureBuffer is the socket receive buffer of a capture: room for a few
// thousand full-size packets while the reader is descheduled.
const captureBuffer = 32 << 20

// Capture records the IPv4 packets crossing one interface of a namespace,
// both ways, with an AF_PACKET socket: tcpdump's view, in Go.
type Capture struct {
	f    *os.File // non-blocking, in the runtime poller: Close wakes the reader
	done chan struct{}

	mu    sync.Mutex
	pkts  []Packet
	drops uint64 // kernel drops (PACKET_STATISTICS), accumulated
	err   error  // the reader's error, other than the Close that ended it
}

// Capture starts capturing on ifname inside ns; t.Cleanup stops it. A
// capture sees the packets from the moment Capture returns.
func (ns *NS) Capture(t testing.TB, ifname string) *Capture {
	t.Helper()
	var fd int
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		// Protocol 0 receives nothing until bind names the protocol
		// and the interface: no packet of another interface slips in.
		// ETH_P_ALL, not ETH_P_IP: only "all" taps see outgoing
		// packets; the reader keeps the IPv4 ones.
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, captureBuffer); err != nil {
			unix.Close(fd)
			return fmt.Errorf("SO_RCVBUFFORCE: %w", err)
		}
		sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind to %s: %w", ifname, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("capture on %s in %s: %v", ifname, ns.name, err)
	}
	c := &Capture{f: os.NewFile(uintptr(fd), "capture:"+ifname), done: make(chan struct{})}
	go c.read()
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("capture on %s: %v", ifname, err)
		}
	})
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// read is the capture's one goroutine; it returns when the socket is
// closed.
func (c *Capture) read() {
	defer close(c.done)
	rc, err := c.f.SyscallConn()
	if err != nil {
		c.fail(err)
		return
	}
	buf := make([]byte, SnapLen)
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			// MSG_TRUNC: n is the packet's real length.
			n, from, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_TRUNC)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		if rerr != nil {
			c.fail(rerr)
			return
		}
		ll, _ := from.(*unix.SockaddrLinklayer)
		if ll == nil || ll.Protocol != htons(unix.ETH_P_IP) {
			continue // ARP and the like
		}
		p := Packet{
			Outgoing: ll.Pkttype == unix.PACKET_OUTGOING,
			Data:     append([]byte(nil), buf[:min(n, len(buf))]...),
			Len:      n,
		}
		c.mu.Lock()
		c.pkts = append(c.pkts, p)
		c.mu.Unlock()
	}
}

func (c *Capture) fail(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// Packets returns the packets captured so far, in order. The slice is the
// caller's; the packets' Data must not be modified.
func (c *Capture) Packets() []Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Packet(nil), c.pkts...)
}

// Drops returns how many packets the kernel dropped because the capture
// could not keep up, and the reader's error if it stopped. A capture that
// must be complete checks that both are zero.
func (c *Capture) Drops() (uint64, error) {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var stats *unix.TpacketStats
	var serr error
	if err := rc.Control(func(fd uintptr) {
		stats, serr = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	}); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if serr == nil {
		c.drops += uint64(stats.Drops) // reading resets the kernel's counters
	}
	if serr == nil {
		serr = c.err
	}
	return c.drops, serr
}

// Close stops the capture and waits for its reader; later calls return
// nil.
func (c *Capture) Close() error {
	err := c.f.Close()
	<-c.done
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}
