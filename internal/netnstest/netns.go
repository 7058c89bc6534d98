//go:build linux

package netnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns` keeps the bind mounts that name namespaces.
const netnsDir = "/run/netns"

// ipTimeout bounds one `ip` command.
const ipTimeout = 10 * time.Second

// RequireRoot skips t unless the process runs as root. Under CI=true it
// never skips: a runner without the privileges fails the test instead.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip("skipping: needs root (CAP_NET_ADMIN and CAP_NET_RAW: network namespaces, veth, TUN, raw sockets); run as root, or set CI=true to make this test mandatory")
	}
}

// NS is a named network namespace created by New.
type NS struct {
	name string
}

// seq numbers the namespaces of this process.
var seq atomic.Uint32

// New creates a network namespace named gn<pid>-<n><role> (role is a
// short tag such as "a"), brings its loopback up and registers its
// deletion with t.Cleanup. Interfaces inside go with it; register the
// closing of sockets and devices inside after New, so that t.Cleanup runs
// it first. New fails t if the namespace cannot be made.
func New(t testing.TB, role string) *NS {
	t.Helper()
	ns := &NS{name: fmt.Sprintf("gn%d-%d%s", os.Getpid(), seq.Add(1), role)}
	if out, err := run("ip", "netns", "add", ns.name); err != nil {
		t.Fatalf("cannot create network namespace %s (root with CAP_SYS_ADMIN and iproute2 needed): %v\n%s", ns.name, err, out)
	}
	t.Cleanup(func() {
		if out, err := run("ip", "netns", "delete", ns.name); err != nil {
			t.Errorf("delete network namespace %s: %v\n%s", ns.name, err, out)
		}
	})
	ns.IP(t, "link", "set", "lo", "up")
	return ns
}

// Name returns the namespace's name, as `ip netns list` shows it.
func (ns *NS) Name() string { return ns.name }

// IP runs `ip -n <ns> args...` and fails t on error.
func (ns *NS) IP(t testing.TB, args ...string) {
	t.Helper()
	if out, err := run("ip", append([]string{"-n", ns.name}, args...)...); err != nil {
		t.Fatalf("ip -n %s %s: %v\n%s", ns.name, strings.Join(args, " "), err, out)
	}
}

// run runs a command with a timeout and returns its combined output.
// It is never called on a thread switched into a namespace (Do keeps
// those to fn), so the child starts in the test process's namespace.
func run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// Veth creates a veth pair, aName in a and bName in b, and brings both
// ends up.
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string) {
	t.Helper()
	a.IP(t, "link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.name)
	a.IP(t, "link", "set", aName, "up")
	b.IP(t, "link", "set", bName, "up")
}

// Sysctl writes value to the sysctl key (dotted, as in
// "net.ipv4.conf.all.rp_filter") of ns; the rest of the system is not
// touched. A key that does not exist fails t unless optional.
func (ns *NS) Sysctl(t testing.TB, key, value string, optional bool) {
	t.Helper()
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	err := ns.Do(func() error { return os.WriteFile(path, []byte(value), 0) })
	if err != nil && !(optional && errors.Is(err, os.ErrNotExist)) {
		t.Fatalf("sysctl %s=%s in %s: %v", key, value, ns.name, err)
	}
}

// WaitRunning polls until the interface ifname of ns is up and running
// (IFF_RUNNING: a veth whose peer is up too), and fails t after timeout.
func (ns *NS) WaitRunning(t testing.TB, ifname string, timeout time.Duration) {
	t.Helper()
	err := ns.Do(func() error {
		deadline := time.Now().Add(timeout)
		for {
			ifi, err := net.InterfaceByName(ifname)
			if err == nil && ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0 {
				return nil
			}
			if time.Now().After(deadline) {
				if err == nil {
					err = fmt.Errorf("flags %v", ifi.Flags)
				}
				return fmt.Errorf("%s not running after %v: %w", ifname, timeout, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	if err != nil {
		t.Fatalf("%s: %v", ns.name, err)
	}
}

// Do runs fn in ns; see the package function Do.
func (ns *NS) Do(fn func() error) error { return Do(ns.name, fn) }

// errGoexit reports an fn that called runtime.Goexit (t.FailNow, say,
// which must not be called off the test goroutine anyway).
var errGoexit = errors.New("netnstest: fn called runtime.Goexit")

// Do runs fn on an OS thread switched into the named network namespace
// and returns its error. Sockets, TUN devices and netlink handles fn
// creates belong to the namespace for their whole life, whatever thread
// uses them afterwards; goroutines fn starts run on other threads, in the
// process's own namespace.
//
// fn runs on a goroutine of its own, locked to its thread. The thread is
// switched back before it is unlocked; if that fails, the goroutine exits
// still locked and the runtime ends the thread, so that no goroutine ever
// runs in the namespace by accident.
func Do(name string, fn func() error) error {
	target, err := unix.Open(filepath.Join(netnsDir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netnstest: open namespace %s: %w", name, err)
	}
	defer unix.Close(target)

	result := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Every return below either unlocks the thread after restoring
		// its namespace, or leaves it locked so that it dies.
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread() // not switched yet
			result <- fmt.Errorf("netnstest: open own namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread() // not switched
			result <- fmt.Errorf("netnstest: enter namespace %s: %w", name, err)
			return
		}
		ferr := errGoexit
		defer func() {
			// Runs on return and on Goexit; a panic crashes the test
			// binary anyway.
			if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
				result <- errors.Join(ferr, fmt.Errorf("netnstest: leave namespace %s (thread discarded): %w", name, err))
				return // still locked: the thread exits with the goroutine
			}
			runtime.UnlockOSThread()
			result <- ferr
		}()
		ferr = fn()
	}()
	return <-result
}
