//go:build linux

package charontest

import (
	"encoding/binary"
	"fmt"

	"github.com/gonetsh/gonetsh/internal/netnstest"
)

// Wire counts what a capture saw, by kind.
type Wire struct {
	IKE      int // UDP 500, or UDP 4500 with the non-ESP marker
	ESPInUDP int // UDP 4500 carrying ESP (RFC 3948)
	ESP      int // IP protocol 50
	Other    int // anything else: cleartext that should have been protected
	// FirstOther describes the first Other packet.
	FirstOther string
}

// Classify sorts captured IPv4 packets into IKE, ESP-in-UDP, raw ESP and
// other.
func Classify(pkts []netnstest.Packet) Wire {
	var w Wire
	for _, p := range pkts {
		d := p.Data
		if len(d) < 20 || d[0]>>4 != 4 {
			w.other(p, "not IPv4")
			continue
		}
		ihl := int(d[0]&0x0f) * 4
		proto := d[9]
		if proto == 50 {
			w.ESP++
			continue
		}
		if proto != 17 || len(d) < ihl+8 {
			w.other(p, fmt.Sprintf("protocol %d", proto))
			continue
		}
		sport, dport := binary.BigEndian.Uint16(d[ihl:]), binary.BigEndian.Uint16(d[ihl+2:])
		body := d[ihl+8:]
		switch {
		case sport == 500 || dport == 500:
			w.IKE++
		case sport == 4500 || dport == 4500:
			switch {
			case len(body) == 1 && body[0] == 0xff:
				w.IKE++ // NAT-T keepalive
			case len(body) >= 4 && binary.BigEndian.Uint32(body) == 0:
				w.IKE++ // non-ESP marker
			default:
				w.ESPInUDP++
			}
		default:
			w.other(p, fmt.Sprintf("UDP %d -> %d", sport, dport))
		}
	}
	return w
}

func (w *Wire) other(p netnstest.Packet, what string) {
	if w.Other == 0 {
		src, dst := "?", "?"
		if len(p.Data) >= 20 {
			src = fmt.Sprintf("%d.%d.%d.%d", p.Data[12], p.Data[13], p.Data[14], p.Data[15])
			dst = fmt.Sprintf("%d.%d.%d.%d", p.Data[16], p.Data[17], p.Data[18], p.Data[19])
		}
		w.FirstOther = fmt.Sprintf("%s %s -> %s (%d bytes)", what, src, dst, p.Len)
	}
	w.Other++
}
