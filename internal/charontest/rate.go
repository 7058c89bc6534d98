//go:build linux

package charontest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/internal/netnstest"
)

// Suite is a pair of IKE (main mode) and ESP (quick mode) proposals.
type Suite struct {
	Name     string // for reports: "3DES-SHA1-MODP2048"
	IKE, ESP []string
}

// RateSuites are the suites of the negotiation-rate benchmark: netsh's
// "3DES-SHA1-3" (3DES, SHA-1, DH 2048 = MODP2048, group 14) and an
// AES/SHA-256/group 14 suite.
var RateSuites = []Suite{
	{Name: "3DES-SHA1-MODP2048", IKE: []string{"3des-sha1-modp2048"}, ESP: []string{"3des-sha1"}},
	{Name: "AES128-SHA256-MODP2048", IKE: []string{"aes128-sha256-modp2048"}, ESP: []string{"aes128-sha256"}},
}

// RateConfig is one negotiation-rate measurement.
type RateConfig struct {
	Suite Suite
	// N is the number of negotiations (main mode + quick mode), each a
	// new IKE SA with one CHILD_SA; 1000 when zero.
	N int
	// Concurrency is how many negotiations are in flight at once; 16
	// when zero.
	Concurrency int
}

// Rate is the result of MeasureRate.
type Rate struct {
	Suite       string
	N           int
	Concurrency int
	// Elapsed is the time from the first initiation to the last CHILD_SA
	// installed on the initiator; PerSecond is N / Elapsed.
	Elapsed   time.Duration
	PerSecond float64
	// InitiatorKiB and ResponderKiB are the growth of each charon's
	// resident set size per 1000 established SA pairs (an IKE SA with
	// its CHILD_SA), in KiB; 0 when it could not be read.
	InitiatorKiB, ResponderKiB float64
	// LoadAvg is the machine's 1-minute load average at the start and
	// at the end (from /proc/loadavg): other work on the machine skews
	// the rate, and this shows how much there was.
	LoadAvg [2]string
}

// String formats r as one line of a report.
func (r Rate) String() string {
	return fmt.Sprintf("charon-to-charon IKEv1 main mode + quick mode: suite=%s n=%d concurrency=%d elapsed=%v rate=%.1f/s rss-per-1000-sa-pairs: initiator=%.0f KiB responder=%.0f KiB loadavg=%s..%s",
		r.Suite, r.N, r.Concurrency, r.Elapsed.Round(time.Millisecond), r.PerSecond, r.InitiatorKiB, r.ResponderKiB, r.LoadAvg[0], r.LoadAvg[1])
}

// rateTimeout bounds the negotiations of one measurement.
const rateTimeout = 10 * time.Minute

// MeasureRate measures how many full IKEv1 negotiations (main mode, six
// messages, then quick mode, three) per second a charon initiator and a
// charon responder complete on this machine, over a Pair.
//
// Method: the initiator has N connections that differ only in their
// local identity, so that each initiation makes a new IKE SA (charon
// always reuses an IKE SA of an equal IKEv1 configuration, and an IKE SA
// still being set up counts). Concurrency workers, each with its own vici
// connection, initiate them one after another and wait for each CHILD_SA
// to be installed; the clock runs from the first initiation to the last
// success. The responder has one connection accepting any identity, with
// unique=never and no half-open limit. Nothing is torn down during the
// measurement, so the resident sets afterwards hold N SA pairs; their
// growth gives the memory figures. Logging is at level 0 (audit lines
// only) and each CHILD_SA has its own /32 selector so that
// kernel-libipsec installs N distinct policies and routes. Both charons
// share the machine's CPUs: the figure is for the pair, as a gonetsh to
// gonetsh run on the same machine would be.
//
// It fails t only when the topology cannot be set up; a negotiation
// that fails is returned as an error.
func MeasureRate(t testing.TB, cfg RateConfig) (Rate, error) {
	t.Helper()
	if cfg.N == 0 {
		cfg.N = 1000
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 16
	}
	if cfg.N > 65000-256 {
		return Rate{}, fmt.Errorf("charontest: N %d too large (one /32 selector each in 10.1/16)", cfg.N)
	}
	p := NewPair(t)
	// kernel-libipsec installs a route per CHILD_SA and wants a local
	// address inside the local selector for its source.
	if err := AddHostAddrs(p.A, cfg.N, rateInner); err != nil {
		t.Fatalf("charontest: %v", err)
	}
	psk := []byte("charontest rate")
	opts := map[string]string{
		// blocking vici initiations hold a thread each
		"threads":              strconv.Itoa(cfg.Concurrency + 16),
		"ikesa_table_size":     "4096",
		"ikesa_table_segments": "16",
		"block_threshold":      "1000000",
		"init_limit_half_open": "0",
	}
	quiet := defaultLogLevels()
	for k := range quiet {
		quiet[k] = 0
	}
	conns := make([]Conn, cfg.N)
	for i := range conns {
		conns[i] = Conn{
			Name: "c" + strconv.Itoa(i), LocalAddrs: Addrs(p.OuterA), RemoteAddrs: Addrs(p.OuterB),
			LocalID: fmt.Sprintf("i%d.rate.test", i), RemoteID: p.OuterB.String(),
			PSK: psk, Proposals: cfg.Suite.IKE, Unique: "never",
			Children: []Child{{
				LocalTS:      []string{rateInner(i).String() + "/32"},
				RemoteTS:     Host(p.InnerB),
				ESPProposals: cfg.Suite.ESP,
			}},
		}
	}
	responder := Conn{
		LocalAddrs: Addrs(p.OuterB), RemoteAddrs: Addrs(p.OuterA),
		LocalID: p.OuterB.String(), RemoteID: "%any",
		PSK: psk, Proposals: cfg.Suite.IKE, Unique: "never",
		Children: []Child{{LocalTS: []string{"10.2.0.0/16"}, RemoteTS: []string{"10.1.0.0/16"}, ESPProposals: cfg.Suite.ESP}},
	}
	b := Start(t, p.B, Config{Conns: []Conn{responder}, LogLevels: quiet, Options: opts})
	a := Start(t, p.A, Config{Conns: conns, LogLevels: quiet, Options: opts})
	rssA0, rssB0 := RSSKiB(a.PID()), RSSKiB(b.PID())

	load0 := LoadAvg()
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	deadline := time.Now().Add(rateTimeout)
	start := time.Now()
	for range cfg.Concurrency {
		wg.Go(func() {
			v, err := dialVici(a.ViciSocket(), 5*time.Second)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			defer v.Close()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.N {
					return
				}
				name := "c" + strconv.Itoa(i)
				m, _, err := v.call(deadline, "initiate", "", []kv{
					{"ike", name}, {"child", "net"}, {"timeout", "60000"}, {"init-limits", "no"},
				})
				if err == nil {
					err = commandResult("initiate "+name, m)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(errs) > 0 {
		return Rate{}, fmt.Errorf("charontest: %d negotiation(s) failed, first: %w", len(errs), errs[0])
	}
	r := Rate{
		Suite: cfg.Suite.Name, N: cfg.N, Concurrency: cfg.Concurrency,
		Elapsed: elapsed, PerSecond: float64(cfg.N) / elapsed.Seconds(),
		LoadAvg: [2]string{load0, LoadAvg()},
	}
	if err := checkEstablished(b, cfg.N); err != nil {
		return r, err
	}
	if rssA1, rssB1 := RSSKiB(a.PID()), RSSKiB(b.PID()); rssA0 > 0 && rssA1 > 0 && rssB0 > 0 && rssB1 > 0 {
		r.InitiatorKiB = float64(rssA1-rssA0) * 1000 / float64(cfg.N)
		r.ResponderKiB = float64(rssB1-rssB0) * 1000 / float64(cfg.N)
	}
	return r, nil
}

// rateInner is the inner address of the initiator's connection i,
// 10.1.0.0/16 from 10.1.1.0 on (InnerA, 10.1.0.1, is left alone).
func rateInner(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 1, byte(1 + i>>8), byte(i)})
}

// AddHostAddrs puts addr(0..n-1) as /32s on lo of ns, in one
// `ip -batch`.
func AddHostAddrs(ns *netnstest.NS, n int, addr func(i int) netip.Addr) error {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "addr add %s/32 dev lo\n", addr(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "-n", ns.Name(), "-batch", "-")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s -batch: %w\n%s", ns.Name(), err, out)
	}
	return nil
}

// checkEstablished verifies that the responder holds n established IKE
// SAs with an installed CHILD_SA each: the negotiations counted are real.
func checkEstablished(c *Charon, n int) error {
	sas, err := c.ListSAs()
	if err != nil {
		return err
	}
	ok := 0
	for _, sa := range sas {
		if sa.State == "ESTABLISHED" && len(sa.Children) == 1 && sa.Children[0].State == "INSTALLED" {
			ok++
		}
	}
	if ok != n {
		return fmt.Errorf("charontest: responder has %d established SA pairs of %d (%d IKE SAs)", ok, n, len(sas))
	}
	return nil
}

// LoadAvg returns the 1-minute load average, "?" when unknown.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// errNoRSS: /proc/PID/status without VmRSS.
var errNoRSS = errors.New("no VmRSS")

// RSSKiB returns the resident set size of pid in KiB, 0 when unknown.
func RSSKiB(pid int) int64 {
	v, err := readRSS(pid)
	if err != nil {
		return 0
	}
	return v
}

func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errNoRSS
}
