// Package ipsec holds the small, immutable value types shared by the grammar,
// the policy store, the engine and the driver: actions, protocols, algorithm
// identifiers, main mode and quick mode offers, address selectors and
// authentication methods.
//
// The package imports no other project package. Every type converts to the
// netsh spelling with String and is parsed from it only in package grammar, so
// no raw netsh text travels past the shell.
package ipsec

import "fmt"

// Action is what a filter action (or a dynamic rule direction) does with a
// packet that matches its filter.
type Action uint8

// Filter actions, in netsh's usage order.
const (
	ActionPermit Action = iota + 1
	ActionBlock
	ActionNegotiate
)

func (a Action) String() string {
	switch a {
	case ActionPermit:
		return "permit"
	case ActionBlock:
		return "block"
	case ActionNegotiate:
		return "negotiate"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Protocol is an IP protocol number; 0 means any protocol.
type Protocol uint8

// Protocol numbers that netsh names.
const (
	ProtoAny  Protocol = 0
	ProtoICMP Protocol = 1
	ProtoTCP  Protocol = 6
	ProtoUDP  Protocol = 17
	ProtoRAW  Protocol = 255
)

// String returns the netsh name (ANY, ICMP, TCP, UDP, RAW) or the number.
func (p Protocol) String() string {
	switch p {
	case ProtoAny:
		return "ANY"
	case ProtoICMP:
		return "ICMP"
	case ProtoTCP:
		return "TCP"
	case ProtoUDP:
		return "UDP"
	case ProtoRAW:
		return "RAW"
	}
	return fmt.Sprintf("%d", uint8(p))
}

// HasPorts reports whether ports are meaningful for the protocol.
func (p Protocol) HasPorts() bool { return p == ProtoTCP || p == ProtoUDP }

// ConnType is the interface class a rule applies to.
type ConnType uint8

// Connection types, in netsh's usage order.
const (
	ConnAll ConnType = iota + 1
	ConnLAN
	ConnDialup
)

func (c ConnType) String() string {
	switch c {
	case ConnAll:
		return "all"
	case ConnLAN:
		return "lan"
	case ConnDialup:
		return "dialup"
	}
	return fmt.Sprintf("ConnType(%d)", uint8(c))
}
