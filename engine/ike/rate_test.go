//go:build linux

package ike

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/internal/charontest"
	"github.com/gonetsh/gonetsh/internal/netnstest"
	"github.com/gonetsh/gonetsh/ipsec"
)

// rateOutEnv names the file TestNegotiationRate writes its report to
// (`make bench` sets it); without it the test is skipped.
const rateOutEnv = "GONETSH_RATE_OUT"

// rateSuite is one of charontest.RateSuites in our terms.
type rateSuite struct {
	charon charontest.Suite
	mm     ipsec.MMOffer
	qm     ipsec.QMOffer
}

// rateSuites pairs charontest.RateSuites, by name, with our offers.
func rateSuites(t *testing.T) []rateSuite {
	ours := map[string][2]any{
		"3DES-SHA1-MODP2048": {ipsec.MMOffer{Cipher: ipsec.Cipher3DES, Hash: ipsec.HashSHA1, Group: ipsec.DHGroup14},
			ipsec.QMOffer{ESP: true, ESPCipher: ipsec.Cipher3DES, ESPAuth: ipsec.HashSHA1}},
		"AES128-SHA256-MODP2048": {ipsec.MMOffer{Cipher: ipsec.CipherAES128, Hash: ipsec.HashSHA256, Group: ipsec.DHGroup14},
			ipsec.QMOffer{ESP: true, ESPCipher: ipsec.CipherAES128, ESPAuth: ipsec.HashSHA256}},
	}
	var r []rateSuite
	for _, s := range charontest.RateSuites {
		o, ok := ours[s.Name]
		if !ok {
			t.Fatalf("charontest.RateSuites has %s, which the gonetsh measurement does not know", s.Name)
		}
		r = append(r, rateSuite{charon: s, mm: o[0].(ipsec.MMOffer), qm: o[1].(ipsec.QMOffer)})
	}
	return r
}

// gonetshRate is the result of measureRate.
type gonetshRate struct {
	Suite       string
	N           int
	Concurrency int
	Elapsed     time.Duration
	PerSecond   float64
	// HeapKiB is the growth of the Go heap (HeapAlloc after a GC) per
	// 1000 established SA pairs, both Negotiators together (they share
	// the process); RSSKiB the process's resident set growth (0 when
	// unknown). Both include the recording fake Kernels' copies of the
	// SAs.
	HeapKiB, RSSKiB float64
	LoadAvg         [2]string
}

func (r gonetshRate) String() string {
	return fmt.Sprintf("gonetsh-to-gonetsh IKEv1 main mode + quick mode: suite=%s n=%d concurrency=%d elapsed=%v rate=%.1f/s per-1000-sa-pairs-both-sides: go-heap=%.0f KiB rss=%.0f KiB loadavg=%s..%s",
		r.Suite, r.N, r.Concurrency, r.Elapsed.Round(time.Millisecond), r.PerSecond, r.HeapKiB, r.RSSKiB, r.LoadAvg[0], r.LoadAvg[1])
}

// rateKernel is a recording fake Kernel that also reports when each
// acquire ends: with the initiator's outbound SA, or FailAcquire.
type rateKernel struct {
	*fakeKernel
	mu   sync.Mutex
	done map[uint64]chan error
}

var errAcquireFailed = errors.New("acquire failed")

func (k *rateKernel) wait(ref uint64) chan error {
	c := make(chan error, 1)
	k.mu.Lock()
	k.done[ref] = c
	k.mu.Unlock()
	return c
}

func (k *rateKernel) finish(ref uint64, err error) {
	k.mu.Lock()
	c := k.done[ref]
	delete(k.done, ref)
	k.mu.Unlock()
	if c != nil {
		c <- err
	}
}

func (k *rateKernel) AddSA(sa ipsec.SAParams) error {
	err := k.fakeKernel.AddSA(sa)
	if sa.Direction == ipsec.Outbound && sa.Ref != 0 {
		k.finish(sa.Ref, err)
	}
	return err
}

func (k *rateKernel) FailAcquire(ref uint64) {
	k.fakeKernel.FailAcquire(ref)
	k.finish(ref, errAcquireFailed)
}

// rateAddr is address i of a /16: 10.<net>.0.1 on.
func rateAddr(net byte, i int) netip.Addr {
	i++
	return netip.AddrFrom4([4]byte{10, net, byte(i >> 8), byte(i)})
}

const (
	rateNetA = 11 // A's initiating addresses, 10.11/16
	rateNetB = 12 // B's responding addresses, 10.12/16
)

// measureRate is charontest.MeasureRate for gonetsh: how many full IKEv1
// negotiations (main mode, six messages, then quick mode, three) per
// second a gonetsh initiator and a gonetsh responder complete on this
// machine, over the same topology (charontest.NewPair: two network
// namespaces joined by veth) with real UDP sockets on 500 and 4500.
//
// Method: our Negotiator keys main modes by peer address (an acquire
// toward a peer with an established or pending main mode reuses it), and
// INITIAL-CONTACT clears a peer's other main modes. So negotiation i runs
// between its own pair of addresses: A's 10.11.x.y/32 and B's
// 10.12.x.y/32, N of each on the namespaces' lo with a route for the
// other /16 over the veth; each Negotiator has one socket per port bound
// to 0.0.0.0 that learns the local address of each datagram
// (IP_PKTINFO) and sends from it. Every negotiation is thus a fresh main
// mode followed by one quick mode (tunnel mode, a /32 selector each),
// checked at the end with the main mode counts of both sides. Concurrency
// workers acquire one after another and wait for the initiator's outbound
// SA; the clock runs from the first acquire to the last outbound SA, as
// MeasureRate's runs to the last CHILD_SA installed on the initiator.
// Like charon with kernel-libipsec, the quick modes use UDP encapsulation
// (ForceEncap: the float to 4500 and modes 3/4). PSK, no PFS, logging
// off. The Kernels are recording fakes: the charon measurement has no
// ESP data path either (kernel-libipsec only installs its SAs in charon's
// memory). Nothing is torn down during the measurement, so the heap and
// resident set growth afterwards hold N SA pairs. Both Negotiators share
// the process and the machine's CPUs, as the two charons do.
func measureRate(t *testing.T, s rateSuite, n, conc int) (gonetshRate, error) {
	t.Helper()
	if n > 65000 {
		return gonetshRate{}, fmt.Errorf("N %d too large (one address each in a /16)", n)
	}
	p := charontest.NewPair(t)
	for _, x := range []struct {
		ns       *netnstest.NS
		own, via byte
		gw       netip.Addr
	}{{p.A, rateNetA, rateNetB, p.OuterB}, {p.B, rateNetB, rateNetA, p.OuterA}} {
		if err := charontest.AddHostAddrs(x.ns, n, func(i int) netip.Addr { return rateAddr(x.own, i) }); err != nil {
			t.Fatal(err)
		}
		x.ns.IP(t, "route", "add", fmt.Sprintf("10.%d.0.0/16", x.via), "via", x.gw.String())
	}
	psk := []ipsec.AuthMethod{{Kind: ipsec.AuthPSK, PSK: "gonetsh rate"}}
	qmPolicy := ipsec.QMPolicy{Name: "qm", Offers: []ipsec.QMOffer{s.qm}}
	side := func(ns *netnstest.NS) (*Negotiator, *rateKernel) {
		var u *udpTransport
		if err := ns.Do(func() (err error) { u, err = listenUDPAny(); return err }); err != nil {
			t.Fatal(err)
		}
		k := &rateKernel{fakeKernel: newFakeKernel(), done: map[uint64]chan error{}}
		neg, err := New(Config{Kernel: k, Transport: u, ForceEncap: true,
			Policy: &fakePolicy{auth: psk, qm: qmPolicy,
				mm: ipsec.MMPolicy{Name: "mm", Offers: []ipsec.MMOffer{s.mm}, Lifetime: 28800}},
			// as many half-open main modes as charon's
			// init_limit_half_open = 0 allows
			HalfOpenPerPeer: n, HalfOpenTotal: n})
		if err != nil {
			t.Fatal(err)
		}
		neg.Start()
		u.serve(neg)
		t.Cleanup(func() {
			neg.Close()
			u.Close()
		})
		return neg, k
	}
	negA, kA := side(p.A)
	negB, kB := side(p.B)

	var m0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	rss0 := charontest.RSSKiB(os.Getpid())
	load0 := charontest.LoadAvg()
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				local, remote := rateAddr(rateNetA, i), rateAddr(rateNetB, i)
				ref := uint64(i + 1)
				done := kA.wait(ref)
				negA.Acquire(Acquire{Ref: ref, Local: local, Remote: remote, Policy: qmPolicy,
					Filter: ipsec.QMFilter{Name: "qm", Direction: ipsec.Outbound, Tunnel: remote,
						Selector: ipsec.Selector{Src: hostPrefix(local), Dst: hostPrefix(remote)}}})
				var err error
				select {
				case err = <-done:
				case <-time.After(2 * time.Minute):
					err = errors.New("no SA after 2 minutes")
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("negotiation %d (%v to %v): %w", i, local, remote, err))
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(errs) > 0 {
		return gonetshRate{}, fmt.Errorf("%d negotiation(s) failed, first: %w", len(errs), errs[0])
	}
	r := gonetshRate{Suite: s.charon.Name, N: n, Concurrency: conc, Elapsed: elapsed,
		PerSecond: float64(n) / elapsed.Seconds(), LoadAvg: [2]string{load0, charontest.LoadAvg()}}
	// The responder installs its outbound SA on QM3, which may still be
	// on its way.
	deadline := time.Now().Add(30 * time.Second)
	for len(kB.byDir(ipsec.Outbound)) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := len(kB.byDir(ipsec.Outbound)); got != n {
		return r, fmt.Errorf("responder has %d outbound SAs of %d", got, n)
	}
	if a, b := negA.Stats(), negB.Stats(); a.IKEMainMode != uint64(n) || b.IKEMainMode != uint64(n) ||
		a.IKEQuickMode != uint64(n) || b.IKEQuickMode != uint64(n) {
		return r, fmt.Errorf("main modes %d/%d, quick modes %d/%d, want %d each", a.IKEMainMode, b.IKEMainMode, a.IKEQuickMode, b.IKEQuickMode, n)
	}
	var m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m1)
	r.HeapKiB = (float64(m1.HeapAlloc) - float64(m0.HeapAlloc)) / 1024 * 1000 / float64(n)
	if rss1 := charontest.RSSKiB(os.Getpid()); rss0 > 0 && rss1 > 0 {
		r.RSSKiB = float64(rss1-rss0) * 1000 / float64(n)
	}
	runtime.KeepAlive(negA)
	runtime.KeepAlive(negB)
	return r, nil
}

// rateSettle is the pause before each measurement: the kernel deletes
// the previous measurement's namespaces (N addresses, and charon's TUN
// routes) in the background after `ip netns delete` returns, and that
// work would otherwise land on the next measurement.
const rateSettle = 5 * time.Second

// TestNegotiationRate measures main mode + quick mode negotiations per
// second, gonetsh to gonetsh (measureRate) and charon to charon
// (charontest.MeasureRate), back to back per suite of
// charontest.RateSuites with the same N and concurrency (GONETSH_RATE_N
// and GONETSH_RATE_CONCURRENCY, default 1000 and 16), and writes a
// report with the ratio gonetsh/charon per suite to the file named by
// GONETSH_RATE_OUT. It is a figure, not a test: `make test` skips it.
// Without charon the report has the gonetsh figures only.
func TestNegotiationRate(t *testing.T) {
	out := os.Getenv(rateOutEnv)
	if out == "" {
		t.Skip("skipping: a benchmark; set " + rateOutEnv + "=FILE (make bench does)")
	}
	netnstest.RequireRoot(t)
	env := func(name string, def int) int {
		s := os.Getenv(name)
		if s == "" {
			return def
		}
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("%s=%q: want a positive integer", name, s)
		}
		return v
	}
	n, conc := env("GONETSH_RATE_N", 1000), env("GONETSH_RATE_CONCURRENCY", 16)
	var lines []string
	for _, s := range rateSuites(t) {
		t.Run(s.charon.Name, func(t *testing.T) {
			var c charontest.Rate
			t.Run("charon", func(t *testing.T) {
				charontest.RequireCharon(t)
				time.Sleep(rateSettle)
				r, err := charontest.MeasureRate(t, charontest.RateConfig{Suite: s.charon, N: n, Concurrency: conc})
				if err != nil {
					t.Fatal(err)
				}
				t.Log(r)
				c = r
			})
			var g gonetshRate
			t.Run("gonetsh", func(t *testing.T) {
				time.Sleep(rateSettle)
				r, err := measureRate(t, s, n, conc)
				if err != nil {
					t.Fatal(err)
				}
				t.Log(r)
				g = r
			})
			if t.Failed() {
				return
			}
			ratio := "charon not measured"
			if c.PerSecond > 0 {
				ratio = fmt.Sprintf("%.2f", g.PerSecond/c.PerSecond)
				lines = append(lines, c.String())
			}
			lines = append(lines, g.String(),
				fmt.Sprintf("ratio gonetsh/charon: suite=%s rate=%s (goal >= 2)", s.charon.Name, ratio))
		})
	}
	if t.Failed() {
		return
	}
	f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	if err := errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}
}
