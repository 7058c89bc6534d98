// Package charontest runs strongSwan's charon as an IKEv1 peer inside
// network namespaces, for interoperability tests of the negotiator and
// the data path. It imports no project package but internal/netnstest.
//
// # Running charon
//
// RequireCharon skips a test without root or without strongSwan (and
// fails it under CI=true). Start writes strongswan.conf and swanctl.conf
// from a Config into t.TempDir(), starts charon in a namespace, waits for
// its vici socket and loads the connections; t.Cleanup stops it and, if
// the test failed, logs the tail of charon.log:
//
//	charontest.RequireCharon(t)
//	p := charontest.NewPair(t) // A and B joined by a veth
//	conn := charontest.Conn{
//		LocalAddrs: charontest.Addrs(p.OuterB), RemoteAddrs: charontest.Addrs(p.OuterA),
//		PSK: psk, Proposals: []string{"3des-sha1-modp1024"},
//		Children: []charontest.Child{{
//			LocalTS: charontest.Host(p.InnerB), RemoteTS: charontest.Host(p.InnerA),
//			ESPProposals: []string{"3des-sha1"},
//		}},
//	}
//	peer := charontest.Start(t, p.B, charontest.Config{Conns: []charontest.Conn{conn}})
//	// ... our engine initiates from p.A, or:
//	err := peer.Initiate("peer", "net")
//	ike, child, err := peer.WaitChildSA("peer", "net", 10*time.Second)
//	err = charontest.Ping(p.A, p.InnerA, p.InnerB, 3)
//
// Connection and child names default to "peer" and "net". Every charon
// has its own directory (Dir: configs, charon.log, the vici socket) and
// its own mount namespace with a private /run, because charon hard-codes
// /run/charon.pid; any number run at once. Stop signals only the PID
// that Start created.
//
// Control goes through vici, charon's control socket, spoken directly in
// Go (Initiate, Terminate, ListSAs, WaitChildSA); Swanctl runs the
// swanctl command for anything else (`--list-conns`, `--log`, ...).
//
// # What charon is like here
//
// The kernel has XFRM but no ESP, so charon uses the userspace
// kernel-libipsec backend (a TUN device ipsec0, routes in table 220). In
// strongSwan 5.9.8 that means: ESP only, tunnel mode only, and always
// ESP in UDP 4500. charon forces it by faking NAT-D, so each end lists
// its peer as behind a NAT (IKESA.NATRemote) and IKE moves to port 4500
// after the fourth main-mode message. A peer must therefore propose the
// UDP-encapsulated tunnel mode (3, RFC 3947) in quick mode. A main mode
// message larger than 1280 bytes (MM5 with a certificate) goes out in
// IKEv1 fragments when the peer sent the FRAGMENTATION vendor ID. 3DES and
// AES-GCM come from the openssl plugin. charon.log logs exchanges,
// proposal selection and SA installation (level 2) unless
// Config.LogLevels says otherwise; level 4 of "ike" and "chd" dumps
// keying material (SKEYID*, ESP keys), handy for checking our key
// derivation.
//
// # Topologies and wire checks
//
// NewPair makes A and B (outer 198.51.100.1 and .2, inner 10.1.0.1 and
// 10.2.0.1 on lo); NewNATTopology puts a masquerading router between
// them. Capture with netnstest's NS.Capture on VethA (or VethB) and sort
// the packets with Classify: a working tunnel shows only IKE and
// ESP-in-UDP, no cleartext.
//
// # Negotiation rate
//
// MeasureRate has a charon initiator set up N IKE SAs (main mode + quick
// mode each) with a charon responder, Concurrency at a time, and reports
// negotiations per second and each charon's memory per 1000 SA pairs;
// TestNegotiationRate, run by `make bench`, writes the figures for
// RateSuites to a file. Its documentation gives the method.
package charontest
