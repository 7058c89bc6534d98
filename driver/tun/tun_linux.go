//go:build linux

package tun

import (
	"fmt"
	"io"
	"sync"

	"github.com/songgao/water"
	"golang.org/x/sys/unix"
)

// Create creates a kernel TUN interface named name (empty: the kernel picks
// tunN) in IFF_TUN|IFF_NO_PI mode, sets its MTU (0 means DefaultMTU) and
// brings the link up. It assigns no address and installs no route: that is
// the caller's business. The interface is not persistent; it disappears
// when the Device is closed or the process exits. Creating an interface
// needs CAP_NET_ADMIN.
//
// The returned Device has BatchSize 1; CreateOffload makes one that
// batches.
func Create(name string, mtu int) (Device, error) {
	mtu, err := checkCreate(name, mtu)
	if err != nil {
		return nil, err
	}
	ifce, err := water.New(water.Config{
		DeviceType:             water.TUN,
		PlatformSpecificParams: water.PlatformSpecificParams{Name: name},
	})
	if err != nil {
		return nil, fmt.Errorf("tun: create %q: %w", name, err)
	}
	d := &waterDevice{ifce: ifce, name: ifce.Name()}
	if err := configure(d.name, mtu); err != nil {
		_ = ifce.Close()
		return nil, err
	}
	return d, nil
}

// checkCreate checks the arguments of Create and CreateOffload and returns
// the MTU to set.
func checkCreate(name string, mtu int) (int, error) {
	if !validName(name) {
		return 0, fmt.Errorf("%w: %q", ErrName, name)
	}
	if mtu == 0 {
		mtu = DefaultMTU
	}
	if mtu < MinMTU || mtu > MaxMTU {
		return 0, fmt.Errorf("%w: %d (want %d-%d)", ErrMTU, mtu, MinMTU, MaxMTU)
	}
	return mtu, nil
}

// waterDevice is a Device over a water TUN interface: one packet per read
// or write system call.
type waterDevice struct {
	ifce *water.Interface // its file is non-blocking: Close unblocks Read
	name string

	closeOnce sync.Once
}

// configure sets the MTU of the interface name and IFF_UP through an
// AF_INET datagram socket, the ioctl handle Linux uses for interface flags
// (netdevice(7)).
func configure(name string, mtu int) error {
	fd, ifr, err := ifreqSocket(name)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr.SetUint32(uint32(mtu))
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFMTU, ifr); err != nil {
		return fmt.Errorf("tun: %s: set MTU %d: %w", name, mtu, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("tun: %s: get flags: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("tun: %s: set up: %w", name, err)
	}
	return nil
}

// ifreqSocket returns an AF_INET datagram socket and an ifreq for name.
func ifreqSocket(name string) (int, *unix.Ifreq, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("tun: %s: control socket: %w", name, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return 0, nil, fmt.Errorf("tun: %s: %w", name, err)
	}
	return fd, ifr, nil
}

// mtuOf returns the MTU of the interface name.
func mtuOf(name string) (int, error) {
	fd, ifr, err := ifreqSocket(name)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); err != nil {
		return 0, fmt.Errorf("tun: %s: get MTU: %w", name, err)
	}
	return int(ifr.Uint32()), nil
}

func (d *waterDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	if len(sizes) == 0 || offset < 0 || offset > len(bufs[0]) {
		return 0, io.ErrShortBuffer
	}
	n, err := d.ifce.Read(bufs[0][offset:])
	if err != nil {
		return 0, err
	}
	sizes[0] = n
	return 1, nil
}

func (d *waterDevice) Write(bufs [][]byte, offset int) (int, error) {
	for i, b := range bufs {
		if offset < 0 || offset > len(b) {
			return i, io.ErrShortBuffer
		}
		if _, err := d.ifce.Write(b[offset:]); err != nil {
			return i, err
		}
	}
	return len(bufs), nil
}

func (d *waterDevice) BatchSize() int { return 1 }

func (d *waterDevice) MTU() (int, error) { return mtuOf(d.name) }

func (d *waterDevice) Name() (string, error) { return d.name, nil }

func (d *waterDevice) Close() error {
	var err error
	d.closeOnce.Do(func() { err = d.ifce.Close() })
	return err
}
