package engine

import (
	"bytes"
	"sync"
	"time"

	"github.com/gonetsh/gonetsh/engine/agent"
	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

// fakeDataPath records what the engine hands the data path, in order.
type fakeDataPath struct {
	mu      sync.Mutex
	calls   []string // "config" or "policy"
	configs []store.Config
	spds    []*agent.SPD
	stats   ipsec.IPsecStats
}

func (d *fakeDataPath) SetPolicy(spd *agent.SPD) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "policy")
	d.spds = append(d.spds, spd)
	return nil
}

func (d *fakeDataPath) SetConfig(c store.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "config")
	d.configs = append(d.configs, c)
	return nil
}

func (d *fakeDataPath) Stats() ipsec.IPsecStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

func (d *fakeDataPath) policies() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.spds)
}

func (d *fakeDataPath) lastSPD() *agent.SPD {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.spds[len(d.spds)-1]
}

func (d *fakeDataPath) lastConfig() (store.Config, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.configs[len(d.configs)-1], len(d.configs)
}

// fakeTicker fires when the test says so and records its periods.
type fakeTicker struct {
	c      chan time.Time
	mu     sync.Mutex
	period time.Duration
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }

func (t *fakeTicker) Reset(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.period = d
}

func (t *fakeTicker) Stop() {}

func (t *fakeTicker) Period() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.period
}

func (t *fakeTicker) fire() { t.c <- time.Time{} }

// fakeClock makes RoutinePoll's tickers: watch, poll, summary in the order
// RoutinePoll creates them.
type fakeClock struct {
	mu      sync.Mutex
	tickers []*fakeTicker
	made    chan struct{}
}

func newFakeClock() *fakeClock { return &fakeClock{made: make(chan struct{}, 3)} }

func (c *fakeClock) NewTicker(d time.Duration) Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTicker{c: make(chan time.Time), period: d}
	c.tickers = append(c.tickers, t)
	c.made <- struct{}{}
	return t
}

// wait returns the three tickers once RoutinePoll made them.
func (c *fakeClock) wait() (watch, poll, summary *fakeTicker) {
	for range 3 {
		<-c.made
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tickers[0], c.tickers[1], c.tickers[2]
}

// memFile is an IKE log file, or a log sink, in memory.
type memFile struct {
	mu     sync.Mutex
	b      bytes.Buffer
	closed bool
}

func (f *memFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.b.Write(p)
}

func (f *memFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *memFile) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.b.String()
}
