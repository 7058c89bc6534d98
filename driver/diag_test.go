package driver

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/gonetsh/gonetsh/driver/sadb"
	"github.com/gonetsh/gonetsh/ipsec"
)

// syncBuffer is a log sink safe for the driver's routines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDiagnostics: ipsecdiagnostics bits choose which drops are logged at
// Warn; the others stay at Debug (not shown at Info).
func TestDiagnostics(t *testing.T) {
	var log syncBuffer
	a, _, _ := newPair(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	a.policy(t, sadb.Entry{ID: 1, Action: ipsec.ActionBlock,
		Selector: sadb.Selector{Dir: sadb.Outbound, Src: host(hostA), Dst: host(hostB)}})
	blocked := func(n uint64) {
		a.send(t, echo(t, false, hostA, hostB, uint16(n), 64))
		a.stat(t, "BlockedOutbound", func(s Stats) uint64 { return s.BlockedOutbound }, n)
	}
	blocked(1)
	if strings.Contains(log.String(), "packet dropped") {
		t.Fatalf("logged with ipsecdiagnostics 0:\n%s", log.String())
	}
	a.d.SetDiagnostics(DiagSecurity | DiagOutbound)
	blocked(2)
	if strings.Contains(log.String(), "packet dropped") {
		t.Fatalf("a policy drop logged without the policy bit:\n%s", log.String())
	}
	a.d.SetDiagnostics(DiagPolicy)
	blocked(3)
	if got := log.String(); !strings.Contains(got, `level=WARN msg="packet dropped" reason="outbound: block"`) {
		t.Fatalf("policy drop not logged with the policy bit:\n%s", got)
	}
	if a.d.class(&a.d.stats.BadSPIPackets) != DiagSecurity || a.d.class(&a.d.stats.SealFailures) != DiagOutbound ||
		a.d.class(&a.d.stats.ClearNegotiateDrops) != DiagPolicy {
		t.Error("drop classes")
	}
}
