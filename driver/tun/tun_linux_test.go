//go:build linux

package tun_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/driver/tun"
	"github.com/gonetsh/gonetsh/driver/tun/tuntest"
)

// requireTUN skips the test unless it can create kernel devices. Under
// CI=true it never skips: a CI runner that cannot create the device fails.
func requireTUN(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip("skipping: creating a TUN device needs root (CAP_NET_ADMIN); run as root, or set CI=true to make this test mandatory")
	}
}

// waitGone polls until the interface name no longer exists.
func waitGone(name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := net.InterfaceByName(name); err != nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("interface %s still exists %v after Close", name, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDevice runs both kernel devices through the Device contract: the
// plain one (water) and the vnet-hdr one with offloads.
func TestDevice(t *testing.T) {
	requireTUN(t)
	for _, tc := range []struct {
		name   string
		create func(string, int) (tun.Device, error)
		batch  int
	}{
		{"gntest", tun.Create, 1},
		{"gnoffl", tun.CreateOffload, tun.OffloadBatchSize},
	} {
		t.Run(tc.name, func(t *testing.T) { testDevice(t, tc.create, fmt.Sprintf("%s%d", tc.name, os.Getpid()), tc.batch) })
	}
}

func testDevice(t *testing.T, create func(string, int) (tun.Device, error), name string, batch int) {
	const mtu = 1400

	dev, err := create(name, mtu)
	if err != nil {
		t.Fatalf("create(%q, %d): %v", name, mtu, err)
	}
	t.Cleanup(func() {
		dev.Close() // idempotent: a no-op when the test closed it already
		if err := waitGone(name, 2*time.Second); err != nil {
			t.Error(err)
		}
	})

	if got, err := dev.Name(); err != nil || got != name {
		t.Errorf("Name() = %q, %v; want %q", got, err, name)
	}
	if got, err := dev.MTU(); err != nil || got != mtu {
		t.Errorf("MTU() = %d, %v; want %d", got, err, mtu)
	}
	if got := dev.BatchSize(); got != batch {
		t.Errorf("BatchSize() = %d, want %d", got, batch)
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatalf("interface %s not visible: %v", name, err)
	}
	if ifi.MTU != mtu || ifi.Flags&net.FlagUp == 0 {
		t.Errorf("interface %s: MTU %d flags %v; want MTU %d and up", name, ifi.MTU, ifi.Flags, mtu)
	}
	// Create assigns nothing; the kernel may add an IPv6 link-local
	// address on its own when the link comes up.
	addrs, err := ifi.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err != nil || !p.Addr().IsLinkLocalUnicast() {
			t.Errorf("interface %s has address %v; want none but IPv6 link-local", name, a)
		}
	}

	// Same name while the first device is open: the kernel refuses.
	if dup, err := create(name, mtu); err == nil {
		dup.Close()
		t.Errorf("second create(%q) succeeded, want an error", name)
	}

	// One packet with headroom. The destination is TEST-NET-1 (RFC 5737)
	// on an interface without addresses, so the host stack drops it.
	pkt, err := tuntest.UDP(netip.MustParseAddrPort("192.0.2.1:9"), netip.MustParseAddrPort("192.0.2.2:9"), []byte("gonetsh"))
	if err != nil {
		t.Fatal(err)
	}
	const offset = 16
	buf := append(make([]byte, offset), pkt...)
	if n, err := dev.Write([][]byte{buf}, offset); n != 1 || err != nil {
		t.Fatalf("Write = %d, %v; want 1, nil", n, err)
	}

	// Close unblocks a pending Read.
	readErr := make(chan error, 1)
	go func() {
		bufs := [][]byte{make([]byte, offset+mtu)}
		sizes := make([]int, 1)
		for {
			if _, err := dev.Read(bufs, sizes, offset); err != nil {
				readErr <- err
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	if err := dev.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Read after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Read still blocked 2s after Close")
	}
	if err := dev.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if _, err := dev.Write([][]byte{buf}, offset); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v, want os.ErrClosed", err)
	}
	if err := waitGone(name, 2*time.Second); err != nil {
		t.Fatal(err)
	}
}
