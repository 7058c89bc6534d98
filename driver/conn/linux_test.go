//go:build linux

package conn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonetsh/gonetsh/driver/tun/tuntest"
	"github.com/gonetsh/gonetsh/internal/netnstest"
)

const waitFor = 2 * time.Second

// loopback returns two addresses of 127.0.0.0/8 that no other run of this
// test uses at the same time: they carry the process ID.
func loopback() (a, b netip.Addr) {
	pid := os.Getpid()
	return netip.AddrFrom4([4]byte{127, byte(pid >> 8), byte(pid), 1}),
		netip.AddrFrom4([4]byte{127, byte(pid >> 8), byte(pid), 2})
}

// received is one packet a pump saw.
type received struct {
	fn   int // index of the receive function
	data []byte
	ep   Endpoint
}

// endpoint is an open wire whose receive functions feed one channel.
type endpoint struct {
	w    Wire
	in   chan received
	errs chan error // each pump's final error
	fns  int
}

func newEndpoint(t *testing.T, cfg LinuxConfig) *endpoint {
	t.Helper()
	w, err := NewLinux(cfg)
	require.NoError(t, err)
	fns, err := w.Open()
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	e := &endpoint{w: w, in: make(chan received, 64), errs: make(chan error, len(fns)), fns: len(fns)}
	for i, fn := range fns {
		go e.pump(i, fn, 1<<16)
	}
	t.Cleanup(func() {
		w.Close()
		for range e.fns {
			select {
			case <-e.errs:
			case <-time.After(waitFor):
				t.Error("a receive function is still blocked after Close")
				return
			}
		}
	})
	return e
}

// pump runs fn until it fails with anything but io.ErrShortBuffer.
func (e *endpoint) pump(i int, fn ReceiveFunc, size int) {
	bufs, sizes, eps := [][]byte{make([]byte, size)}, make([]int, 1), make([]Endpoint, 1)
	for {
		n, err := fn(bufs, sizes, eps)
		for j := range n {
			e.in <- received{i, append([]byte(nil), bufs[j][:sizes[j]]...), eps[j]}
		}
		if errors.Is(err, io.ErrShortBuffer) {
			e.in <- received{fn: i, data: nil}
			continue
		}
		if err != nil {
			e.errs <- err
			return
		}
	}
}

// next returns the next packet received, failing after waitFor.
func (e *endpoint) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-e.in:
		return r
	case <-time.After(waitFor):
		t.Fatal("nothing received")
		return received{}
	}
}

func TestLinuxUDP(t *testing.T) {
	netnstest.RequireRoot(t)
	la, lb := loopback()
	a := newEndpoint(t, LinuxConfig{Local: la})
	b := newEndpoint(t, LinuxConfig{Local: lb})
	require.Equal(t, batchSize, a.w.BatchSize())
	require.Equal(t, 3, a.fns)

	// An ESP payload with TOS and TTL asked for, from the bound address.
	msg := []byte{0, 0, 0x10, 0x01, 1, 2, 3, 4}
	n, err := a.w.Send([][]byte{msg}, []Endpoint{{Kind: KindUDP,
		Local: netip.AddrPortFrom(la, 0), Remote: netip.AddrPortFrom(lb, NATTPort), TOS: 0xb8, TTL: 33}})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	r := b.next(t)
	require.Equal(t, 0, r.fn, "the UDP receive function")
	require.Equal(t, msg, r.data)
	require.Equal(t, Endpoint{Kind: KindUDP, Local: netip.AddrPortFrom(lb, NATTPort),
		Remote: netip.AddrPortFrom(la, NATTPort), TOS: 0xb8, TTL: 33}, r.ep)

	// The answer goes back to the endpoint as received, with the system's
	// defaults for TOS (0) and TTL (64).
	ike := []byte{0, 0, 0, 0, 'i', 'k', 'e'}
	_, err = b.w.Send([][]byte{ike, {0xff}}, []Endpoint{{Kind: KindUDP, Remote: r.ep.Remote}, {Kind: KindUDP, Remote: r.ep.Remote}})
	require.NoError(t, err)
	for _, want := range [][]byte{ike, {0xff}} {
		r := a.next(t)
		require.Equal(t, want, r.data)
		require.Equal(t, netip.AddrPortFrom(lb, NATTPort), r.ep.Remote)
		require.Zero(t, r.ep.TOS)
		require.Equal(t, uint8(64), r.ep.TTL)
	}
}

// TestLinuxAnyAddress: a wire bound to 0.0.0.0 learns each datagram's
// destination (IP_PKTINFO) and sends from the source asked for.
func TestLinuxAnyAddress(t *testing.T) {
	netnstest.RequireRoot(t)
	la, lb := loopback()
	// Not port 4500 on every address: another wire of the machine may
	// hold it.
	a := newEndpoint(t, LinuxConfig{Local: netip.IPv4Unspecified(), Port: freeUDPPort(t)})
	port := a.w.(*linuxWire).bound.Port()
	b := newEndpoint(t, LinuxConfig{Local: lb})
	_, err := b.w.Send([][]byte{{9, 9, 9, 9}}, []Endpoint{{Kind: KindUDP, Remote: netip.AddrPortFrom(la, port)}})
	require.NoError(t, err)
	r := a.next(t)
	require.Equal(t, netip.AddrPortFrom(la, port), r.ep.Local)

	other := netip.AddrFrom4([4]byte{127, la.As4()[1], la.As4()[2], 3})
	_, err = a.w.Send([][]byte{{7, 7, 7, 7}}, []Endpoint{{Kind: KindUDP, Local: netip.AddrPortFrom(other, 0), Remote: netip.AddrPortFrom(lb, NATTPort)}})
	require.NoError(t, err)
	r = b.next(t)
	require.Equal(t, netip.AddrPortFrom(other, port), r.ep.Remote)
}

// freeUDPPort returns a UDP port free on 0.0.0.0 a moment ago.
func freeUDPPort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{})
	require.NoError(t, err)
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// TestLinuxRaw sends whole IPv4 packets, ESP, AH and cleartext UDP,
// through the IPPROTO_RAW socket; the ESP and AH sockets receive them
// header first.
func TestLinuxRaw(t *testing.T) {
	netnstest.RequireRoot(t)
	la, lb := loopback()
	a := newEndpoint(t, LinuxConfig{Local: la})
	b := newEndpoint(t, LinuxConfig{Local: lb})

	for _, tc := range []struct {
		proto byte
		fn    int
	}{{50, 1}, {51, 2}} {
		body := bytes.Repeat([]byte{0x5a}, 40)
		binary.BigEndian.PutUint32(body, 0x1001)
		pkt := ipv4(la, lb, tc.proto, body) // ID 0: the kernel fills it
		_, err := a.w.Send([][]byte{pkt}, []Endpoint{{Kind: KindIP}})
		require.NoError(t, err)
		r := b.next(t)
		require.Equal(t, tc.fn, r.fn, "protocol %d", tc.proto)
		require.Equal(t, Endpoint{Kind: KindIP}, r.ep)
		ip := tuntest.IPv4(r.data)
		require.True(t, ip.IsValid())
		require.True(t, ip.ChecksumValid())
		require.Equal(t, la, ip.Src())
		require.Equal(t, lb, ip.Dst())
		require.Equal(t, tc.proto, ip.Protocol())
		require.Equal(t, body, ip.Payload())
	}

	// Cleartext: a UDP datagram built by hand reaches an ordinary socket.
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lb, 0)))
	require.NoError(t, err)
	defer c.Close()
	dst := c.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt, err := tuntest.UDP(netip.AddrPortFrom(la, 5555), dst, []byte("clear"))
	require.NoError(t, err)
	_, err = a.w.Send([][]byte{pkt}, []Endpoint{{Kind: KindIP}})
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
	buf := make([]byte, 64)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	require.NoError(t, err)
	require.Equal(t, "clear", string(buf[:n]))
	require.Equal(t, netip.AddrPortFrom(la, 5555), from)
}

// ipv4 returns an IPv4 packet with a zero ID and checksum.
func ipv4(src, dst netip.Addr, proto byte, payload []byte) []byte {
	p := make([]byte, 20+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8], p[9] = 64, proto
	s, d := src.As4(), dst.As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	copy(p[20:], payload)
	return p
}

func TestLinuxErrors(t *testing.T) {
	netnstest.RequireRoot(t)
	la, lb := loopback()
	_, err := NewLinux(LinuxConfig{})
	require.ErrorIs(t, err, ErrConfig)
	_, err = NewLinux(LinuxConfig{Local: netip.MustParseAddr("::1")})
	require.ErrorIs(t, err, ErrConfig)

	w, err := NewLinux(LinuxConfig{Local: la, Mark: 0x2a})
	require.NoError(t, err)
	defer w.Close()
	lw := w.(*linuxWire)
	// Read SO_MARK through SyscallConn: File().Fd() would switch the
	// shared open file description to blocking mode, after which Close can
	// no longer wake a blocked receiver (that made this test hang).
	mark := func(c syscall.Conn) int {
		rc, err := c.SyscallConn()
		require.NoError(t, err)
		var v int
		var gerr error
		require.NoError(t, rc.Control(func(fd uintptr) {
			v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK)
		}))
		require.NoError(t, gerr)
		return v
	}
	require.Equal(t, 0x2a, mark(lw.udp))
	require.Equal(t, 0x2a, mark(lw.esp))
	require.Equal(t, 0x2a, mark(lw.raw))

	good := netip.AddrPortFrom(lb, NATTPort)
	for _, tc := range []struct {
		name string
		pkt  []byte
		ep   Endpoint
		want error
	}{
		{"no kind", []byte{1}, Endpoint{}, ErrEndpoint},
		{"no remote", []byte{1}, Endpoint{Kind: KindUDP}, ErrEndpoint},
		{"remote port 0", []byte{1}, Endpoint{Kind: KindUDP, Remote: netip.AddrPortFrom(lb, 0)}, ErrEndpoint},
		{"IPv6 remote", []byte{1}, Endpoint{Kind: KindUDP, Remote: netip.MustParseAddrPort("[::1]:4500")}, ErrEndpoint},
		{"other local address", []byte{1}, Endpoint{Kind: KindUDP, Local: netip.AddrPortFrom(lb, 0), Remote: good}, ErrEndpoint},
		{"other local port", []byte{1}, Endpoint{Kind: KindUDP, Local: netip.AddrPortFrom(la, 500), Remote: good}, ErrEndpoint},
		{"short IP", []byte{0x45, 0}, Endpoint{Kind: KindIP}, ErrPacket},
		{"IPv6 packet", append([]byte{0x60}, make([]byte, 39)...), Endpoint{Kind: KindIP}, ErrPacket},
		{"IHL beyond packet", append([]byte{0x4f}, make([]byte, 39)...), Endpoint{Kind: KindIP}, ErrPacket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The first packet goes, the second fails: n is 1.
			n, err := w.Send([][]byte{{0xff}, tc.pkt}, []Endpoint{{Kind: KindUDP, Remote: good}, tc.ep})
			require.ErrorIs(t, err, tc.want)
			require.Equal(t, 1, n)
		})
	}

	fns, err := w.Open()
	require.NoError(t, err)
	_, err = w.Open()
	require.ErrorIs(t, err, ErrOpen)

	// A datagram larger than the buffer is dropped and reported.
	b, err := NewLinux(LinuxConfig{Local: lb})
	require.NoError(t, err)
	defer b.Close()
	_, err = b.Send([][]byte{make([]byte, 100)}, []Endpoint{{Kind: KindUDP, Remote: netip.AddrPortFrom(la, NATTPort)}})
	require.NoError(t, err)
	short := make(chan error, 1)
	go func() {
		_, err := fns[0]([][]byte{make([]byte, 10)}, make([]int, 1), make([]Endpoint, 1))
		short <- err
	}()
	select {
	case err = <-short:
		require.ErrorIs(t, err, io.ErrShortBuffer)
	case <-time.After(waitFor):
		w.Close() // unblock the receive; never hang the suite
		t.Fatal("the oversized datagram never arrived")
	}

	// Close unblocks every receive function, once.
	done := make(chan error, len(fns))
	for _, fn := range fns {
		go func() {
			_, err := fn([][]byte{make([]byte, 1<<16)}, make([]int, 1), make([]Endpoint, 1))
			done <- err
		}()
	}
	require.NoError(t, w.Close())
	for range fns {
		select {
		case err := <-done:
			require.ErrorIs(t, err, net.ErrClosed)
		case <-time.After(waitFor):
			t.Fatal("receive still blocked after Close")
		}
	}
	require.NoError(t, w.Close(), "Close twice")
	_, err = w.Send([][]byte{{1}}, []Endpoint{{Kind: KindUDP, Remote: good}})
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = w.Open()
	require.ErrorIs(t, err, net.ErrClosed)
}

// TestParseControlNoAllocs: the receive path's control-message parser
// reads what the kernel sends (in_pktinfo, a TOS byte, a TTL int) and does
// not allocate.
func TestParseControlNoAllocs(t *testing.T) {
	var info unix.Inet4Pktinfo
	info.Spec_dst = [4]byte{192, 0, 2, 99}
	info.Addr = [4]byte{192, 0, 2, 1}
	var ttl [4]byte
	binary.NativeEndian.PutUint32(ttl[:], 9)
	oob := appendCmsg(nil, unix.IPPROTO_IP, unix.IP_PKTINFO, unsafe.Slice((*byte)(unsafe.Pointer(&info)), unix.SizeofInet4Pktinfo))
	oob = appendCmsg(oob, unix.IPPROTO_IP, unix.IP_TOS, []byte{0xb8})
	oob = appendCmsg(oob, unix.IPPROTO_IP, unix.IP_TTL, ttl[:])
	ep := Endpoint{Local: netip.MustParseAddrPort("0.0.0.0:4500")}
	allocs := testing.AllocsPerRun(100, func() { parseControl(oob, &ep) })
	require.Zero(t, allocs)
	require.Equal(t, Endpoint{Local: netip.MustParseAddrPort("192.0.2.1:4500"), TOS: 0xb8, TTL: 9}, ep)

	// Truncated or garbage control data stops the parser, nothing more.
	for i := range oob {
		parseControl(oob[:i], &ep)
	}
	parseControl(bytes.Repeat([]byte{0xff}, 64), &ep)
}

// TestLinuxUDPAllocs: the UDP data path, a payload sent without control
// messages and received with them, does not allocate.
func TestLinuxUDPAllocs(t *testing.T) {
	netnstest.RequireRoot(t)
	la, lb, a, b := wirePair(t)
	fns, err := b.Open()
	require.NoError(t, err)

	const runs = 50
	pkt := [][]byte{{0, 0, 0x10, 0x01, 1, 2, 3, 4}}
	eps := []Endpoint{{Kind: KindUDP, Remote: netip.AddrPortFrom(lb, NATTPort)}}
	send := testing.AllocsPerRun(runs, func() {
		if _, err := a.Send(pkt, eps); err != nil {
			t.Fatal(err)
		}
	})
	bufs, sizes, reps := [][]byte{make([]byte, 1<<16)}, make([]int, 1), make([]Endpoint, 1)
	recv := testing.AllocsPerRun(runs, func() {
		if _, err := fns[0](bufs, sizes, reps); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, send, "Send")
	require.Zero(t, recv, "receive")
	require.Equal(t, netip.AddrPortFrom(la, NATTPort), reps[0].Remote)
}

// gsoBatch returns count ESP-like payloads of size bytes (the last one
// last bytes), each starting with its index.
func gsoBatch(count, size, last int) [][]byte {
	bufs := make([][]byte, count)
	for i := range bufs {
		n := size
		if i == count-1 {
			n = last
		}
		bufs[i] = bytes.Repeat([]byte{byte(i)}, n)
	}
	return bufs
}

// TestLinuxGSOGRO: a batch of same-size datagrams to one endpoint leaves
// in one UDP_SEGMENT send and arrives as one UDP_GRO aggregate, which the
// receive function cuts into the datagrams again, in order, also when
// the caller's batch is smaller than the aggregate. Without GSO (a kernel
// that refused it) the same batch goes one datagram per message.
func TestLinuxGSOGRO(t *testing.T) {
	netnstest.RequireRoot(t)
	la, lb, a, b := wirePair(t)
	aw, bw := a.(*linuxWire), b.(*linuxWire)
	require.True(t, aw.gso.Load(), "this kernel has UDP GSO")
	r := newReceiver(bw.udpRC, KindUDP, bw.bound)

	for _, tc := range []struct {
		name  string
		gso   bool
		batch int // the caller's receive batch
	}{
		{"gso", true, batchSize},
		{"gso small batch", true, 7},
		{"no gso", false, batchSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aw.gso.Store(tc.gso)
			const count, size, last = 40, 1400, 333
			pkts := gsoBatch(count, size, last)
			ep := Endpoint{Kind: KindUDP, Remote: netip.AddrPortFrom(lb, NATTPort), TOS: 0x10}
			eps := make([]Endpoint, count)
			for i := range eps {
				eps[i] = ep
			}
			n, err := a.Send(pkts, eps)
			require.NoError(t, err)
			require.Equal(t, count, n)

			bufs := make([][]byte, tc.batch)
			for i := range bufs {
				bufs[i] = make([]byte, 2048)
			}
			sizes, reps := make([]int, tc.batch), make([]Endpoint, tc.batch)
			var got [][]byte
			for len(got) < count {
				n, err := r.receive(bufs, sizes, reps)
				require.NoError(t, err)
				for i := range n {
					require.Equal(t, Endpoint{Kind: KindUDP, Local: netip.AddrPortFrom(lb, NATTPort),
						Remote: netip.AddrPortFrom(la, NATTPort), TOS: 0x10, TTL: 64}, reps[i])
					got = append(got, append([]byte(nil), bufs[i][:sizes[i]]...))
				}
			}
			require.Equal(t, pkts, got)
			if tc.gso {
				require.Greater(t, int(r.m.hdrs[0].Len), size, "the first message was a GRO aggregate")
			}
		})
	}
}

// TestLinuxMixedBatch: one Send with UDP payloads to two peers and raw
// IPv4 packets in between keeps the order of each kind and reports the
// whole batch sent.
func TestLinuxMixedBatch(t *testing.T) {
	netnstest.RequireRoot(t)
	la, lb := loopback()
	a := newEndpoint(t, LinuxConfig{Local: la})
	b := newEndpoint(t, LinuxConfig{Local: lb})
	body := bytes.Repeat([]byte{0x5a}, 40)
	binary.BigEndian.PutUint32(body, 0x1001)
	raw := ipv4(la, lb, 50, body)
	toB := Endpoint{Kind: KindUDP, Remote: netip.AddrPortFrom(lb, NATTPort)}
	toA := Endpoint{Kind: KindUDP, Remote: netip.AddrPortFrom(la, NATTPort)}
	pkts := [][]byte{{1, 1}, {2, 2}, raw, {3, 3}, {4}, {5, 5}}
	eps := []Endpoint{toB, toB, {Kind: KindIP}, toB, toA, toB}
	n, err := a.w.Send(pkts, eps)
	require.NoError(t, err)
	require.Equal(t, len(pkts), n)
	var udp [][]byte
	sawRaw := false
	for range 5 {
		r := b.next(t)
		if r.fn == 1 {
			sawRaw = true
			require.Equal(t, body, tuntest.IPv4(r.data).Payload())
			continue
		}
		udp = append(udp, r.data)
	}
	require.True(t, sawRaw)
	require.Equal(t, [][]byte{{1, 1}, {2, 2}, {3, 3}, {5, 5}}, udp)
	require.Equal(t, []byte{4}, a.next(t).data)
}

// TestLinuxGSOAllocs: a batch send with GSO and its batch receipt do not
// allocate.
func TestLinuxGSOAllocs(t *testing.T) {
	netnstest.RequireRoot(t)
	_, lb, a, b := wirePair(t)
	fns, err := b.Open()
	require.NoError(t, err)

	const count, runs = 16, 20
	pkts := gsoBatch(count, 1200, 1200)
	eps := make([]Endpoint, count)
	for i := range eps {
		eps[i] = Endpoint{Kind: KindUDP, Remote: netip.AddrPortFrom(lb, NATTPort), TTL: 9}
	}
	send := testing.AllocsPerRun(runs, func() {
		if _, err := a.Send(pkts, eps); err != nil {
			t.Fatal(err)
		}
	})
	bufs := make([][]byte, count)
	for i := range bufs {
		bufs[i] = make([]byte, 1<<16)
	}
	sizes, reps := make([]int, count), make([]Endpoint, count)
	recv := testing.AllocsPerRun(runs, func() {
		for got := 0; got < count; {
			n, err := fns[0](bufs, sizes, reps)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	require.Zero(t, send, "Send")
	require.Zero(t, recv, "receive")
}

// wirePair returns two unopened wires on the loopback addresses of
// loopback(), closed by t.Cleanup.
func wirePair(t *testing.T) (la, lb netip.Addr, a, b Wire) {
	t.Helper()
	la, lb = loopback()
	a, err := NewLinux(LinuxConfig{Local: la})
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	b, err = NewLinux(LinuxConfig{Local: lb})
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return la, lb, a, b
}
