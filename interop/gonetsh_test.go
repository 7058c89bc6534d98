//go:build linux

package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/internal/netnstest"
)

// pair makes two gonetsh hosts A (192.0.2.1) and B (192.0.2.2) joined by
// a veth pair, each with a service running, and a capture on A's end.
func pair(t *testing.T) (a, b *host, capA *netnstest.Capture) {
	netnstest.RequireRoot(t)
	nsA, nsB := netnstest.New(t, "a"), netnstest.New(t, "b")
	netnstest.Veth(t, nsA, "wa", nsB, "wb")
	nsA.IP(t, "addr", "add", "192.0.2.1/24", "dev", "wa")
	nsB.IP(t, "addr", "add", "192.0.2.2/24", "dev", "wb")
	for _, ns := range []*netnstest.NS{nsA, nsB} {
		ns.Sysctl(t, "net.ipv6.conf.all.disable_ipv6", "1", true)
	}
	nsA.WaitRunning(t, "wa", 5*time.Second)
	nsB.WaitRunning(t, "wb", 5*time.Second)
	a, b = newHost(t, nsA), newHost(t, nsB)
	capA = nsA.Capture(t, "wa")
	return a, b, capA
}

// secure is a policy that requires ESP between this host and peer for all
// traffic, authenticated with a pre-shared key.
func secure(peer, qmsec, mmsec string) string {
	return secureAuth(peer, qmsec, mmsec, pskAuth("interop test key"))
}

// secureAuth is secure with the rule's authentication methods auth
// (pskAuth, rootcaAuth).
func secureAuth(peer, qmsec, mmsec, auth string) string {
	return fmt.Sprintf(`pushd ipsec static
add filterlist "to peer"
add filter "to peer" srcaddr=me dstaddr=%s mirrored=yes
add filteraction "require" action=negotiate qmsec=%q inpass=no soft=no
add policy "peer policy" mmsec=%q activatedefaultrule=no
add rule "secure" "peer policy" "to peer" "require" %s kerberos=no
set policy "peer policy" assign=y
popd
`, peer, qmsec, mmsec, auth)
}

// TestGonetshPairTransportPSK: two gonetsh hosts under a Require Security
// policy with a pre-shared key negotiate main mode (6 messages) and quick
// mode (3) on the first ping, then carry ping in ESP transport mode
// (protocol 50); both show the SAs.
func TestGonetshPairTransportPSK(t *testing.T) {
	a, b, capA := pair(t)
	a.script(secure("192.0.2.2", "ESP[3DES,SHA1]", "3DES-SHA1-2"))
	b.script(secure("192.0.2.1", "ESP[3DES,SHA1]", "3DES-SHA1-2"))
	a.Start()
	b.Start()
	a.must("ipsec", "dynamic", "set", "config", "ikelogging", "1")

	out, err := a.exec(30*time.Second, "ping", "-c", "3", "-i", "0.3", "-W", "5", "192.0.2.2")
	if err != nil || !strings.Contains(out, "3 packets transmitted, 3 received") {
		t.Fatalf("ping A -> B through ESP: %v\n%s", err, out)
	}
	t.Log(out)
	s := settle(capA, func(s shape) bool { return s.ESP >= 6 })
	t.Logf("capture on A: %+v", s)
	if s.Exchanges[2] != 6 || s.Exchanges[32] != 3 || s.ESP != 6 || s.Clear != 0 {
		t.Errorf("capture on A: %+v; want 6 main mode and 3 quick mode messages, then 6 ESP (3 echoes, 3 replies) and nothing in clear", s)
	}
	// The IKE log of `set config ikelogging 1`: one line per message, no
	// key material.
	ikeLog, err := os.ReadFile(filepath.Join(a.store, "ike.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(ikeLog), "main-mode"); n != 6 {
		t.Errorf("ike.log has %d main mode lines, want 6:\n%s", n, ikeLog)
	}
	if strings.Contains(string(ikeLog), "interop test key") {
		t.Errorf("ike.log holds the pre-shared key:\n%s", ikeLog)
	}
	stats := a.must("ipsec", "dynamic", "show", "stats")
	for _, want := range []string{"IKE Main Mode", "IKE Quick Mode", "Key Additions", "Active Security Associations", "Confidential Bytes Sent"} {
		if v := counter(stats, want); v <= 0 {
			t.Errorf("show stats: %s is not above 0 after a secured ping:\n%s", want, stats)
		}
	}
	for _, h := range []*host{a, b} {
		mm := h.must("ipsec", "dynamic", "show", "mmsas")
		if !strings.Contains(mm, "1 Main Mode SA(s)") || !strings.Contains(mm, "Preshared key") {
			t.Errorf("%s show mmsas:\n%s", h.ns.Name(), mm)
		}
		qm := h.must("ipsec", "dynamic", "show", "qmsas")
		t.Logf("%s:\n%s\n%s", h.ns.Name(), mm, qm)
		if !strings.Contains(qm, "3DES") {
			t.Errorf("%s show qmsas:\n%s", h.ns.Name(), qm)
		}
	}
}

// counter returns the value of the first `show stats` line whose label is
// name; -1 when there is none.
func counter(stats, name string) int {
	for _, line := range strings.Split(stats, "\n") {
		label, value, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(label) == name {
			v, err := strconv.Atoi(strings.TrimSpace(value))
			if err == nil {
				return v
			}
		}
	}
	return -1
}
