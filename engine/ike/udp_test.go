package ike

import (
	"errors"
	"net"
	"net/netip"
	"sync"
)

// udpTransport is the tests' Transport over real sockets on 500 and
// 4500 (RFC 3947 section 4, RFC 3948 section 2.2: on 4500 IKE goes
// behind the 4-byte zero Non-ESP Marker, ESP-in-UDP and keepalives are
// skipped).
type udpTransport struct {
	c500, c4500 *net.UDPConn
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

func (u *udpTransport) Send(local, remote netip.AddrPort, msg []byte) error {
	if local.Port() == PortNATT || remote.Port() == PortNATT {
		b := make([]byte, 4+len(msg))
		copy(b[4:], msg)
		_, err := u.c4500.WriteToUDPAddrPort(b, remote)
		return err
	}
	_, err := u.c500.WriteToUDPAddrPort(msg, remote)
	return err
}

// serve feeds received IKE datagrams to n until Close.
func (u *udpTransport) serve(n *Negotiator) {
	for _, c := range []*net.UDPConn{u.c500, u.c4500} {
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			local := c.LocalAddr().(*net.UDPAddr).AddrPort()
			local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
			buf := make([]byte, 65536)
			for {
				k, from, err := c.ReadFromUDPAddrPort(buf)
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
