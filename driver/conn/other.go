//go:build !linux

package conn

// NewLinux is implemented on Linux only; elsewhere it returns
// ErrUnsupported.
func NewLinux(cfg LinuxConfig) (Wire, error) { return nil, ErrUnsupported }
