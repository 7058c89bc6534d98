// Package hostinfo gathers on Linux what the policy agent needs to know
// about this host (agent.HostInfo): its addresses (`me`) and the servers
// that the server types dns, wins, dhcp and gateway stand for. The engine
// calls Gather at every compilation, so a refresh (`netsh gpupdate`) and
// every policy poll see the host as it is then.
//
// Sources, each read under Source.Root (a fixture directory in tests):
//
//   - addresses: Source.Addrs, by default the IPv4 addresses of the
//     interfaces that are up, loopback interfaces excluded (IPv6 is not
//     filtered by gonetsh; link-local 169.254/16 addresses are kept, as
//     Windows lists APIPA addresses);
//   - DNS servers: the `nameserver` lines of /etc/resolv.conf, IPv4 and
//     not loopback; when that leaves none (systemd-resolved's stub
//     127.0.0.53), those of /run/systemd/resolve/resolv.conf, which lists
//     the upstream servers;
//   - default gateway: /proc/net/route, the IPv4 default route (destination
//     and mask 0, flag RTF_GATEWAY) with the lowest metric;
//   - DHCP server: the first of systemd-networkd's leases
//     (/run/systemd/netif/leases/*, `SERVER_ADDRESS=`), NetworkManager's
//     internal client's (/var/lib/NetworkManager/internal-*.lease, same
//     format), then dhclient's (/var/lib/dhcp/*.leases and
//     /var/lib/dhclient/*.lease*: the last `lease { }` block's `option
//     dhcp-server-identifier`), files in name order;
//   - WINS servers: `option netbios-name-servers` of those dhclient
//     blocks; none otherwise (systemd-networkd keeps no WINS servers).
//
// A source that is missing or unreadable contributes nothing.
package hostinfo

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gonetsh/gonetsh/engine/agent"
)

// Source says where Gather looks.
type Source struct {
	// Root is prefixed to every file path; "" is "/".
	Root string
	// Addrs returns this host's addresses; nil: InterfaceAddrs.
	Addrs func() []netip.Addr
}

// Gather returns the host information from s.
func (s Source) Gather() agent.HostInfo {
	addrs := s.Addrs
	if addrs == nil {
		addrs = InterfaceAddrs
	}
	h := agent.HostInfo{Addrs: addrs()}
	h.DNSServers = s.dnsServers()
	h.Gateway = s.gateway()
	h.DHCPServer, h.WINSServers = s.leases()
	return h
}

// Gather returns this host's information from the live system.
func Gather() agent.HostInfo { return Source{}.Gather() }

// InterfaceAddrs returns the IPv4 addresses of the interfaces that are up,
// loopback interfaces excluded.
func InterfaceAddrs() []netip.Addr {
	var out []netip.Addr
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap().Is4() {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

func (s Source) path(p string) string {
	if s.Root == "" {
		return p
	}
	return filepath.Join(s.Root, p)
}

func (s Source) read(p string) []byte {
	b, err := os.ReadFile(s.path(p))
	if err != nil {
		return nil
	}
	return b
}

func (s Source) glob(pattern string) []string {
	m, _ := filepath.Glob(s.path(pattern))
	slices.Sort(m)
	return m
}

// parse4 parses an IPv4 address; the invalid Addr otherwise.
func parse4(v string) netip.Addr {
	a, err := netip.ParseAddr(strings.TrimSpace(v))
	if err != nil || !a.Unmap().Is4() {
		return netip.Addr{}
	}
	return a.Unmap()
}

func appendNew(list []netip.Addr, a netip.Addr) []netip.Addr {
	if a.IsValid() && !slices.Contains(list, a) {
		list = append(list, a)
	}
	return list
}

func (s Source) dnsServers() []netip.Addr {
	for _, f := range []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"} {
		var out []netip.Addr
		sc := bufio.NewScanner(bytes.NewReader(s.read(f)))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "nameserver" {
				if a := parse4(fields[1]); a.IsValid() && !a.IsLoopback() {
					out = appendNew(out, a)
				}
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

// gateway reads /proc/net/route: Iface Destination Gateway Flags RefCnt
// Use Metric Mask ..., addresses in hexadecimal, host byte order.
func (s Source) gateway() netip.Addr {
	const rtfGateway = 0x2
	var best netip.Addr
	bestMetric := -1
	sc := bufio.NewScanner(bytes.NewReader(s.read("/proc/net/route")))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
			continue
		}
		flags, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil || flags&rtfGateway == 0 {
			continue
		}
		metric, err := strconv.Atoi(f[6])
		if err != nil {
			continue
		}
		gw, err := hex.DecodeString(f[2])
		if err != nil || len(gw) != 4 {
			continue
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], binary.LittleEndian.Uint32(gw))
		if bestMetric < 0 || metric < bestMetric {
			best, bestMetric = netip.AddrFrom4(b), metric
		}
	}
	return best
}

// leases returns the DHCP server and the WINS servers.
func (s Source) leases() (dhcp netip.Addr, wins []netip.Addr) {
	for _, pattern := range []string{"/run/systemd/netif/leases/*", "/var/lib/NetworkManager/internal-*.lease"} {
		for _, f := range s.glob(pattern) {
			b, _ := os.ReadFile(f)
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "SERVER_ADDRESS="); ok && !dhcp.IsValid() {
					dhcp = parse4(v)
				}
			}
		}
	}
	for _, pattern := range []string{"/var/lib/dhcp/*.leases", "/var/lib/dhclient/*.lease*"} {
		for _, f := range s.glob(pattern) {
			b, _ := os.ReadFile(f)
			server, ws := lastLease(string(b))
			if !dhcp.IsValid() {
				dhcp = server
			}
			for _, w := range ws {
				wins = appendNew(wins, w)
			}
		}
	}
	return dhcp, wins
}

// lastLease reads the options of the last `lease { ... }` block of a
// dhclient lease file (dhclient appends renewed leases).
func lastLease(text string) (server netip.Addr, wins []netip.Addr) {
	i := strings.LastIndex(text, "lease {")
	if i < 0 {
		return server, nil
	}
	block := text[i+len("lease {"):]
	if j := strings.Index(block, "}"); j >= 0 {
		block = block[:j]
	}
	for _, stmt := range strings.Split(block, ";") {
		f := strings.Fields(stmt)
		if len(f) < 3 || f[0] != "option" {
			continue
		}
		val := strings.Join(f[2:], " ")
		switch f[1] {
		case "dhcp-server-identifier":
			server = parse4(val)
		case "netbios-name-servers":
			for _, v := range strings.Split(val, ",") {
				wins = appendNew(wins, parse4(v))
			}
		}
	}
	return server, wins
}
