//go:build !linux

package tun

// Create is implemented on Linux only; elsewhere it returns ErrUnsupported.
func Create(name string, mtu int) (Device, error) { return nil, ErrUnsupported }

// CreateOffload is implemented on Linux only; elsewhere it returns
// ErrUnsupported.
func CreateOffload(name string, mtu int) (Device, error) { return nil, ErrUnsupported }
