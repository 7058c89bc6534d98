package driver

// NAT keepalives, RFC 3948 section 2.3: a UDP datagram carrying the one
// byte 0xFF, sent from the local port of each UDP-encapsulated outbound SA
// to its peer, so that a NAT between them keeps its mapping while no ESP
// flows. Receivers discard them (inboundUDP counts KeepalivesReceived and
// drops them, no error counter moves).

import (
	"net/netip"
	"time"

	"github.com/gonetsh/gonetsh/driver/conn"
	"github.com/gonetsh/gonetsh/driver/sadb"
)

// DefaultKeepaliveInterval is the keepalive period for a zero
// Config.KeepaliveInterval: RFC 3948 section 4 suggests 20 seconds.
const DefaultKeepaliveInterval = 20 * time.Second

// keepaliveByte is the payload of a NAT-keepalive packet.
const keepaliveByte = 0xff

// keepaliveState is the housekeeping routine's schedule; only that
// routine touches it.
type keepaliveState struct {
	next time.Time // zero until the first tick sets it one interval ahead
}

// sendKeepalives sends one keepalive per distinct (local, peer) pair of
// the UDP-encapsulated outbound SAs when the interval has passed on the
// injected clock. It runs on the housekeeping routine only and allocates
// only there, once per interval.
func (d *Driver) sendKeepalives(now time.Time) {
	if d.keepaliveInterval <= 0 {
		return
	}
	k := &d.keepalive
	if k.next.IsZero() {
		k.next = now.Add(d.keepaliveInterval)
		return
	}
	if now.Before(k.next) {
		return
	}
	k.next = now.Add(d.keepaliveInterval)

	type pair struct{ local, remote netip.AddrPort }
	seen := map[pair]bool{}
	var eps []conn.Endpoint
	d.sas.mu.Lock()
	for id, x := range d.sas.byID {
		if id.Dir != sadb.Outbound || !x.encap {
			continue
		}
		p := pair{netip.AddrPortFrom(x.local, x.lport), x.peer}
		if !seen[p] {
			seen[p] = true
			eps = append(eps, conn.Endpoint{Kind: conn.KindUDP, Local: p.local, Remote: p.remote})
		}
	}
	d.sas.mu.Unlock()
	if len(eps) == 0 {
		return
	}
	msg := []byte{keepaliveByte}
	bufs := make([][]byte, len(eps))
	for i := range bufs {
		bufs[i] = msg
	}
	for len(bufs) > 0 {
		n, err := d.wire.Send(bufs, eps)
		d.stats.KeepalivesSent.Add(uint64(min(n, len(bufs))))
		if err == nil {
			return
		}
		d.drop(&d.stats.SendErrors, "keepalive send", err)
		if n+1 >= len(bufs) {
			return
		}
		bufs, eps = bufs[n+1:], eps[n+1:]
	}
}
