//go:build linux

package charontest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gonetsh/gonetsh/internal/netnstest"
)

// Where Debian (and most distributions) install charon and its plugins;
// Fedora and Arch use /usr/libexec/strongswan.
var (
	charonPaths    = []string{"/usr/lib/ipsec/charon", "/usr/libexec/ipsec/charon", "/usr/libexec/strongswan/charon"}
	pluginDirPaths = []string{"/usr/lib/ipsec/plugins", "/usr/lib64/ipsec/plugins", "/usr/lib/strongswan/plugins", "/usr/lib64/strongswan/plugins"}
)

// requiredPlugins are the plugins without which the harness cannot work:
// the userspace ESP backend (this kernel has no ESP), addresses and
// routes, sockets, the control socket, and 3DES/GCM (openssl).
var requiredPlugins = []string{"kernel-libipsec", "kernel-netlink", "socket-default", "vici", "openssl", "nonce", "pem", "x509"}

// charonPlugins is charon's plugin list, in load order; the ones not
// installed are left out. kernel-libipsec must come before kernel-netlink:
// the first plugin that registers a kernel-ipsec backend wins, and
// kernel-netlink is still needed for addresses and routes.
var charonPlugins = []string{
	"random", "nonce", "drbg", "openssl", "aesni", "aes", "sha1", "sha2", "md5",
	"hmac", "gmp", "gcm", "kdf", "pem", "pkcs1", "pkcs8", "x509", "pubkey",
	"revocation", "constraints",
	"kernel-libipsec", "kernel-netlink", "socket-default", "vici",
}

// swanctlPlugins is what swanctl needs to parse and send configs, keys and
// certificates; naming them stops it from trying the whole default list.
var swanctlPlugins = []string{"random", "nonce", "openssl", "aes", "sha1", "sha2", "md5", "hmac", "gmp", "pem", "pkcs1", "pkcs8", "x509", "pubkey"}

// Install locates charon, swanctl and the plugin directory.
type install struct {
	charon, swanctl, plugins string
}

func findInstall() (install, error) {
	var in install
	for _, p := range charonPaths {
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			in.charon = p
			break
		}
	}
	if in.charon == "" {
		return in, fmt.Errorf("charon not found in %s", strings.Join(charonPaths, ", "))
	}
	sw, err := exec.LookPath("swanctl")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/swanctl"); e != nil {
			return in, fmt.Errorf("swanctl not found: %w", err)
		}
		sw = "/usr/sbin/swanctl"
	}
	in.swanctl = sw
	for _, d := range pluginDirPaths {
		if _, err := os.Stat(filepath.Join(d, "libstrongswan-vici.so")); err == nil {
			in.plugins = d
			break
		}
	}
	if in.plugins == "" {
		return in, fmt.Errorf("strongSwan plugin directory not found in %s", strings.Join(pluginDirPaths, ", "))
	}
	for _, p := range requiredPlugins {
		if !in.hasPlugin(p) {
			return in, fmt.Errorf("strongSwan plugin %s missing from %s", p, in.plugins)
		}
	}
	return in, nil
}

func (in install) hasPlugin(name string) bool {
	_, err := os.Stat(filepath.Join(in.plugins, "libstrongswan-"+name+".so"))
	return err == nil
}

func (in install) pluginList(names []string) string {
	var out []string
	for _, n := range names {
		if in.hasPlugin(n) {
			out = append(out, n)
		}
	}
	return strings.Join(out, " ")
}

// installHint is what a missing strongSwan tells the reader to do.
const installHint = "run `make deps` as root (apt-get install strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins)"

// RequireCharon skips t unless the test can run charon: root (as
// netnstest.RequireRoot) and strongSwan's charon, swanctl and the plugins
// the harness loads. Under CI=true a missing piece fails t instead.
func RequireCharon(t testing.TB) {
	t.Helper()
	netnstest.RequireRoot(t)
	if _, err := findInstall(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("strongSwan is required under CI=true: %v; %s", err, installHint)
		}
		t.Skipf("skipping: %v; %s", err, installHint)
	}
	for _, tool := range []string{"ip", "unshare", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: %v", tool, err)
		}
	}
}

// Config is one charon instance.
type Config struct {
	// Conns are the connections of swanctl.conf, loaded at start.
	Conns []Conn
	// LogLevels overrides the filelog level of a subsystem ("ike",
	// "cfg", "knl", "net", "esp", "chd", "enc", "lib", "default"...;
	// -1 silences it). Unset ones log at level 2 for ike, cfg, knl,
	// net, esp and chd (exchanges, proposal selection, NAT detection,
	// SA installation) and 1 for the rest; 4 dumps keying material.
	LogLevels map[string]int
	// Options are extra strongswan.conf settings of the charon section,
	// dotted below "charon." ("block_threshold" -> "0"), written as is.
	Options map[string]string
	// AggressivePSK lets charon answer Aggressive Mode with a PSK
	// (charon.i_dont_care_about_security_and_use_aggressive_mode_psk).
	AggressivePSK bool
}

// defaultLogLevels returns the filelog levels of a Config without
// LogLevels.
func defaultLogLevels() map[string]int {
	return map[string]int{
		"default": 1, "ike": 2, "cfg": 2, "knl": 2, "net": 2, "esp": 2, "chd": 2, "enc": 1, "lib": 1,
	}
}

// Conn is one connection of swanctl.conf (IKEv1 by default). Zero fields
// take charon's default unless documented otherwise.
type Conn struct {
	Name    string // connection name; "peer" when empty
	Version int    // IKE version; 1 when zero
	// Aggressive selects Aggressive Mode instead of Main Mode.
	Aggressive bool
	// LocalAddrs, RemoteAddrs: addresses, ranges, "%any".
	LocalAddrs, RemoteAddrs []string
	// LocalID and RemoteID are the IKE identities; with PSK they default
	// to the first local and remote address (so the PSK is found by IP,
	// as Main Mode needs).
	LocalID, RemoteID string
	// PSK selects pre-shared key authentication, unless Cert is set.
	PSK []byte
	// Cert selects certificate (RSA signature) authentication: the
	// harness writes the certificate, its key and the CA certificate
	// beside swanctl.conf.
	Cert *Identity
	// Proposals are the IKE proposals ("3des-sha1-modp1024").
	Proposals []string
	// Encap forces UDP encapsulation by faking NAT-D. kernel-libipsec
	// forces it anyway, so it changes nothing on the wire.
	Encap bool
	// Unique is the uniqueness policy: "no", "never", "keep",
	// "replace"; charon's default ("no") when empty.
	Unique string
	// IKE SA lifetimes: rekey_time, over_time, rand_time, reauth_time.
	RekeyTime, OverTime, RandTime, ReauthTime time.Duration
	// DPDDelay enables dead peer detection at this interval.
	DPDDelay time.Duration
	// KeyingTries, when not zero, is keyingtries (0 in swanctl means
	// forever, which no test wants: -1 writes 0).
	KeyingTries int
	Children    []Child
}

// Child is one CHILD_SA (a quick mode) of a Conn.
type Child struct {
	Name string // child name; "net" when empty
	// LocalTS, RemoteTS: traffic selectors ("10.1.0.1/32", "dynamic").
	LocalTS, RemoteTS []string
	// ESPProposals ("3des-sha1", "aes128gcm16"); a DH group adds PFS.
	ESPProposals []string
	// Mode is "tunnel" when empty. kernel-libipsec installs no
	// transport mode SA.
	Mode string
	// CHILD SA lifetimes: rekey_time, life_time, rand_time.
	RekeyTime, LifeTime, RandTime time.Duration
	// StartAction: "none" (default), "trap", "start".
	StartAction string
	// DPDAction: "clear" when empty.
	DPDAction string
}

// Charon is a running charon in a network namespace. Its methods may be
// called from any goroutine: each control call opens its own vici
// connection.
type Charon struct {
	ns   *netnstest.NS
	dir  string
	sock string // the vici socket: in dir unless that path is too long
	in   install
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been reaped

	mu      sync.Mutex
	stopped bool
	waitErr error
}

// maxSocketPath keeps the vici socket's path within sun_path (108 bytes
// with the NUL) with room to spare.
const maxSocketPath = 100

// startTimeout bounds charon's start until its vici socket answers.
const startTimeout = 15 * time.Second

// Start writes strongswan.conf and swanctl.conf for cfg into a fresh
// directory, starts charon in ns, waits until its vici socket answers and
// loads the configuration with `swanctl --load-all`. charon runs in its
// own mount namespace with a private /run (charon hard-codes
// /run/charon.pid), so any number of instances run at once. t.Cleanup
// stops it (SIGTERM, then SIGKILL, to its PID only) and, when t failed,
// logs the tail of charon.log. Start fails t when charon cannot start.
func Start(t testing.TB, ns *netnstest.NS, cfg Config) *Charon {
	t.Helper()
	in, err := findInstall()
	if err != nil {
		t.Fatalf("charontest: %v; %s", err, installHint)
	}
	c := &Charon{ns: ns, dir: t.TempDir(), in: in, done: make(chan struct{})}
	c.sock = filepath.Join(c.dir, "charon.vici")
	if len(c.sock) > maxSocketPath {
		// A long TMPDIR makes a long TempDir; sun_path has 108 bytes.
		short, err := os.MkdirTemp("/tmp", "charontest")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(short) })
		c.sock = filepath.Join(short, "vici")
	}
	if err := os.MkdirAll(filepath.Join(c.dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.writeConfig(cfg); err != nil {
		t.Fatalf("charontest: %v", err)
	}
	out, err := os.Create(filepath.Join(c.dir, "charon.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	// Every step execs, so the PID is charon's own: ip netns exec enters
	// the namespace, unshare makes a private mount namespace, sh
	// bind-mounts our run/ over /run and execs charon.
	c.cmd = exec.Command("ip", "netns", "exec", ns.Name(),
		"unshare", "--mount", "--propagation", "private",
		"sh", "-c", `mount --bind "$1" /run && exec "$2"`, "sh", filepath.Join(c.dir, "run"), in.charon)
	c.cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+c.conf())
	c.cmd.Stdout, c.cmd.Stderr = out, out
	if err := c.cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("charontest: start charon: %v", err)
	}
	go func() {
		err := c.cmd.Wait()
		out.Close()
		c.mu.Lock()
		c.waitErr = err
		c.mu.Unlock()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			c.dumpLog(t, 80)
		}
	})
	if err := c.waitReady(startTimeout); err != nil {
		t.Fatalf("charontest: charon in %s: %v\nstdout: %s", ns.Name(), err, c.readFile("charon.stdout"))
	}
	if len(cfg.Conns) > 0 {
		if out, err := c.Swanctl("--load-all", "--noprompt", "--file", filepath.Join(c.dir, "swanctl.conf")); err != nil {
			t.Fatalf("charontest: swanctl --load-all: %v\n%s", err, out)
		}
	}
	return c
}

// waitReady polls the vici socket with a "stats" command until charon
// answers, and fails when charon exits first.
func (c *Charon) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-c.done:
			return fmt.Errorf("charon exited at startup: %v", c.exitErr())
		default:
		}
		v, err := dialVici(c.ViciSocket(), time.Second)
		if err == nil {
			_, _, err = v.call(time.Now().Add(2*time.Second), "stats", "", nil)
			v.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vici socket not answering after %v: %w", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Charon) exitErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waitErr
}

// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
const stopTimeout = 5 * time.Second

// Stop terminates charon (SIGTERM, then SIGKILL after 5 s) and waits for
// it. It signals only the PID it started, and only while that process
// has not been reaped, so a reused PID is never hit. Later calls do
// nothing. t.Cleanup calls it.
func (c *Charon) Stop() {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	c.mu.Unlock()
	select {
	case <-c.done:
		return
	default:
	}
	// The process is not reaped before done is closed, so the PID is
	// still ours here.
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(stopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// PID returns charon's process ID.
func (c *Charon) PID() int { return c.cmd.Process.Pid }

// NS returns the namespace charon runs in.
func (c *Charon) NS() *netnstest.NS { return c.ns }

// Dir returns the instance's directory: strongswan.conf, swanctl.conf,
// x509/, x509ca/, private/, charon.log, charon.stdout, the vici socket
// and run/ (charon's /run).
func (c *Charon) Dir() string { return c.dir }

// ViciSocket returns the path of the vici control socket: Dir/charon.vici,
// or a shorter path when that one would not fit a socket address.
func (c *Charon) ViciSocket() string { return c.sock }

func (c *Charon) conf() string { return filepath.Join(c.dir, "strongswan.conf") }

func (c *Charon) readFile(name string) string {
	b, _ := os.ReadFile(filepath.Join(c.dir, name))
	return string(b)
}

// Log returns charon.log as written so far.
func (c *Charon) Log() string { return c.readFile("charon.log") }

// WaitLog polls charon.log until it contains substr and returns nil, or
// returns an error quoting the log's tail after timeout.
func (c *Charon) WaitLog(substr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		log := c.Log()
		if strings.Contains(log, substr) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("charontest: %q not in charon.log after %v; it ends:\n%s", substr, timeout, tail(log, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (c *Charon) dumpLog(t testing.TB, lines int) {
	t.Logf("charon in %s (pid %d), the end of %s:\n%s", c.ns.Name(), c.PID(),
		filepath.Join(c.dir, "charon.log"), tail(c.Log(), lines))
}

// swanctlTimeout bounds one swanctl command.
const swanctlTimeout = 60 * time.Second

// Swanctl runs swanctl with args against this charon (through
// STRONGSWAN_CONF, which names its vici socket) and returns its combined
// output.
func (c *Charon) Swanctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), swanctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.in.swanctl, args...)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+c.conf())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// call runs one vici command on a fresh connection.
func (c *Charon) call(timeout time.Duration, cmd, event string, elems []kv) (*Msg, []*Msg, error) {
	v, err := dialVici(c.ViciSocket(), timeout)
	if err != nil {
		return nil, nil, err
	}
	defer v.Close()
	return v.call(time.Now().Add(timeout), cmd, event, elems)
}

// initiateTimeout bounds Initiate and Terminate.
const initiateTimeout = 30 * time.Second

// Initiate starts the CHILD_SA child of connection ike (Main Mode and
// Quick Mode when no IKE SA is up) and waits until it is installed or has
// failed.
func (c *Charon) Initiate(ike, child string) error {
	m, _, err := c.call(initiateTimeout+5*time.Second, "initiate", "", []kv{
		{"ike", ike}, {"child", child}, {"timeout", strconv.Itoa(int(initiateTimeout / time.Millisecond))},
		{"init-limits", "no"},
	})
	if err != nil {
		return err
	}
	return commandResult("initiate "+ike+"/"+child, m)
}

// Terminate deletes the IKE SAs of connection ike (and their CHILD_SAs),
// sending DELETE notifications, and waits until that is done.
func (c *Charon) Terminate(ike string) error {
	m, _, err := c.call(initiateTimeout+5*time.Second, "terminate", "", []kv{
		{"ike", ike}, {"timeout", strconv.Itoa(int(initiateTimeout / time.Millisecond))},
	})
	if err != nil {
		return err
	}
	return commandResult("terminate "+ike, m)
}

// ErrNoSA is returned by WaitChildSA when no matching CHILD_SA was
// installed in time.
var ErrNoSA = errors.New("charontest: no such SA")

// conf writers

func (c *Charon) writeConfig(cfg Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# generated by internal/charontest\ncharon {\n")
	fmt.Fprintf(&b, "\tload = %s\n", c.in.pluginList(charonPlugins))
	fmt.Fprintf(&b, "\tport = 500\n\tport_nat_t = 4500\n\tinstall_routes = yes\n")
	fmt.Fprintf(&b, "\ti_dont_care_about_security_and_use_aggressive_mode_psk = %s\n", yesNo(cfg.AggressivePSK))
	for _, k := range sortedKeys(cfg.Options) {
		fmt.Fprintf(&b, "\t%s = %s\n", k, cfg.Options[k])
	}
	levels := defaultLogLevels()
	for k, v := range cfg.LogLevels {
		levels[k] = v
	}
	fmt.Fprintf(&b, "\tfilelog {\n\t\tcharon {\n\t\t\tpath = %s\n", filepath.Join(c.dir, "charon.log"))
	fmt.Fprintf(&b, "\t\t\tappend = no\n\t\t\tflush_line = yes\n\t\t\ttime_format = %%H:%%M:%%S\n\t\t\ttime_add_ms = yes\n\t\t\tike_name = yes\n")
	for _, k := range sortedKeys(levels) {
		fmt.Fprintf(&b, "\t\t\t%s = %d\n", k, levels[k])
	}
	fmt.Fprintf(&b, "\t\t}\n\t}\n\tsyslog {\n\t}\n")
	fmt.Fprintf(&b, "\tplugins {\n\t\tvici {\n\t\t\tsocket = unix://%s\n\t\t}\n", c.ViciSocket())
	fmt.Fprintf(&b, "\t\tkernel-libipsec {\n\t\t\tallow_peer_ts = no\n\t\t}\n\t}\n}\n")
	fmt.Fprintf(&b, "swanctl {\n\tload = %s\n\tsocket = unix://%s\n}\n", c.in.pluginList(swanctlPlugins), c.ViciSocket())
	if err := os.WriteFile(c.conf(), []byte(b.String()), 0o600); err != nil {
		return err
	}
	sw, err := c.swanctlConf(cfg.Conns)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.dir, "swanctl.conf"), []byte(sw), 0o600)
}

func (c *Charon) swanctlConf(conns []Conn) (string, error) {
	var b, secrets strings.Builder
	b.WriteString("# generated by internal/charontest\nconnections {\n")
	for i, cn := range conns {
		name := cmp(cn.Name, "peer")
		version := cn.Version
		if version == 0 {
			version = 1
		}
		fmt.Fprintf(&b, "\t%s {\n", name)
		fmt.Fprintf(&b, "\t\tversion = %d\n\t\taggressive = %s\n\t\tencap = %s\n", version, yesNo(cn.Aggressive), yesNo(cn.Encap))
		writeList(&b, 2, "local_addrs", cn.LocalAddrs)
		writeList(&b, 2, "remote_addrs", cn.RemoteAddrs)
		writeList(&b, 2, "proposals", cn.Proposals)
		writeOpt(&b, 2, "unique", cn.Unique)
		writeDur(&b, 2, "rekey_time", cn.RekeyTime)
		writeDur(&b, 2, "over_time", cn.OverTime)
		writeDur(&b, 2, "rand_time", cn.RandTime)
		writeDur(&b, 2, "reauth_time", cn.ReauthTime)
		writeDur(&b, 2, "dpd_delay", cn.DPDDelay)
		switch {
		case cn.KeyingTries < 0:
			b.WriteString("\t\tkeyingtries = 0\n")
		case cn.KeyingTries > 0:
			fmt.Fprintf(&b, "\t\tkeyingtries = %d\n", cn.KeyingTries)
		}
		localID, remoteID := cn.LocalID, cn.RemoteID
		switch {
		case cn.Cert != nil:
			if err := c.writeIdentity(name, cn.Cert); err != nil {
				return "", err
			}
			writeAuth(&b, "pubkey", name+".pem", localID, remoteID)
		case cn.PSK != nil:
			if localID == "" && len(cn.LocalAddrs) > 0 {
				localID = cn.LocalAddrs[0]
			}
			if remoteID == "" && len(cn.RemoteAddrs) > 0 {
				remoteID = cn.RemoteAddrs[0]
			}
			writeAuth(&b, "psk", "", localID, remoteID)
			fmt.Fprintf(&secrets, "\tike-%d {\n", i)
			writeOpt(&secrets, 2, "id-local", quote(localID))
			writeOpt(&secrets, 2, "id-remote", quote(remoteID))
			fmt.Fprintf(&secrets, "\t\tsecret = 0x%x\n\t}\n", cn.PSK)
		default:
			return "", fmt.Errorf("connection %s: neither PSK nor Cert", name)
		}
		b.WriteString("\t\tchildren {\n")
		for _, ch := range cn.Children {
			fmt.Fprintf(&b, "\t\t\t%s {\n", cmp(ch.Name, "net"))
			fmt.Fprintf(&b, "\t\t\t\tmode = %s\n", cmp(ch.Mode, "tunnel"))
			writeList(&b, 4, "local_ts", ch.LocalTS)
			writeList(&b, 4, "remote_ts", ch.RemoteTS)
			writeList(&b, 4, "esp_proposals", ch.ESPProposals)
			writeDur(&b, 4, "rekey_time", ch.RekeyTime)
			writeDur(&b, 4, "life_time", ch.LifeTime)
			writeDur(&b, 4, "rand_time", ch.RandTime)
			fmt.Fprintf(&b, "\t\t\t\tstart_action = %s\n", cmp(ch.StartAction, "none"))
			fmt.Fprintf(&b, "\t\t\t\tdpd_action = %s\n", cmp(ch.DPDAction, "clear"))
			b.WriteString("\t\t\t}\n")
		}
		b.WriteString("\t\t}\n\t}\n")
	}
	b.WriteString("}\nsecrets {\n")
	b.WriteString(secrets.String())
	b.WriteString("}\n")
	return b.String(), nil
}

// writeAuth writes the local and remote sections of a connection.
func writeAuth(b *strings.Builder, auth, cert, localID, remoteID string) {
	for _, end := range []struct{ name, id, cert string }{{"local", localID, cert}, {"remote", remoteID, ""}} {
		fmt.Fprintf(b, "\t\t%s {\n\t\t\tauth = %s\n", end.name, auth)
		writeOpt(b, 3, "certs", end.cert)
		writeOpt(b, 3, "id", quote(end.id))
		b.WriteString("\t\t}\n")
	}
}

// quote makes an identity safe for swanctl.conf (a DN has commas and
// spaces).
func quote(s string) string {
	if s == "" || !strings.ContainsAny(s, " ,=\"{}#") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func writeOpt(b *strings.Builder, indent int, key, val string) {
	if val != "" {
		fmt.Fprintf(b, "%s%s = %s\n", strings.Repeat("\t", indent), key, val)
	}
}

func writeList(b *strings.Builder, indent int, key string, vals []string) {
	writeOpt(b, indent, key, strings.Join(vals, ","))
}

// writeDur writes a duration in whole seconds (swanctl's unit without a
// suffix); zero is left to charon's default.
func writeDur(b *strings.Builder, indent int, key string, d time.Duration) {
	if d != 0 {
		writeOpt(b, indent, key, strconv.FormatInt(int64(d/time.Second), 10)+"s")
	}
}

// Addrs renders addresses for Conn.LocalAddrs and friends.
func Addrs(addrs ...netip.Addr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// Host renders host prefixes (/32) of addrs, for Child.LocalTS and
// RemoteTS.
func Host(addrs ...netip.Addr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = netip.PrefixFrom(a, a.BitLen()).String()
	}
	return out
}
