package ike

import (
	"errors"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/ipv4"
)

// udpTransport is the tests' Transport over real sockets on 500 and
// 4500 (RFC 3947 section 4, RFC 3948 section 2.2: on 4500 IKE goes
// behind the 4-byte zero Non-ESP Marker, ESP-in-UDP and keepalives are
// skipped).
type udpTransport struct {
	c500, c4500 *net.UDPConn
	// p500 and p4500, set by listenUDPAny, carry each datagram's local
	// address (IP_PKTINFO): the sockets are bound to 0.0.0.0 and serve
	// every address of the namespace.
	p500, p4500 *ipv4.PacketConn
	wg          sync.WaitGroup
}

// listenUDP binds both ports on addr (in the calling goroutine's
// network namespace).
func listenUDP(addr netip.Addr) (*udpTransport, error) {
	c500, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, PortIKE)))
	if err != nil {
		return nil, err
	}
	c4500, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, PortNATT)))
	if err != nil {
		c500.Close()
		return nil, err
	}
	return &udpTransport{c500: c500, c4500: c4500}, nil
}

// listenUDPAny binds both ports on 0.0.0.0 (in the calling goroutine's
// network namespace) for a Negotiator that speaks from many local
// addresses: Receive gets the datagram's destination as the local
// address, Send uses the local address as the source.
func listenUDPAny() (*udpTransport, error) {
	u, err := listenUDP(netip.IPv4Unspecified())
	if err != nil {
		return nil, err
	}
	u.p500, u.p4500 = ipv4.NewPacketConn(u.c500), ipv4.NewPacketConn(u.c4500)
	for _, p := range []*ipv4.PacketConn{u.p500, u.p4500} {
		if err := p.SetControlMessage(ipv4.FlagDst, true); err != nil {
			u.Close()
			return nil, err
		}
	}
	return u, nil
}

func (u *udpTransport) Send(local, remote netip.AddrPort, msg []byte) error {
	c, p := u.c500, u.p500
	if local.Port() == PortNATT || remote.Port() == PortNATT {
		b := make([]byte, 4+len(msg))
		copy(b[4:], msg)
		c, p, msg = u.c4500, u.p4500, b
	}
	if p != nil {
		_, err := p.WriteTo(msg, &ipv4.ControlMessage{Src: local.Addr().AsSlice()}, net.UDPAddrFromAddrPort(remote))
		return err
	}
	_, err := c.WriteToUDPAddrPort(msg, remote)
	return err
}

// serve feeds received IKE datagrams to n until Close.
func (u *udpTransport) serve(n *Negotiator) {
	for _, c := range []struct {
		c *net.UDPConn
		p *ipv4.PacketConn
	}{{u.c500, u.p500}, {u.c4500, u.p4500}} {
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			local := c.c.LocalAddr().(*net.UDPAddr).AddrPort()
			local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
			buf := make([]byte, 65536)
			for {
				var k int
				var from netip.AddrPort
				var err error
				if c.p != nil {
					var cm *ipv4.ControlMessage
					var src net.Addr
					k, cm, src, err = c.p.ReadFrom(buf)
					if err == nil {
						if cm == nil {
							continue
						}
						ua, ok := src.(*net.UDPAddr)
						dst, ok2 := netip.AddrFromSlice(cm.Dst.To4())
						if !ok || !ok2 {
							continue
						}
						from = ua.AddrPort()
						local = netip.AddrPortFrom(dst, local.Port())
					}
				} else {
					k, from, err = c.c.ReadFromUDPAddrPort(buf)
				}
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err != nil {
					continue
				}
				from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
				msg := buf[:k]
				if local.Port() == PortNATT {
					if k < 4 || msg[0]|msg[1]|msg[2]|msg[3] != 0 {
						continue // ESP in UDP or a NAT keepalive
					}
					msg = msg[4:]
				}
				n.Receive(local, from, msg)
			}
		}()
	}
}

func (u *udpTransport) Close() {
	u.c500.Close()
	u.c4500.Close()
	u.wg.Wait()
}
