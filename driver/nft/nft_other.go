//go:build !linux

package nft

import (
	"errors"

	"github.com/gonetsh/gonetsh/driver/sadb"
)

// ErrUnsupported is returned by New off Linux.
var ErrUnsupported = errors.New("nft: nftables needs Linux")

// Config is what New needs; see the Linux documentation.
type Config struct{ NetNS int }

// Enforcer is not available off Linux.
type Enforcer struct{}

// New returns ErrUnsupported.
func New(Config) (*Enforcer, error) { return nil, ErrUnsupported }

// Apply returns ErrUnsupported.
func (*Enforcer) Apply(*sadb.SPD, sadb.ExemptLevel, string) error { return ErrUnsupported }

// Close returns nil.
func (*Enforcer) Close() error { return nil }

// ApplyBoot returns ErrUnsupported.
func (*Enforcer) ApplyBoot(sadb.BootMode, []sadb.BootExemption) error { return ErrUnsupported }
