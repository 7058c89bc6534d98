// Package nft enforces the inbound SPD in the Linux kernel with nftables,
// for cleartext packets that never reach the driver.
//
// A packet that arrives in clear on the wire interface is delivered by the
// kernel straight to its local socket; the driver sees only a copy on its
// raw sockets and cannot drop it. Inbound enforcement (reference section
// 10: unsecured traffic matching a negotiate entry without InPass is
// dropped, blocked traffic is dropped) therefore needs a kernel filter.
// An Enforcer programs one table, family ip, named Table:
//
//	table ip gonetsh {
//		chain input {
//			type filter hook input priority filter; policy accept;
//			iifname <tun> accept          # decapsulated, written by the driver
//			iifname "lo" accept
//			meta l4proto { esp, ah } accept
//			udp sport|dport { 500, 4500 } accept        # IKE, NAT-T: every level
//			tcp|udp sport|dport 88 accept, meta l4proto 46 accept   # levels 0, 2
//			ip daddr 224.0.0.0/4 accept, broadcast accept           # levels 0, 1
//			<one rule per inbound SPD entry, in SPD order>
//		}
//	}
//
// The exemptions are sadb.Exempt's classes. An entry's rule matches its
// selector (source and destination prefixes, protocol, port ranges) and
// has the verdict of the first-match SPD: drop for block and for
// negotiate without InPass, accept for permit and negotiate with InPass
// (so that a more specific permit, such as "All ICMP Traffic", still
// wins over a broader negotiate entry below it). Traffic no entry matches
// falls through to the chain's accept policy, as Windows permits it.
//
// Every Apply replaces the table in one netlink batch (add table, delete
// table, add table, chain, rules), which the kernel commits atomically:
// there is no moment with a half-built rule set, and the leading add
// makes the delete succeed on the first Apply too. Close deletes it.
//
// # Boot mode
//
// Before the first policy (ApplyBoot, the bootmode setting of reference
// section 3.7) nothing is routed into the TUN device, so the kernel does
// all of the filtering, both ways:
//
//	table ip gonetsh {
//		chain input {
//			type filter hook input priority filter; policy drop;
//			iifname "lo" accept
//			ct state established,related accept          # stateful only
//			udp sport 67 dport 68 accept, udp sport 68 dport 67 accept   # DHCP
//			<per boot exemption: inbound ones, and the mirror of outbound ones>
//		}
//		chain output {
//			type filter hook output priority filter; policy drop;  # accept when stateful
//			oifname "lo" accept
//			udp sport 67 dport 68 accept, udp sport 68 dport 67 accept
//			<per boot exemption: outbound ones, and the mirror of inbound ones>
//		}
//	}
//
// Permit mode has no table. The first Apply replaces the boot table by
// the policy's in its one transaction. Like the policy's, the boot rules
// are IPv4 only (family ip): the Windows Server 2003 IPsec driver, whose
// bootmode this is, never filtered IPv6.
//
// github.com/google/nftables is used rather than the nft binary or
// iptables: it is maintained, pure Go, speaks the nf_tables netlink API
// directly (so the batch is one kernel transaction, and no external
// program must exist on the host), and binds its socket to a network
// namespace fixed at New, which keeps the rules where the driver runs.
package nft

// Table is the name of the nftables table an Enforcer owns.
const Table = "gonetsh"

// Chain is the name of its input chain.
const Chain = "input"

// ChainOutput is the name of the output chain, which only boot mode has.
const ChainOutput = "output"
