//go:build linux

package interop

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/internal/netnstest"
)

// netshBin is the netsh binary under test, built once per test binary.
var (
	buildOnce sync.Once
	netshBin  string
	buildErr  error
)

func netsh(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gonetsh-interop-")
		if err != nil {
			buildErr = err
			return
		}
		netshBin = filepath.Join(dir, "netsh")
		out, err := exec.Command("go", "build", "-o", netshBin, "github.com/gonetsh/gonetsh/cmd/netsh").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return netshBin
}

// host is a gonetsh host: a namespace, a store and, once Start ran, a
// `netsh service` inside the namespace.
type host struct {
	t     *testing.T
	ns    *netnstest.NS
	store string
	log   string // the service's stderr

	svc  *exec.Cmd
	done chan error
}

func newHost(t *testing.T, ns *netnstest.NS) *host {
	return &host{t: t, ns: ns, store: t.TempDir(), log: filepath.Join(t.TempDir(), "service.log")}
}

// run runs netsh with args inside the namespace and returns its standard
// output, standard error and exit status.
func (h *host) run(stdin string, args ...string) (stdout, stderr string, status int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append([]string{"netns", "exec", h.ns.Name(), netsh(h.t), "--store", h.store}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.ExitCode()
	case err != nil:
		h.t.Fatalf("netsh %v: %v", args, err)
	}
	return o.String(), e.String(), status
}

// must runs netsh and fails the test unless it exits 0.
func (h *host) must(args ...string) string {
	h.t.Helper()
	out, errOut, st := h.run("", args...)
	if st != 0 {
		h.t.Fatalf("%s: netsh %q: exit %d\n%s%s", h.ns.Name(), args, st, out, errOut)
	}
	return out
}

// script runs a netsh script with -f.
func (h *host) script(text string) {
	h.t.Helper()
	f := filepath.Join(h.t.TempDir(), "policy.netsh")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		h.t.Fatal(err)
	}
	h.must("-f", f)
}

// Start runs `netsh service` in the namespace until the test ends and
// waits for its control socket.
func (h *host) Start() {
	h.t.Helper()
	logf, err := os.Create(h.log)
	if err != nil {
		h.t.Fatal(err)
	}
	h.svc = exec.Command("ip", "netns", "exec", h.ns.Name(), netsh(h.t), "--store", h.store, "service")
	h.svc.Stdout, h.svc.Stderr = logf, logf
	if err := h.svc.Start(); err != nil {
		h.t.Fatal(err)
	}
	logf.Close()
	h.done = make(chan error, 1)
	go func() { h.done <- h.svc.Wait() }()
	h.t.Cleanup(h.stop)
	sock := filepath.Join(h.store, "control.sock")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return
		}
		select {
		case err := <-h.done:
			h.done <- err
			h.t.Fatalf("%s: netsh service exited: %v\n%s", h.ns.Name(), err, h.serviceLog())
		default:
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: no control socket after 20 s\n%s", h.ns.Name(), h.serviceLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the service this host started (by its PID: SIGTERM, then
// SIGKILL after 10 s) and logs its output when the test failed.
func (h *host) stop() {
	if h.svc == nil || h.svc.Process == nil {
		return
	}
	h.svc.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.svc.Process.Kill()
		<-h.done
		h.t.Errorf("%s: netsh service did not stop on SIGTERM", h.ns.Name())
	}
	h.svc = nil
	if h.t.Failed() {
		h.t.Logf("%s service log:\n%s", h.ns.Name(), h.serviceLog())
	}
}

func (h *host) serviceLog() string {
	b, _ := os.ReadFile(h.log)
	return string(b)
}

// exec runs a command inside the namespace (ping, say).
func (h *host) exec(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns.Name(), name}, args...)...).CombinedOutput()
	return string(out), err
}

// Wire shapes seen on a capture.
type shape struct {
	IKE500, IKE4500, ESP, ESPinUDP, Clear int
	// AH counts protocol 51 packets, AHESP those of them whose next
	// header is ESP (an AH+ESP bundle).
	AH, AHESP int
	// Exchanges counts ISAKMP messages by exchange type (2 main mode,
	// 32 quick mode, 5 informational).
	Exchanges map[byte]int
}

// classify sorts the captured IPv4 packets between two addresses.
func classify(pkts []netnstest.Packet) shape {
	s := shape{Exchanges: map[byte]int{}}
	for _, p := range pkts {
		d := p.Data
		if len(d) < 20 || d[0]>>4 != 4 {
			continue
		}
		hl := int(d[0]&0x0f) * 4
		if len(d) < hl {
			continue
		}
		payload := d[hl:]
		switch d[9] {
		case 50:
			s.ESP++
		case 51:
			s.AH++
			if len(payload) > 0 && payload[0] == 50 {
				s.AHESP++
			}
		case 17:
			if len(payload) < 8 {
				continue
			}
			sport, dport := binary.BigEndian.Uint16(payload), binary.BigEndian.Uint16(payload[2:])
			body := payload[8:]
			switch {
			case sport == 500 || dport == 500:
				s.IKE500++
				if len(body) >= 28 {
					s.Exchanges[body[18]]++
				}
			case sport == 4500 || dport == 4500:
				switch {
				case len(body) == 1 && body[0] == 0xff: // NAT keepalive
				case len(body) >= 4 && binary.BigEndian.Uint32(body) == 0:
					s.IKE4500++
					if len(body) >= 32 {
						s.Exchanges[body[4+18]]++
					}
				default:
					s.ESPinUDP++
				}
			default:
				s.Clear++
			}
		default:
			s.Clear++
		}
	}
	return s
}

// settle classifies c's packets until done holds or 2 s passed (the
// capture's reader may lag the last packets), and returns the last shape.
func settle(c *netnstest.Capture, done func(shape) bool) shape {
	deadline := time.Now().Add(2 * time.Second)
	for {
		s := classify(c.Packets())
		if done(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// streamBytes is the size of the TCP stream of tcpStream.
const streamBytes = 1 << 20

// tcpStream sends streamBytes over TCP from src in nsA to dst in nsB and
// fails t unless every byte arrives intact.
func tcpStream(t *testing.T, nsA, nsB *netnstest.NS, src, dst netip.Addr) {
	t.Helper()
	tcpStreamN(t, nsA, nsB, src, dst, streamBytes)
}

// tcpStreamN is tcpStream with n bytes.
func tcpStreamN(t *testing.T, nsA, nsB *netnstest.NS, src, dst netip.Addr, n int) {
	t.Helper()
	var ln net.Listener
	if err := nsB.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(dst, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		b, _ := io.ReadAll(c)
		got <- b
	}()
	want := make([]byte, n)
	for i := range want {
		want[i] = byte(i*7 + i>>8)
	}
	var c net.Conn
	if err := nsA.Do(func() (err error) {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), Timeout: 10 * time.Second}
		c, err = d.Dial("tcp4", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatalf("TCP %s -> %s: %v", src, dst, err)
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(want); err != nil {
		c.Close()
		t.Fatalf("TCP %s -> %s: %v", src, dst, err)
	}
	c.Close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("TCP %s -> %s: %d of %d bytes arrived intact", src, dst, len(b), len(want))
	}
}
