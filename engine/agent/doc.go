// Package agent compiles the assigned static policy of a policy store into
// Security Policy Database entries (reference sections 3.8, 5.10 and 10),
// as the Windows Policy Agent hands the assigned policy to the IPsec
// service. Compile is pure: the host's addresses and servers come in a
// HostInfo, nothing is resolved or read, and the same input gives the same
// SPD, so the engine can compare a re-compiled SPD with the applied one
// (SPD.Equal) and skip re-applying it.
//
// # Policies
//
// One main mode policy, named after the static policy: its mmsecmethods,
// mmlifetime in seconds, qmpermm and mmpfs. It is present only when a main
// mode filter uses it. One quick mode policy per negotiate filter action
// an active rule uses, named after the filter action, with its offers,
// qmpfs (PFS in the main mode group) and soft flag, in order of first use;
// then, when the default response rule is active, the quick mode policy
// "Default Response" (or "Default Response (default rule)" should a filter
// action be called so) with that rule's offers and qmpfs.
//
// # Generic quick mode filters
//
// Every filter of every active rule, in rule order and filter order, gives
// one generic filter per direction it applies to, and a mirrored filter
// gives the same again for its reverse image (Mirror set) unless that
// image is the filter itself (equal sides, as me to me or any to any, and
// equal ports).
// Inactive rules and the rules of unassigned policies give nothing.
//
// The direction of a transport filter from S to D:
//
//   - S is me: outbound; else D is me: inbound (a server type always faces
//     me, and 0.0.0.0 facing a server type counts as me, as the grammar
//     accepts it);
//   - otherwise a side is local when it can hold one of the host's
//     addresses (any, or a prefix or resolved DNS name holding one): S
//     alone local gives outbound, D alone inbound, and both or neither
//     (traffic routed through this host) give both directions.
//
// A tunnel filter (reference section 10) is inbound when the rule's tunnel
// endpoint is one of the host's addresses (the rule for remote-to-local
// traffic names the local endpoint) and outbound otherwise. A mirrored
// filter in a tunnel rule fails the compilation with ErrMirroredTunnel.
//
// permit and block give that action inbound and outbound; negotiate gives
// negotiate both ways, with the filter action's inpass and soft flags and
// its quick mode policy.
//
// In a generic filter, a literal address keeps its configured prefix, any
// is 0.0.0.0/0 and a DNS name is its resolved address /32 (a mask beside
// a name is ignored); me and server types have no prefix yet (the invalid
// Prefix), and SrcAddr and DstAddr keep the configured addresses for
// display. Generic filters are never handed to the data path.
//
// # Specific filters
//
// Each generic filter expands to one specific filter per combination of
// source and destination prefixes: me to each host address /32, DNS, WINS
// to each configured server /32, DHCP and GATEWAY to the server /32 (none
// when the host has none), a DNS name to its resolved address /32, a
// literal address to its masked prefix, any to 0.0.0.0/0. Sources vary
// slowest, each in HostInfo order. A DNS name without a resolved address
// fails with ErrUnresolved.
//
// Specific filters are sorted as driver/sadb's SPD ranks its entries (see
// its Order documentation): by Weight, largest first (ipsec.Selector.Weight,
// the formula of driver/sadb's Selector.Weight), then by action, block
// before negotiate before permit, then in the order generated above. The
// list is therefore already in rank order: handed to sadb.Compile as is,
// it keeps its order.
//
// # Main mode filters
//
// Main mode filters are mirrored pairs of addresses. Each negotiate rule
// gives, per distinct (local side, peer side) pair of its quick mode
// filters, a generic filter from local to peer (outbound) and one from
// peer to local (inbound), carrying the rule's authentication methods and
// the main mode policy. For a transport filter the local side is the
// source of an outbound filter and the destination of an inbound one; a
// tunnel rule has one pair: me and the endpoint, or, when the endpoint is
// local, the endpoint and any. An active default response rule adds the
// pair me and any with RespondOnly set, last. Specific main mode filters
// expand and sort as quick mode ones (all rank as negotiate).
//
// # Names
//
// A quick mode filter is named "<rule> (<n>)": the rule's name, or
// "Rule <id>" for a nameless rule (the built-in ones), and n the filter's
// 1-based position in the rule's filter list. Both directions, the mirror
// image and all specific filters of a filter share its name. A main mode
// filter takes the name of the first quick mode filter of its pair; the
// default response rule's are "Default Response".
//
// # Dynamic rules
//
// CompileDynamic expands one rule of the dynamic context (`ipsec dynamic
// add rule`) with the same code: the rule is one filter whose two
// directions may have different actions (a filter's Action is that of its
// direction); main mode filters are emitted when either action is
// negotiate and name the rule's main mode policy; no policy is added. The
// filters carry the rule's Name and Ref (Policy empty). MergeQMSpecific and
// MergeMMSpecific merge the rank-ordered specific filters of two SPDs,
// keeping each list's order, so the engine can rank dynamic filters among
// static-derived ones.
package agent
