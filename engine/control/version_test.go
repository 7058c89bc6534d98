package control

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hello sends a raw Hello of version v and returns the server's answer.
func hello(t *testing.T, conn net.Conn, v uint16) Message {
	t.Helper()
	_, err := conn.Write(mustAppend(t, &Hello{Version: v}))
	require.NoError(t, err)
	m, err := ReadMessage(conn)
	require.NoError(t, err)
	return m
}

// The server answers with the version both speak: a version 1 client
// keeps version 1 and its requests work; Refresh on it is a protocol
// error. A future client gets this server's version.
func TestVersionAgreement(t *testing.T) {
	e := &fakeEngine{}
	refreshes := 0
	_, path := serve(t, ServerOptions{NewHandler: e.newHandler, AllowUID: me,
		Refresh: func() ([]byte, bool) { refreshes++; return []byte("refreshed\n"), true }})

	v1 := rawConn(t, path)
	require.Equal(t, &Hello{Version: 1}, hello(t, v1, 1))
	require.NoError(t, WriteMessage(v1, &Request{Line: "show"}))
	m, err := ReadMessage(v1)
	require.NoError(t, err)
	require.Equal(t, &Response{OK: true, Output: []byte("ran show\n"), Diag: []byte("diag\n")}, m)
	require.NoError(t, WriteMessage(v1, &Refresh{}))
	m, err = ReadMessage(v1)
	require.NoError(t, err)
	require.Equal(t, &Failure{Code: CodeProtocol, Message: "refresh needs protocol version 2"}, m)
	require.Zero(t, refreshes)

	future := rawConn(t, path)
	require.Equal(t, &Hello{Version: Version}, hello(t, future, Version+7))

	c, err := Dial(path)
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, uint16(2), c.Version())
	out, ok, err := c.Refresh()
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "refreshed\n", string(out))
	require.Equal(t, 1, refreshes)
	out, _, ok, err = c.Exec("after")
	require.NoError(t, err)
	require.True(t, ok, "requests and refreshes mix on one connection")
	require.Equal(t, "ran after\n", string(out))
}

// A server without Refresh answers it with a failed Response.
func TestRefreshUnwired(t *testing.T) {
	e := &fakeEngine{}
	_, path := serve(t, ServerOptions{NewHandler: e.newHandler, AllowUID: me})
	c, err := Dial(path)
	require.NoError(t, err)
	defer c.Close()
	out, ok, err := c.Refresh()
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, "The gonetsh service cannot refresh its policy.\n", string(out))
}

// A version 1 service (which refuses any other version) is greeted again
// with version 1; Refresh is then unsupported and Exec works.
func TestDialVersion1Service(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2 {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			m, err := ReadMessage(c)
			if h, ok := m.(*Hello); err != nil || !ok || h.Version != 1 {
				WriteMessage(c, &Failure{Code: CodeVersion, Message: "version 1 only"})
				c.Close()
				continue
			}
			WriteMessage(c, &Hello{Version: 1})
			if _, err := ReadMessage(c); err == nil {
				WriteMessage(c, &Response{OK: true, Output: []byte("v1\n")})
			}
			c.Close()
		}
	}()
	c, err := Dial(path)
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, uint16(1), c.Version())
	_, _, err = c.Refresh()
	assert.ErrorIs(t, err, ErrUnsupported)
	out, _, ok, err := c.Exec("x")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "v1\n", string(out))
	<-done
}
