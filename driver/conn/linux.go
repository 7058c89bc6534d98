//go:build linux

package conn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// socketBufferSize is the receive and send buffer asked of every socket,
// as wireguard-go does: a burst of a few thousand full-size packets must
// not overflow while the driver is busy with the previous ones. Root gets
// it exactly (SO_RCVBUFFORCE); others get what net.core.rmem_max allows.
const socketBufferSize = 7 << 20

// Control message buffer sizes: IP_PKTINFO (12 bytes), IP_TOS (1 byte on
// receipt, an int on send) and IP_TTL (an int), each padded to CmsgSpace.
var (
	recvControlLen = unix.CmsgSpace(unix.SizeofInet4Pktinfo) + unix.CmsgSpace(1) + unix.CmsgSpace(4)
	sendControlLen = unix.CmsgSpace(unix.SizeofInet4Pktinfo) + 2*unix.CmsgSpace(4)
)

// linuxWire is the Wire of NewLinux. The sockets are net package
// connections over the runtime poller: a blocked receive waits in the
// poller, not in the kernel, so Close wakes it with net.ErrClosed and the
// descriptor is released only after the last system call on it returns
// (no descriptor is reused under a reader).
type linuxWire struct {
	bound netip.AddrPort // the UDP socket's address; the port is never 0

	udp     *net.UDPConn
	esp, ah *net.IPConn // receive only
	raw     *net.IPConn // IPPROTO_RAW: send only

	// udpRC and rawRC reach the descriptors of udp and raw for
	// sendmmsg and recvmmsg through the poller.
	udpRC, rawRC syscall.RawConn
	// gso is true while the UDP socket accepts UDP_SEGMENT; a send the
	// kernel refuses for lack of offload clears it for good.
	gso     atomic.Bool
	senders senders

	opened    atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error // written once under closeOnce
}

// NewLinux opens the sockets of a Linux wire: the UDP socket on
// cfg.Local:cfg.Port (port 4500 by default), raw IPPROTO_ESP and
// IPPROTO_AH sockets bound to cfg.Local, and an IPPROTO_RAW socket for
// sending whole IPv4 packets. The sockets belong to the network namespace
// of the calling OS thread for their whole life, whatever thread uses them
// later: to open a wire in another namespace, call NewLinux on a locked
// thread switched there with setns(2). It needs CAP_NET_RAW, and
// CAP_NET_ADMIN for a Mark.
//
// Open returns three receive functions, in this order: the UDP socket
// (KindUDP endpoints with Local, Remote, TOS and TTL filled in), the ESP
// socket and the AH socket (KindIP, whole packets header first). Each
// reads up to 16 messages per recvmmsg into buffers of its own and copies
// the packets out (a UDP_GRO aggregate as its datagrams), BatchSize
// packets per call at most.
//
// Send of a KindIP packet uses the IPPROTO_RAW socket: the kernel fills in
// a zero ID and a zero source, and always the total length and the header
// checksum; it does not fragment, so a packet larger than the route's MTU
// fails with EMSGSIZE (size the TUN device's MTU for the overhead). Send
// of a KindUDP payload goes to eps[i].Remote with the TOS and TTL asked
// (0: the system default); eps[i].Local must be unset or, when the wire
// is bound to one address, that address, and its port unset or the bound
// port. Neither Send nor the receive functions allocate.
func NewLinux(cfg LinuxConfig) (Wire, error) {
	local := cfg.Local.Unmap()
	if !local.Is4() {
		return nil, fmt.Errorf("%w: local address %v is not IPv4", ErrConfig, cfg.Local)
	}
	port := cfg.Port
	if port == 0 {
		port = NATTPort
	}
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		return control(c, func(fd int) error { return setup(fd, network, cfg.Mark, !cfg.NoOffload) })
	}}
	ctx := context.Background()
	w := &linuxWire{bound: netip.AddrPortFrom(local, port)}
	pc, err := lc.ListenPacket(ctx, "udp4", w.bound.String())
	if err != nil {
		return nil, fmt.Errorf("conn: UDP socket: %w", err)
	}
	w.udp = pc.(*net.UDPConn)
	for _, s := range []struct {
		c     **net.IPConn
		proto int
		addr  netip.Addr
	}{
		{&w.esp, unix.IPPROTO_ESP, local},
		{&w.ah, unix.IPPROTO_AH, local},
		{&w.raw, unix.IPPROTO_RAW, netip.IPv4Unspecified()},
	} {
		pc, err := lc.ListenPacket(ctx, fmt.Sprintf("ip4:%d", s.proto), s.addr.String())
		if err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("conn: raw socket for protocol %d: %w", s.proto, err)
		}
		*s.c = pc.(*net.IPConn)
	}
	if w.udpRC, err = w.udp.SyscallConn(); err == nil {
		w.rawRC, err = w.raw.SyscallConn()
	}
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("conn: %w", err)
	}
	_ = control(w.udpRC, func(fd int) error {
		// Probe UDP_SEGMENT: reading it fails on kernels without GSO.
		if _, err := unix.GetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT); err == nil && !cfg.NoOffload {
			w.gso.Store(true)
		}
		return nil
	})
	return w, nil
}

// control runs fn on the descriptor of c.
func control(c syscall.RawConn, fn func(fd int) error) error {
	var err error
	if cerr := c.Control(func(fd uintptr) { err = fn(int(fd)) }); cerr != nil {
		return cerr
	}
	return err
}

// setup sets the options of a new socket before it is bound.
func setup(fd int, network string, mark uint32, gro bool) error {
	if mark != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(mark)); err != nil {
			return fmt.Errorf("SO_MARK: %w", err)
		}
	}
	if err := setBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF); err != nil {
		return err
	}
	if network == "ip4:255" {
		return nil // IPPROTO_RAW never receives
	}
	if err := setBuffer(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF); err != nil {
		return err
	}
	if network != "udp4" {
		return nil
	}
	for _, opt := range []int{unix.IP_PKTINFO, unix.IP_RECVTOS, unix.IP_RECVTTL} {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, opt, 1); err != nil {
			return fmt.Errorf("IP option %d: %w", opt, err)
		}
	}
	// UDP GRO is an optimization: a kernel without it (before 5.0)
	// delivers one datagram per message.
	if gro {
		_ = unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_GRO, 1)
	}
	return nil
}

// setBuffer sets a socket buffer to socketBufferSize, past the sysctl
// limit when privileged.
func setBuffer(fd, force, plain int) error {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, socketBufferSize) == nil {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, socketBufferSize); err != nil {
		return fmt.Errorf("socket buffer: %w", err)
	}
	return nil
}

func (w *linuxWire) Open() ([]ReceiveFunc, error) {
	if w.closed.Load() {
		return nil, net.ErrClosed
	}
	if w.opened.Swap(true) {
		return nil, ErrOpen
	}
	fns := []ReceiveFunc{newReceiver(w.udpRC, KindUDP, w.bound).receive}
	for _, c := range []*net.IPConn{w.esp, w.ah} {
		rc, err := c.SyscallConn()
		if err != nil {
			return nil, err
		}
		fns = append(fns, newReceiver(rc, KindIP, netip.AddrPort{}).receive)
	}
	return fns, nil
}

// parseControl fills in ep's local address, TOS and TTL from the control
// messages of a received datagram and returns the UDP_GRO segment size (0:
// one datagram). It does not allocate.
func parseControl(oob []byte, ep *Endpoint) (gro int) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		end := int(h.Len)
		if end < unix.CmsgLen(0) || end > len(oob) {
			return gro
		}
		data := oob[unix.CmsgLen(0):end]
		switch h.Level {
		case unix.IPPROTO_IP:
			switch {
			case h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
				// struct in_pktinfo: ifindex, spec_dst, addr (the
				// header's destination).
				ep.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(data[8:12])), ep.Local.Port())
			case h.Type == unix.IP_TOS && len(data) >= 1:
				ep.TOS = data[0]
			case h.Type == unix.IP_TTL && len(data) >= 4:
				ep.TTL = uint8(binary.NativeEndian.Uint32(data))
			}
		case unix.SOL_UDP:
			if h.Type == unix.UDP_GRO && len(data) >= 4 {
				gro = int(binary.NativeEndian.Uint32(data))
			}
		}
		next := unix.CmsgSpace(end - unix.CmsgLen(0))
		if next >= len(oob) {
			return gro
		}
		oob = oob[next:]
	}
	return gro
}

func (w *linuxWire) Send(bufs [][]byte, eps []Endpoint) (int, error) {
	if w.closed.Load() {
		return 0, net.ErrClosed
	}
	s := w.senders.get()
	defer w.senders.put(s)
	done := 0
	for done < len(bufs) {
		kind := eps[done].Kind
		end := done + 1
		for end < len(bufs) && eps[end].Kind == kind {
			end++
		}
		var n int
		var err error
		switch kind {
		case KindIP:
			n, err = w.sendIP(s, bufs[done:end])
		case KindUDP:
			n, err = w.sendUDP(s, bufs[done:end], eps[done:end])
		default:
			return done, fmt.Errorf("%w: kind %v", ErrEndpoint, kind)
		}
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// sendControl appends the control messages of one datagram to b, within
// its capacity (sendControlLen bytes): the source address (if valid), the
// TOS and the TTL (if not 0).
func sendControl(b []byte, src netip.Addr, tos, ttl uint8) []byte {
	if src.IsValid() {
		var info unix.Inet4Pktinfo
		info.Spec_dst = src.As4()
		b = appendCmsg(b, unix.IPPROTO_IP, unix.IP_PKTINFO, unsafe.Slice((*byte)(unsafe.Pointer(&info)), unix.SizeofInet4Pktinfo))
	}
	var v [4]byte
	if tos != 0 {
		binary.NativeEndian.PutUint32(v[:], uint32(tos))
		b = appendCmsg(b, unix.IPPROTO_IP, unix.IP_TOS, v[:])
	}
	if ttl != 0 {
		binary.NativeEndian.PutUint32(v[:], uint32(ttl))
		b = appendCmsg(b, unix.IPPROTO_IP, unix.IP_TTL, v[:])
	}
	return b
}

// appendCmsg appends one control message, padded to CmsgSpace; it
// allocates only if b lacks the capacity.
func appendCmsg(b []byte, level, typ int32, data []byte) []byte {
	start := len(b)
	b = slices.Grow(b, unix.CmsgSpace(len(data)))[:start+unix.CmsgSpace(len(data))]
	clear(b[start:])
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[start]))
	h.Level = level
	h.Type = typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[start+unix.CmsgLen(0):], data)
	return b
}

// BatchSize is the number of packets one receive call returns at most
// and one Send carries in a single sendmmsg.
func (w *linuxWire) BatchSize() int { return batchSize }

// Close closes the sockets once: receivers blocked in the poller return
// net.ErrClosed at once.
func (w *linuxWire) Close() error {
	first := false
	w.closeOnce.Do(func() {
		first = true
		w.closed.Store(true)
		var errs []error
		if w.udp != nil {
			errs = append(errs, w.udp.Close())
		}
		for _, c := range []*net.IPConn{w.esp, w.ah, w.raw} {
			if c != nil {
				errs = append(errs, c.Close())
			}
		}
		w.closeErr = errors.Join(errs...)
	})
	if !first {
		return nil
	}
	return w.closeErr
}
