package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeEngine counts the lines run by every connection and records whether
// two ever ran at once.
type fakeEngine struct {
	inflight atomic.Int32
	overlap  atomic.Bool
	mu       sync.Mutex
	lines    []string
	opened   int
	closed   int
	started  chan struct{} // if set, Exec signals it then waits on release
	release  chan struct{}
}

type fakeHandler struct{ e *fakeEngine }

func (e *fakeEngine) newHandler() Handler {
	e.mu.Lock()
	e.opened++
	e.mu.Unlock()
	return fakeHandler{e}
}

func (h fakeHandler) Exec(line string) ([]byte, []byte, bool) {
	e := h.e
	if e.inflight.Add(1) > 1 {
		e.overlap.Store(true)
	}
	defer e.inflight.Add(-1)
	if e.started != nil {
		e.started <- struct{}{}
		<-e.release
	}
	time.Sleep(100 * time.Microsecond) // widen the window for an overlap
	e.mu.Lock()
	e.lines = append(e.lines, line)
	e.mu.Unlock()
	if line == "fail" {
		return []byte("ERR\n"), nil, false
	}
	return []byte("ran " + line + "\n"), []byte("diag\n"), true
}

func (h fakeHandler) Close() {
	h.e.mu.Lock()
	h.e.closed++
	h.e.mu.Unlock()
}

func (e *fakeEngine) counts() (lines, opened, closed int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.lines), e.opened, e.closed
}

// me allows the test's own uid, as root would be allowed in production.
func me(uid uint32) bool { return uid == uint32(os.Getuid()) }

// serve starts a server over a socket in a temporary directory and returns
// the socket path; the server is closed at the end of the test.
func serve(t *testing.T, opt ServerOptions) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control.sock")
	l, err := Listen(path)
	require.NoError(t, err)
	s := NewServer(opt)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		require.NoError(t, <-done)
	})
	return s, path
}

func TestServeExec(t *testing.T) {
	e := &fakeEngine{}
	_, path := serve(t, ServerOptions{NewHandler: e.newHandler, AllowUID: me})

	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSocket|0o600, fi.Mode()&(os.ModeSocket|os.ModePerm))

	c, err := Dial(path)
	require.NoError(t, err)
	out, diag, ok, err := c.Exec("show config")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "ran show config\n", string(out))
	assert.Equal(t, "diag\n", string(diag))

	out, _, ok, err = c.Exec("fail")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, "ERR\n", string(out))

	require.NoError(t, c.Close())
	require.NoError(t, c.Close())
	_, _, _, err = c.Exec("x")
	assert.ErrorIs(t, err, ErrClosed)
}

// Many clients at once: every request runs, one at a time.
func TestConcurrentClientsSerialised(t *testing.T) {
	e := &fakeEngine{}
	_, path := serve(t, ServerOptions{NewHandler: e.newHandler, AllowUID: me})
	const clients, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := range each {
				line := fmt.Sprintf("c%d-%d", i, j)
				out, _, ok, err := c.Exec(line)
				if err != nil || !ok || string(out) != "ran "+line+"\n" {
					errs <- fmt.Errorf("%s: %q %v %v", line, out, ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n, opened, _ := e.counts()
	assert.Equal(t, clients*each, n)
	assert.Equal(t, clients, opened)
	assert.False(t, e.overlap.Load(), "two requests ran at once")
	require.Eventually(t, func() bool { _, _, closed := e.counts(); return closed == clients }, 5*time.Second, time.Millisecond)
}

func TestRefusedUID(t *testing.T) {
	e := &fakeEngine{}
	uid := uint32(os.Getuid())
	for _, c := range []struct {
		name  string
		allow func(uint32) bool
	}{
		{"root only", nil}, // the production default
		{"another uid", func(u uint32) bool { return u == uid+12345 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.allow == nil && uid == 0 {
				t.Skip("running as root: the default allows this client")
			}
			_, path := serve(t, ServerOptions{NewHandler: e.newHandler, AllowUID: c.allow})
			cl, err := Dial(path)
			require.ErrorIs(t, err, ErrRefused)
			assert.Nil(t, cl)
			assert.Contains(t, err.Error(), fmt.Sprintf("user id %d may not control", uid))
		})
	}
	_, opened, _ := e.counts()
	assert.Zero(t, opened, "a refused client got a handler")
}

// rawConn connects without the client's Hello.
func rawConn(t *testing.T, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

func TestHandshakeFailures(t *testing.T) {
	e := &fakeEngine{}
	_, path := serve(t, ServerOptions{NewHandler: e.newHandler, AllowUID: me, HelloTimeout: 200 * time.Millisecond})
	for _, c := range []struct {
		name  string
		first []byte
		code  Code
	}{
		{"version 0", mustAppend(t, &Hello{Version: 0}), CodeVersion},
		{"request before hello", mustAppend(t, &Request{Line: "x"}), CodeProtocol},
		{"bad magic", frame(TypeHello, 'X', 'X', 'X', 'X', 0, 1), CodeProtocol},
		{"oversized frame", []byte{0x7f, 0, 0, 0}, CodeProtocol},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := rawConn(t, path)
			_, err := conn.Write(c.first)
			require.NoError(t, err)
			m, err := ReadMessage(conn)
			require.NoError(t, err)
			f, ok := m.(*Failure)
			require.True(t, ok, "%#v", m)
			assert.Equal(t, c.code, f.Code, f.Message)
			_, err = ReadMessage(conn)
			assert.Error(t, err, "the server closes after a failure")
		})
	}
	t.Run("silent client times out", func(t *testing.T) {
		conn := rawConn(t, path)
		_, err := ReadMessage(conn)
		assert.Error(t, err)
	})
	_, opened, _ := e.counts()
	assert.Zero(t, opened)
}

func mustAppend(t *testing.T, m Message) []byte {
	t.Helper()
	b, err := Append(nil, m)
	require.NoError(t, err)
	return b
}

// A client that goes away mid-frame, or after sending a request, harms
// neither the server nor the other clients; a whole request still runs.
func TestClientDiesMidRequest(t *testing.T) {
	e := &fakeEngine{started: make(chan struct{}), release: make(chan struct{})}
	_, path := serve(t, ServerOptions{NewHandler: e.newHandler, AllowUID: me})

	hello := mustAppend(t, &Hello{Version: Version})
	req := mustAppend(t, &Request{Line: "half"})

	// Half a request frame, then gone: nothing runs.
	conn := rawConn(t, path)
	_, err := conn.Write(hello)
	require.NoError(t, err)
	_, err = ReadMessage(conn)
	require.NoError(t, err)
	_, err = conn.Write(req[:len(req)-2])
	require.NoError(t, err)
	conn.Close()

	// A whole request, then gone while it runs: it runs to the end.
	conn = rawConn(t, path)
	_, err = conn.Write(hello)
	require.NoError(t, err)
	_, err = ReadMessage(conn)
	require.NoError(t, err)
	_, err = conn.Write(mustAppend(t, &Request{Line: "whole"}))
	require.NoError(t, err)
	<-e.started
	conn.Close()
	e.release <- struct{}{}

	// The server still serves.
	go func() {
		<-e.started
		e.release <- struct{}{}
	}()
	c, err := Dial(path)
	require.NoError(t, err)
	defer c.Close()
	out, _, ok, err := c.Exec("after")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "ran after\n", string(out))
	e.mu.Lock()
	assert.Equal(t, []string{"whole", "after"}, e.lines)
	e.mu.Unlock()
}

func TestCloseWaitsAndRemovesSocket(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	e := &fakeEngine{started: make(chan struct{}), release: make(chan struct{})}
	path := filepath.Join(t.TempDir(), "control.sock")
	l, err := Listen(path)
	require.NoError(t, err)
	s := NewServer(ServerOptions{NewHandler: e.newHandler, AllowUID: me})
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	c, err := Dial(path)
	require.NoError(t, err)
	defer c.Close()
	execd := make(chan error, 1)
	go func() { _, _, _, err := c.Exec("slow"); execd <- err }()
	<-e.started

	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a request was running")
	case <-time.After(50 * time.Millisecond):
	}
	e.release <- struct{}{}
	<-closed
	require.NoError(t, <-served)
	<-execd // delivered or cut off by Close: either way it returns
	n, opened, closedN := e.counts()
	assert.Equal(t, []int{1, 1, 1}, []int{n, opened, closedN})
	_, err = os.Lstat(path)
	assert.True(t, errors.Is(err, os.ErrNotExist), "socket file left: %v", err)

	_, err = Dial(path)
	assert.Error(t, err)
	assert.ErrorIs(t, s.Serve(l), ErrClosed)

	c.Close()
	// Polled here: assert.Eventually runs its condition on goroutines.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines leaked: %d before, %d after", goroutines, runtime.NumGoroutine())
		}
	}
}

func TestListenStaleAndInUse(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "control.sock")

	// A socket file with no listener (a service that was killed).
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	l.SetUnlinkOnClose(false)
	l.Close()
	_, err = os.Lstat(path)
	require.NoError(t, err)

	l1, err := Listen(path)
	require.NoError(t, err, "a stale socket is replaced")
	_, err = Listen(path)
	require.ErrorIs(t, err, ErrInUse)
	require.NoError(t, l1.Close())

	// Not a socket: left alone.
	plain := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(plain, []byte("keep"), 0o600))
	_, err = Listen(plain)
	require.Error(t, err)
	b, err := os.ReadFile(plain)
	require.NoError(t, err)
	assert.Equal(t, "keep", string(b))
}

func TestDialNoService(t *testing.T) {
	_, err := Dial(filepath.Join(t.TempDir(), "control.sock"))
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
}
