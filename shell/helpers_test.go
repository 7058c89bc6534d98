package shell_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonetsh/gonetsh/engine"
	"github.com/gonetsh/gonetsh/engine/agent"
	"github.com/gonetsh/gonetsh/engine/enginetest"
	"github.com/gonetsh/gonetsh/engine/ike"
	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/shell"
	"github.com/gonetsh/gonetsh/store"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// testTime is the store clock of every test: Last Modified prints
// 11/27/2026 9:05:07 AM and JSON 2026-11-27T09:05:07Z.
var testTime = time.Date(2026, 11, 27, 9, 5, 7, 0, time.UTC)

const testHost = "TESTHOST"

// testIKELog is the IKE log path the test engines show; nothing is
// written there (env.ikeLog receives the writes).
const testIKELog = "/var/lib/gonetsh/ike.log"

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func sampleMMSAs() []ipsec.MMSA {
	me, peer := netip.MustParseAddr("192.0.2.5"), netip.MustParseAddr("198.51.100.7")
	return []ipsec.MMSA{{
		CookieI: [8]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef},
		CookieR: [8]byte{0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10},
		Local:   netip.AddrPortFrom(me, 500), Remote: netip.AddrPortFrom(peer, 500),
		Offer:    ipsec.MMOffer{Cipher: ipsec.Cipher3DES, Hash: ipsec.HashSHA1, Group: ipsec.DHGroup2},
		Lifetime: 8 * time.Hour, Auth: ipsec.AuthKerberos, Initiator: true, Created: testTime,
	}, {
		CookieI: [8]byte{0xaa, 1, 2, 3, 4, 5, 6, 7}, CookieR: [8]byte{0xbb, 1, 2, 3, 4, 5, 6, 7},
		Local: netip.AddrPortFrom(me, 4500), Remote: netip.AddrPortFrom(netip.MustParseAddr("203.0.113.9"), 4500),
		Offer:    ipsec.MMOffer{Cipher: ipsec.CipherAES256, Hash: ipsec.HashSHA256, Group: ipsec.DHGroup14},
		Lifetime: 8 * time.Hour, Auth: ipsec.AuthPSK, NATT: true, Created: testTime,
	}}
}

func sampleQMSAs() []ipsec.QMSA {
	me, peer := netip.MustParseAddr("192.0.2.5"), netip.MustParseAddr("198.51.100.7")
	gw := netip.MustParseAddr("203.0.113.9")
	return []ipsec.QMSA{{
		Selector: ipsec.Selector{Src: netip.PrefixFrom(me, 32), Dst: netip.PrefixFrom(peer, 32), Protocol: ipsec.ProtoTCP, DstPort: 80},
		Local:    netip.AddrPortFrom(me, 500), Remote: netip.AddrPortFrom(peer, 500),
		Offer: ipsec.QMOffer{ESP: true, ESPCipher: ipsec.Cipher3DES, ESPAuth: ipsec.HashSHA1},
		SPIIn: 0x1000, SPIOut: 0x2000, Created: testTime,
	}, {
		Selector: ipsec.Selector{Src: netip.MustParsePrefix("10.1.0.0/16"), Dst: netip.MustParsePrefix("10.2.0.0/16"), Protocol: ipsec.ProtoAny},
		Tunnel:   gw,
		Local:    netip.AddrPortFrom(me, 4500), Remote: netip.AddrPortFrom(gw, 4500), Encap: true,
		Offer: ipsec.QMOffer{AH: ipsec.HashSHA1, ESP: true, ESPCipher: ipsec.CipherAES256, ESPAuth: ipsec.HashSHA256},
		SPIIn: 0x3000, SPIOut: 0x4000, Created: testTime,
	}}
}

// testHostInfo is the engine's view of the test machine: one address,
// 192.0.2.5, and no servers.
func testHostInfo() agent.HostInfo {
	return agent.HostInfo{Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.5")}}
}

// guidCounter is a deterministic GUID source:
// {0000000P-0000-0000-0000-000000000001}, ...002, ... where P is prefix.
// Two DB handles over one directory need different prefixes, or their new
// objects collide.
type guidCounter struct {
	mu     sync.Mutex
	prefix uint32
	n      uint64
}

func (g *guidCounter) next() store.GUID {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	return store.GUID(fmt.Sprintf("{%08X-0000-0000-0000-%012X}", g.prefix, g.n))
}

// fakeHosts is the fake resolver's zone; every other name fails.
var fakeHosts = map[string]netip.Addr{
	"wsus.example.test":   netip.MustParseAddr("192.0.2.10"),
	"gw.example.test":     netip.MustParseAddr("192.0.2.1"),
	"peer.example.test":   netip.MustParseAddr("198.51.100.7"),
	"tunnel.example.test": netip.MustParseAddr("203.0.113.9"),
}

// resolver is the fake resolver of one env: fakeHosts, which a test may
// change (forget a host) through the env.
type resolver struct {
	mu    sync.Mutex
	hosts map[string]netip.Addr
}

func newResolver() *resolver {
	r := &resolver{hosts: map[string]netip.Addr{}}
	for k, v := range fakeHosts {
		r.hosts[k] = v
	}
	return r
}

func (r *resolver) resolve(_ context.Context, name string) (netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.hosts[strings.ToLower(strings.TrimSuffix(name, "."))]; ok {
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("lookup %s: no such host", name)
}

func (r *resolver) forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.hosts, name)
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of readline's
// goroutines and the session.
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

// take returns the content and empties the buffer.
func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// env is one test's world: a store directory, a directory that relative
// file names of exec, exportpolicy and importpolicy resolve in, the store
// handle, and a session whose output goes to out and err.
type env struct {
	t        testing.TB
	storeDir string
	fileDir  string
	db       *store.DB
	eng      *engine.Engine // started over db; stopped at the end of the test
	neg      *enginetest.Negotiator
	ikeLog   *syncBuffer // the IKE log "file"
	guids    *guidCounter
	dns      *resolver
	out, err *syncBuffer
	sess     *shell.Session
}

// newEnv returns an env over a new, never written store (it reads as the
// built-in policies) with a session at the root context.
func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvAt(t, t.TempDir(), 0)
}

// newEnvAt opens the store in storeDir with GUID prefix prefix.
func newEnvAt(t testing.TB, storeDir string, prefix uint32) *env {
	t.Helper()
	e := &env{
		t:        t,
		storeDir: storeDir,
		fileDir:  t.TempDir(),
		guids:    &guidCounter{prefix: prefix},
		dns:      newResolver(),
		out:      &syncBuffer{},
		err:      &syncBuffer{},
		neg:      &enginetest.Negotiator{},
		ikeLog:   &syncBuffer{},
	}
	db, err := store.Open(storeDir, store.Options{
		Clock:   func() time.Time { return testTime },
		NewGUID: e.guids.next,
	})
	require.NoError(t, err)
	e.db = db
	e.startEngine()
	e.sess = shell.New(e.config())
	return e
}

// startEngine gives the env a new running engine over its store, as a new
// netsh process would have; the previous one, if any, is stopped.
func (e *env) startEngine() {
	e.t.Helper()
	if e.eng != nil {
		e.eng.Stop()
	}
	eng, err := engine.New(engine.Options{
		DB: e.db, Host: testHostInfo, Now: func() time.Time { return testTime },
		NewNegotiator: func(ike.Policy, io.Writer) engine.Negotiator { return e.neg },
		IKELogPath:    testIKELog,
		OpenLog:       func(string) (io.WriteCloser, error) { return nopCloser{e.ikeLog}, nil },
	})
	require.NoError(e.t, err)
	require.NoError(e.t, eng.Start(context.Background()))
	e.t.Cleanup(eng.Stop)
	e.eng = eng
}

func (e *env) config() shell.Config {
	return shell.Config{
		Store:    e.db,
		Out:      e.out,
		Err:      e.err,
		Host:     testHost,
		Resolver: e.dns.resolve,
		TimeZone: time.UTC,
		Now:      func() time.Time { return testTime },
		Engine:   e.eng,
		Open: func(name string) (io.ReadCloser, error) {
			f, err := os.Open(e.path(name))
			if err != nil {
				return nil, asTyped(name, err)
			}
			return f, nil
		},
		Create: func(name string) (io.WriteCloser, error) {
			f, err := os.Create(e.path(name))
			if err != nil {
				return nil, asTyped(name, err)
			}
			return f, nil
		},
	}
}

// asTyped reports a file error under the name the command gave, as
// os.Open would for a name relative to the working directory, so that
// messages do not show the temporary directory.
func asTyped(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: name, Err: pe.Err}
	}
	return err
}

// path resolves a file name of a netsh command in the file directory.
func (e *env) path(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(e.fileDir, name)
}

// newSession replaces the env's session by a fresh one (root context, local
// store) on the same store handle.
func (e *env) newSession() *shell.Session {
	e.sess = shell.New(e.config())
	return e.sess
}

// exec runs one line and returns what it printed and whether it succeeded.
func (e *env) exec(line string) (string, bool) {
	e.out.take()
	ok := e.sess.Exec(line)
	return e.out.take(), ok
}

// run executes script line by line with Session.Exec (blank lines and
// '#' comments skipped, as in a script file) and returns the output. It
// fails the test when a line fails, so use it for set-up.
func (e *env) run(script string) string {
	e.t.Helper()
	var all strings.Builder
	for _, line := range strings.Split(script, "\n") {
		if s := strings.TrimSpace(line); s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		out, ok := e.exec(line)
		all.WriteString(out)
		require.True(e.t, ok, "line failed: %s\n%s", line, out)
	}
	return all.String()
}

// seq returns the store's write counter of loc.
func (e *env) seq(loc store.Location) uint64 {
	e.t.Helper()
	n, err := e.db.Seq(loc)
	require.NoError(e.t, err)
	return n
}

func (e *env) writeFile(name, content string) {
	e.t.Helper()
	require.NoError(e.t, os.WriteFile(e.path(name), []byte(content), 0o600))
}

// showAllJSON runs `show all format=json` in the current context (which
// must reach ipsec static) and decodes it.
func (e *env) showAllJSON(prefix string) any {
	e.t.Helper()
	out, ok := e.exec(prefix + "show all format=json")
	require.True(e.t, ok, out)
	var v any
	require.NoError(e.t, json.Unmarshal([]byte(out), &v), out)
	return v
}

// strip removes the keys that a replay cannot reproduce ("guid",
// "lastmodified") at every depth of a decoded JSON document.
func strip(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if k == "guid" || k == "lastmodified" {
				continue
			}
			out[k] = strip(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = strip(val)
		}
		return out
	}
	return v
}
