package control

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// DialTimeout bounds Dial: connecting and the Hello exchange.
const DialTimeout = 2 * time.Second

// Client is a connection to a gonetsh service. It is safe for concurrent
// use; requests are sent one at a time.
type Client struct {
	mu      sync.Mutex // one request at a time on conn
	c       net.Conn
	version uint16 // agreed with the service
}

// Dial connects to the service listening on the unix socket path and
// exchanges Hellos, offering Version; a service that refuses it with
// CodeVersion is greeted again with MinVersion (a version 1 service). A
// refusal by the service returns an error wrapping ErrRefused or
// ErrVersion; no listener returns the net error (a *net.OpError wrapping
// ENOENT or ECONNREFUSED).
func Dial(path string) (*Client, error) {
	c, err := dial(path, Version)
	if errors.Is(err, ErrVersion) {
		c, err = dial(path, MinVersion)
	}
	return c, err
}

// Version returns the protocol version agreed with the service.
func (cl *Client) Version() uint16 { return cl.version }

func dial(path string, version uint16) (*Client, error) {
	c, err := net.DialTimeout("unix", path, DialTimeout)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(DialTimeout))
	if err := WriteMessage(c, &Hello{Version: version}); err != nil {
		c.Close()
		return nil, err
	}
	m, err := ReadMessage(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("control: no hello from %s: %w", path, err)
	}
	c.SetDeadline(time.Time{})
	switch m := m.(type) {
	case *Hello:
		if m.Version < MinVersion || m.Version > version {
			c.Close()
			return nil, fmt.Errorf("%w: the service answered version %d to this client's %d", ErrVersion, m.Version, version)
		}
		version = m.Version
	case *Failure:
		c.Close()
		return nil, m.Err()
	default:
		c.Close()
		return nil, fmt.Errorf("%w: expected hello, got %s", ErrProtocol, m.Type())
	}
	return &Client{c: c, version: version}, nil
}

// Exec sends line and waits for its response: what the command printed,
// its diagnostics and whether it succeeded. An error means the request may
// or may not have run, and the client is unusable.
func (cl *Client) Exec(line string) (output, diag []byte, ok bool, err error) {
	return cl.roundTrip(&Request{Line: line})
}

// Refresh asks the service to re-read the policy store now and returns
// what it printed and whether it succeeded; ErrUnsupported with a version
// 1 service. Other errors are as for Exec.
func (cl *Client) Refresh() (output []byte, ok bool, err error) {
	if cl.version < 2 {
		return nil, false, ErrUnsupported
	}
	out, _, ok, err := cl.roundTrip(&Refresh{})
	return out, ok, err
}

func (cl *Client) roundTrip(req Message) (output, diag []byte, ok bool, err error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.c == nil {
		return nil, nil, false, ErrClosed
	}
	if err := WriteMessage(cl.c, req); err != nil {
		return nil, nil, false, err
	}
	m, err := ReadMessage(cl.c)
	if err != nil {
		return nil, nil, false, fmt.Errorf("control: no response: %w", err)
	}
	switch m := m.(type) {
	case *Response:
		return m.Output, m.Diag, m.OK, nil
	case *Failure:
		return nil, nil, false, m.Err()
	}
	return nil, nil, false, fmt.Errorf("%w: expected response, got %s", ErrProtocol, m.Type())
}

// Close closes the connection; it waits for an Exec in flight. It is
// idempotent.
func (cl *Client) Close() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.c == nil {
		return nil
	}
	err := cl.c.Close()
	cl.c = nil
	return err
}
