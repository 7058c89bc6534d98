//go:build linux

package interop

import (
	"strings"
	"testing"
	"time"
)

// TestGonetshPairAH: two gonetsh hosts under a Require Security policy
// whose only offer is AH (transport mode) carry ping in AH alone
// (protocol 51, next header ICMP), or with an AH+ESP bundle in AH
// carrying ESP (protocol 51, next header 50); nothing crosses in clear
// and both sides list the SAs with their algorithms.
func TestGonetshPairAH(t *testing.T) {
	for _, c := range []struct {
		qmsec  string
		bundle bool
		want   []string // in show qmsas of both sides
		skip   string
	}{
		{qmsec: "AH[SHA1]", want: []string{
			"ESP Algos  Integrity  : None", "ESP Algos  Encryption : None", "AH Algos              : SHA1"}},
		{qmsec: "AH[SHA1]+ESP[3DES,SHA1]", bundle: true, want: []string{
			"ESP Algos  Integrity  : SHA1", "ESP Algos  Encryption : 3DES", "AH Algos              : SHA1"}},
	} {
		t.Run(c.qmsec, func(t *testing.T) {
			a, b, capA := pair(t)
			a.script(secure("192.0.2.2", c.qmsec, "3DES-SHA1-2"))
			b.script(secure("192.0.2.1", c.qmsec, "3DES-SHA1-2"))
			a.Start()
			b.Start()

			out, err := a.exec(30*time.Second, "ping", "-c", "3", "-i", "0.3", "-W", "5", "192.0.2.2")
			if err != nil || !strings.Contains(out, "3 packets transmitted, 3 received") {
				t.Fatalf("ping A -> B through %s: %v\n%s", c.qmsec, err, out)
			}
			s := settle(capA, func(s shape) bool { return s.AH >= 6 })
			t.Logf("capture on A: %+v", s)
			if c.skip != "" {
				t.Skip(c.skip)
			}
			wantAHESP := 0
			if c.bundle {
				wantAHESP = 6
			}
			if s.Exchanges[2] != 6 || s.Exchanges[32] != 3 || s.AH != 6 || s.AHESP != wantAHESP || s.ESP != 0 || s.Clear != 0 {
				t.Errorf("capture on A: %+v; want 6 main mode and 3 quick mode messages, then 6 AH packets (%d carrying ESP), no bare ESP and nothing in clear", s, wantAHESP)
			}
			for _, h := range []*host{a, b} {
				qm := h.must("ipsec", "dynamic", "show", "qmsas")
				for _, w := range c.want {
					if !strings.Contains(qm, w) {
						t.Errorf("%s show qmsas lacks %q:\n%s", h.ns.Name(), w, qm)
					}
				}
				if n := strings.Count(qm, "AH Algos"); n != 2 || !strings.Contains(qm, "2 Quick Mode SA(s)") {
					t.Errorf("%s show qmsas: %d AH SAs; want one pair:\n%s", h.ns.Name(), n, qm)
				}
			}
		})
	}
}
