//go:build !linux

package route

import (
	"errors"
	"net/netip"

	"github.com/gonetsh/gonetsh/driver/sadb"
)

// ErrUnsupported is returned by New off Linux.
var ErrUnsupported = errors.New("route: policy routing needs Linux")

// Config is what New needs; see the Linux documentation.
type Config struct {
	NetNS, Table, Priority int
	Mark                   uint32
}

// Manager is not available off Linux.
type Manager struct{}

// New returns ErrUnsupported.
func New(Config) (*Manager, error) { return nil, ErrUnsupported }

// Apply returns ErrUnsupported.
func (*Manager) Apply(*sadb.SPD, string) error { return ErrUnsupported }

// Set returns ErrUnsupported.
func (*Manager) Set([]netip.Prefix, string) error { return ErrUnsupported }

// Close returns nil.
func (*Manager) Close() error { return nil }
