//go:build linux

package conn

// Batched socket I/O: sendmmsg(2) and recvmmsg(2) driven through the
// runtime poller (syscall.RawConn), with UDP generic segmentation offload
// out (UDP_SEGMENT, Linux 4.18) and UDP generic receive offload in
// (UDP_GRO, Linux 5.0). See udp(7).
//
// With UDP_SEGMENT one sendmsg carries several datagrams of the same size
// (the last may be shorter) to the same destination: the iovecs are
// concatenated and cut every gso_size bytes, so the packets stay in the
// caller's buffers. With UDP_GRO one recvmsg may return several datagrams
// of one flow back to back, gso_size bytes each (the last may be
// shorter), announced by a UDP_GRO control message.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batch limits.
const (
	// batchSize is the wire's BatchSize: the packets one receive call
	// hands out and the messages one sendmmsg carries at most.
	batchSize = 64
	// recvMsgs is the number of datagrams one recvmmsg asks for; each
	// may hold up to maxGROBytes of coalesced datagrams.
	recvMsgs = 16
	// recvBufSize holds the largest datagram and the largest GRO
	// aggregate (an IPv4 datagram is at most 65535 bytes).
	recvBufSize = 1 << 16
	// maxGSOSegments is UDP_MAX_SEGMENTS of Linux up to 6.8 (later
	// kernels allow 128): more segments in one send fail with EINVAL.
	maxGSOSegments = 64
	// maxGSOBytes is the largest UDP payload of one GSO send: the whole
	// aggregate must fit an IPv4 datagram.
	maxGSOBytes = 0xffff - 20 - 8
)

// Control message space: send carries IP_PKTINFO, IP_TOS, IP_TTL and
// UDP_SEGMENT (a uint16); receive gets IP_PKTINFO, IP_TOS (a byte), IP_TTL
// and UDP_GRO (an int).
var (
	sendOOBLen = sendControlLen + unix.CmsgSpace(2)
	recvOOBLen = recvControlLen + unix.CmsgSpace(4)
)

// mmsg is the memory of one sendmmsg or recvmmsg call: the message
// headers and what they point into. Its pointers into caller buffers are
// cleared after each call (clearIovecs) so that a pooled mmsg keeps no
// caller memory alive.
type mmsg struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4
	oob   []byte // oobLen bytes per message
	// first[k] is the index of the first caller packet of message k
	// (send only).
	first  []int
	oobLen int
}

func newMmsg(msgs, iovs, oobLen int) *mmsg {
	return &mmsg{
		hdrs:   make([]unix.Mmsghdr, msgs),
		iovs:   make([]unix.Iovec, iovs),
		names:  make([]unix.RawSockaddrInet4, msgs),
		oob:    make([]byte, msgs*oobLen),
		first:  make([]int, msgs+1),
		oobLen: oobLen,
	}
}

// msgOOB returns the control buffer of message k.
func (m *mmsg) msgOOB(k int) []byte { return m.oob[k*m.oobLen : (k+1)*m.oobLen] }

func (m *mmsg) clearIovecs(n int) {
	clear(m.iovs[:n])
}

// setName stores addr as the socket address of message k.
func (m *mmsg) setName(k int, addr netip.AddrPort) {
	sa := &m.names[k]
	sa.Family = unix.AF_INET
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	binary.BigEndian.PutUint16(p[:], addr.Port())
	sa.Addr = addr.Addr().As4()
	h := &m.hdrs[k].Hdr
	h.Name = (*byte)(unsafe.Pointer(sa))
	h.Namelen = unix.SizeofSockaddrInet4
}

// name returns the socket address of message k as the kernel filled it
// in.
func (m *mmsg) name(k int) netip.AddrPort {
	sa := &m.names[k]
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), binary.BigEndian.Uint16(p[:]))
}

// sender is the state of one Send call on one socket, pooled: building
// the messages and the poller callback allocate nothing per call.
type sender struct {
	m     *mmsg
	nmsg  int // messages built
	niov  int // iovecs used
	sent  int // messages sent by the current write
	err   error
	write func(fd uintptr) bool // s.sendmmsg, bound once
}

func newSender() *sender {
	s := &sender{m: newMmsg(batchSize, batchSize, sendOOBLen)}
	s.write = s.sendmmsg
	return s
}

// sendmmsg is the poller callback: it sends messages until all went, an
// error other than EAGAIN/EINTR stops it, or the socket is full (false:
// wait for it to drain).
func (s *sender) sendmmsg(fd uintptr) bool {
	for s.sent < s.nmsg {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd,
			uintptr(unsafe.Pointer(&s.m.hdrs[s.sent])), uintptr(s.nmsg-s.sent), 0, 0, 0)
		switch e {
		case 0:
			s.sent += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			s.err = e
			return true
		}
	}
	return true
}

// reset forgets the messages built.
func (s *sender) reset() {
	s.m.clearIovecs(s.niov)
	s.nmsg, s.niov, s.sent, s.err = 0, 0, 0, nil
}

// addMsg starts message k with the packets bufs as its iovecs, to addr,
// with oob (a prefix of m.msgOOB(k)) as control data; first is the index
// of bufs[0] in the caller's batch.
func (s *sender) addMsg(bufs [][]byte, addr netip.AddrPort, oob []byte, first int) {
	k := s.nmsg
	m := s.m
	iovs := m.iovs[s.niov : s.niov+len(bufs)]
	for i, b := range bufs {
		iovs[i] = unix.Iovec{}
		if len(b) > 0 {
			iovs[i].Base = &b[0]
		}
		iovs[i].SetLen(len(b))
	}
	h := &m.hdrs[k].Hdr
	m.setName(k, addr)
	h.Iov = &iovs[0]
	h.SetIovlen(len(bufs))
	h.Control = nil
	h.SetControllen(0)
	if len(oob) > 0 {
		h.Control = &oob[0]
		h.SetControllen(len(oob))
	}
	h.Flags = 0
	m.first[k] = first
	s.nmsg++
	s.niov += len(bufs)
}

// flush sends the messages built through rc and reports up to which
// caller packet the batch went: total (the index after the last packet
// built) on success, else the first packet of the message that failed.
func (s *sender) flush(rc syscall.RawConn, total int) (int, error) {
	if s.nmsg == 0 {
		return total, nil
	}
	s.m.first[s.nmsg] = total
	if err := rc.Write(s.write); err != nil {
		return s.m.first[s.sent], err
	}
	return s.m.first[s.sent], s.err
}

// gsoDisabling reports whether a send error means the path cannot do UDP
// GSO (no checksum offload on the route's device answers EIO) and a
// retry without it may succeed.
func gsoDisabling(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOPROTOOPT)
}

// sendAll sends n packets through rc in sendmmsg batches. add builds the
// message that starts with packet i and returns the packet after it, or
// i and an error that ends the batch there (the packets before it are
// still sent). retry, if not nil, decides whether a send error is worth a
// new attempt from the packet that failed. It returns how many packets
// went.
func (s *sender) sendAll(rc syscall.RawConn, n int, add func(i int) (int, error), retry func(error) bool) (int, error) {
	done := 0
	for done < n {
		s.reset()
		i := done
		var verr error
		for i < n && s.nmsg < batchSize && s.niov < batchSize && verr == nil {
			i, verr = add(i)
		}
		sent, err := s.flush(rc, i)
		done = sent
		switch {
		case err != nil && retry != nil && retry(err):
		case err != nil:
			return done, err
		case verr != nil:
			return done, verr
		}
	}
	return done, nil
}

// sendUDP sends a run of KindUDP packets, grouping consecutive packets
// with the same endpoint and size into one GSO message when the socket
// allows it. It returns how many packets were sent.
func (w *linuxWire) sendUDP(s *sender, bufs [][]byte, eps []Endpoint) (int, error) {
	add := func(i int) (int, error) {
		ep := &eps[i]
		src, err := w.checkUDP(ep)
		if err != nil {
			return i, err
		}
		// A GSO group: same endpoint, same size, the last may be
		// shorter.
		j := i + 1
		if w.gso.Load() {
			seg, total := len(bufs[i]), len(bufs[i])
			for j < len(bufs) && j-i < maxGSOSegments && s.niov+j-i < batchSize && eps[j] == *ep &&
				len(bufs[j]) <= seg && total+len(bufs[j]) <= maxGSOBytes && seg > 0 {
				total += len(bufs[j])
				j++
				if len(bufs[j-1]) < seg {
					break
				}
			}
		}
		oob := s.m.msgOOB(s.nmsg)[:0]
		oob = sendControl(oob, src, ep.TOS, ep.TTL)
		if j-i > 1 {
			oob = appendSegment(oob, len(bufs[i]))
		}
		s.addMsg(bufs[i:j], netip.AddrPortFrom(ep.Remote.Addr().Unmap(), ep.Remote.Port()), oob, i)
		return j, nil
	}
	// A kernel that refuses GSO on this path gets the failed message
	// again, one datagram each.
	retry := func(err error) bool { return gsoDisabling(err) && w.gso.Swap(false) }
	return s.sendAll(w.udpRC, len(bufs), add, retry)
}

// checkUDP checks the endpoint of a KindUDP packet and returns the source
// address to ask for with IP_PKTINFO (invalid: none).
func (w *linuxWire) checkUDP(ep *Endpoint) (netip.Addr, error) {
	var src netip.Addr
	dst := ep.Remote.Addr().Unmap()
	if !dst.Is4() || ep.Remote.Port() == 0 {
		return src, fmt.Errorf("%w: remote %v", ErrEndpoint, ep.Remote)
	}
	if p := ep.Local.Port(); p != 0 && p != w.bound.Port() {
		return src, fmt.Errorf("%w: local port %d, bound to %d", ErrEndpoint, p, w.bound.Port())
	}
	if a := ep.Local.Addr().Unmap(); a.IsValid() && !a.IsUnspecified() {
		switch {
		case !a.Is4():
			return src, fmt.Errorf("%w: local %v", ErrEndpoint, ep.Local)
		case w.bound.Addr().IsUnspecified():
			src = a
		case a != w.bound.Addr():
			return src, fmt.Errorf("%w: local %v, bound to %v", ErrEndpoint, a, w.bound.Addr())
		}
	}
	return src, nil
}

// sendIP sends a run of KindIP packets on the IPPROTO_RAW socket, each to
// the destination in its header.
func (w *linuxWire) sendIP(s *sender, bufs [][]byte) (int, error) {
	return s.sendAll(w.rawRC, len(bufs), func(i int) (int, error) {
		b := bufs[i]
		if len(b) < 20 || b[0]>>4 != 4 || int(b[0]&0x0f)*4 < 20 || int(b[0]&0x0f)*4 > len(b) {
			return i, ErrPacket
		}
		s.addMsg(bufs[i:i+1], netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[16:20])), 0), nil, i)
		return i + 1, nil
	}, nil)
}

// appendSegment appends a UDP_SEGMENT control message for segments of
// size bytes to b, within b's capacity.
func appendSegment(b []byte, size int) []byte {
	var v [2]byte
	binary.NativeEndian.PutUint16(v[:], uint16(size))
	return appendCmsg(b, unix.SOL_UDP, unix.UDP_SEGMENT, v[:])
}

// receiver is the state of one receive function: recvmmsg fills its own
// buffers, and the datagrams (GRO aggregates cut into their segments) are
// copied out into the caller's buffers, across calls if the caller's
// batch is smaller than what one recvmmsg returned.
type receiver struct {
	rc    syscall.RawConn
	kind  Kind
	bound netip.AddrPort
	m     *mmsg
	bufs  [][]byte

	// Messages read and not yet handed out: next is the message being
	// cut, off the offset in it.
	n, next, off int
	eps          []Endpoint
	segs         []int // segment size per message; -1: truncated, dropped

	got  int // set by recvmmsg
	err  error
	read func(fd uintptr) bool // r.recvmmsg, bound once
}

func newReceiver(rc syscall.RawConn, kind Kind, bound netip.AddrPort) *receiver {
	oobLen := 0
	if kind == KindUDP {
		oobLen = recvOOBLen
	}
	r := &receiver{
		rc: rc, kind: kind, bound: bound,
		m:    newMmsg(recvMsgs, recvMsgs, oobLen),
		bufs: make([][]byte, recvMsgs),
		eps:  make([]Endpoint, recvMsgs),
		segs: make([]int, recvMsgs),
	}
	for k := range r.bufs {
		r.bufs[k] = make([]byte, recvBufSize)
		r.m.iovs[k] = unix.Iovec{Base: &r.bufs[k][0]}
		r.m.iovs[k].SetLen(recvBufSize)
		h := &r.m.hdrs[k].Hdr
		h.Iov = &r.m.iovs[k]
		h.SetIovlen(1)
	}
	r.read = r.recvmmsg
	return r
}

// recvmmsg is the poller callback.
func (r *receiver) recvmmsg(fd uintptr) bool {
	m := r.m
	for k := range m.hdrs {
		h := &m.hdrs[k].Hdr
		h.Name = (*byte)(unsafe.Pointer(&m.names[k]))
		h.Namelen = unix.SizeofSockaddrInet4
		if m.oobLen > 0 {
			h.Control = &m.msgOOB(k)[0]
			h.SetControllen(m.oobLen)
		}
		h.Flags = 0
	}
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&m.hdrs[0])), uintptr(len(m.hdrs)), 0, 0, 0)
		switch e {
		case 0:
			r.got = int(n)
			return true
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			r.err = e
			return true
		}
	}
}

// receive is the ReceiveFunc.
func (r *receiver) receive(bufs [][]byte, sizes []int, eps []Endpoint) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if r.next >= r.n {
		r.got, r.err = 0, nil
		if err := r.rc.Read(r.read); err != nil {
			return 0, err
		}
		if r.err != nil {
			return 0, r.err
		}
		r.n, r.next, r.off = r.got, 0, 0
		for k := range r.n {
			r.parse(k)
		}
	}
	var err error
	i := 0
	for i < len(bufs) && r.next < r.n {
		k := r.next
		total := int(r.m.hdrs[k].Len)
		if r.segs[k] < 0 {
			err = io.ErrShortBuffer
			r.next, r.off = r.next+1, 0
			continue
		}
		seg := min(r.segs[k], total-r.off)
		if seg > len(bufs[i]) {
			err = io.ErrShortBuffer
		} else {
			sizes[i] = copy(bufs[i], r.bufs[k][r.off:r.off+seg])
			eps[i] = r.eps[k]
			i++
		}
		r.off += seg
		if r.off >= total {
			r.next, r.off = r.next+1, 0
		}
	}
	return i, err
}

// parse fills in the endpoint and segment size of message k.
func (r *receiver) parse(k int) {
	h := &r.m.hdrs[k]
	size := int(h.Len)
	if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
		r.segs[k] = -1
		return
	}
	if r.kind == KindIP {
		r.eps[k] = Endpoint{Kind: KindIP}
		r.segs[k] = size
		return
	}
	from := r.m.name(k)
	ep := Endpoint{Kind: KindUDP, Local: r.bound, Remote: from}
	gro := parseControl(r.m.msgOOB(k)[:h.Hdr.Controllen], &ep)
	r.eps[k] = ep
	r.segs[k] = size
	if gro > 0 && gro < size {
		r.segs[k] = gro
	}
}

// senders recycles the per-call state of Send: a free list as deep as
// the most concurrent Sends seen (sync.Pool would do, but drops items at
// random under the race detector, and the allocation tests run there).
type senders struct {
	mu   sync.Mutex
	free []*sender
}

func (p *senders) get() *sender {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		s := p.free[n-1]
		p.free = p.free[:n-1]
		return s
	}
	return newSender()
}

func (p *senders) put(s *sender) {
	s.reset()
	p.mu.Lock()
	p.free = append(p.free, s)
	p.mu.Unlock()
}
