package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// IKE ports (RFC 2409, RFC 3947).
const (
	PortIKE  = 500
	PortNATT = 4500
)

// ListenIKE opens the IKE socket on UDP port (0: 500) of every address of
// the calling thread's network namespace and starts the routine that
// hands its datagrams to the negotiator. Datagrams on the NAT-T port
// arrive through the driver (Hooks). Close stops it.
//
// The socket carries mark (SO_MARK, when not zero) as the driver's do, so
// that policy routing sends IKE to a protected peer on the wire and not
// into the TUN device.
func (p *Plane) ListenIKE(port uint16, mark uint32) error {
	if port == 0 {
		port = PortIKE
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		if mark == 0 {
			return nil
		}
		var serr error
		err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark)) })
		return errors.Join(err, serr)
	}}
	pc0, err := lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf(":%d", port))
	if err != nil {
		return fmt.Errorf("dataplane: IKE socket: %w", err)
	}
	c := pc0.(*net.UDPConn)
	pc := ipv4.NewPacketConn(c)
	if err := pc.SetControlMessage(ipv4.FlagDst, true); err != nil {
		c.Close()
		return fmt.Errorf("dataplane: IKE socket: %w", err)
	}
	p.ike, p.ikePC = c, pc
	go p.routineReceiveIKE(pc, port)
	return nil
}

// routineReceiveIKE reads UDP 500 until Close.
func (p *Plane) routineReceiveIKE(pc *ipv4.PacketConn, port uint16) {
	defer close(p.done)
	buf := make([]byte, 65536)
	for {
		n, cm, src, err := pc.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Error("IKE socket", "err", err)
			}
			return
		}
		ua, ok := src.(*net.UDPAddr)
		np := p.neg.Load()
		if !ok || np == nil {
			continue
		}
		var local netip.AddrPort
		if cm != nil {
			if a, ok := netip.AddrFromSlice(cm.Dst); ok {
				local = netip.AddrPortFrom(a.Unmap(), port)
			}
		}
		(*np).Receive(local, ua.AddrPort(), buf[:n])
	}
}

// Send sends one IKE datagram (ike.Transport): to or from the NAT-T port
// through the driver, which adds the Non-ESP Marker; otherwise on the IKE
// socket from local's address.
func (p *Plane) Send(local, remote netip.AddrPort, msg []byte) error {
	if remote.Port() == PortNATT || local.Port() == PortNATT {
		d := p.drv.Load()
		if d == nil {
			return errNoDriver
		}
		return d.SendIKE(local, remote, msg)
	}
	if p.ike == nil {
		return errors.New("dataplane: IKE socket not open")
	}
	var cm *ipv4.ControlMessage
	if local.Addr().IsValid() && !local.Addr().IsUnspecified() {
		cm = &ipv4.ControlMessage{Src: local.Addr().AsSlice()}
	}
	_, err := p.ikePC.WriteTo(msg, cm, net.UDPAddrFromAddrPort(remote))
	return err
}

// Close closes the IKE socket and waits for its routine.
func (p *Plane) Close() error {
	p.mu.Lock()
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.mu.Unlock()
	if p.ike == nil {
		return nil
	}
	err := p.ike.Close()
	<-p.done
	return err
}
