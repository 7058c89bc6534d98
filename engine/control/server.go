package control

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// Handler runs the requests of one connection, in order, never two at once.
type Handler interface {
	// Exec runs one command line and returns what it printed on its
	// standard output and on its diagnostic stream, and whether it
	// succeeded.
	Exec(line string) (output, diag []byte, ok bool)
	// Close ends the connection's state; it is called once, after the
	// last Exec.
	Close()
}

// ServerOptions wires a Server. Only NewHandler is required.
type ServerOptions struct {
	// NewHandler returns the handler of a connection once its peer is
	// authorised.
	NewHandler func() Handler
	// AllowUID says whether a peer running as uid may use the socket;
	// nil allows root (uid 0) only.
	AllowUID func(uid uint32) bool
	// Refresh runs a Refresh request (version 2): it returns what to
	// print and whether it succeeded. nil answers every Refresh with a
	// failed Response.
	Refresh func() (output []byte, ok bool)
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
	// HelloTimeout bounds the wait for a client's Hello; 0 means 5s.
	HelloTimeout time.Duration
}

// Server accepts control connections and runs their requests.
//
// Each connection is served by one goroutine (RoutineConn) owned by the
// Server; Close stops them all. Requests of all connections run one at a
// time (execMu): a request is read whole before it runs and, once started,
// runs to the end even if its client goes away, so a client that dies
// mid-command leaves either nothing or the whole command done.
type Server struct {
	opt ServerOptions
	log *slog.Logger

	execMu sync.Mutex // held while a Handler.Exec runs

	mu struct {
		sync.Mutex
		closed    bool
		listeners map[net.Listener]struct{}
		conns     map[net.Conn]struct{}
	}
	wg sync.WaitGroup // RoutineConn goroutines
}

// NewServer returns a Server; call Serve to accept connections.
func NewServer(opt ServerOptions) *Server {
	if opt.AllowUID == nil {
		opt.AllowUID = func(uid uint32) bool { return uid == 0 }
	}
	if opt.HelloTimeout == 0 {
		opt.HelloTimeout = 5 * time.Second
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opt: opt, log: log}
	s.mu.listeners = map[net.Listener]struct{}{}
	s.mu.conns = map[net.Conn]struct{}{}
	return s
}

// Serve accepts connections on l until Close, then returns nil; it returns
// an accept error otherwise. Serve closes l.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		l.Close()
		return ErrClosed
	}
	s.mu.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.mu.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.mu.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.mu.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.mu.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.RoutineConn(c)
	}
}

// Close stops accepting, closes every connection and waits until each
// connection goroutine has returned; a request already running finishes
// first. Listeners given to Serve are closed (a unix socket file made by
// Listen is removed). Close is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	s.mu.closed = true
	for l := range s.mu.listeners {
		l.Close()
	}
	for c := range s.mu.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// RoutineConn serves one connection until it ends or the server closes.
func (s *Server) RoutineConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.mu.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	h, version, err := s.handshake(c)
	if err != nil {
		s.log.Info("control connection refused", "err", err)
		return
	}
	defer h.Close()
	for {
		m, err := ReadMessage(c)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Info("control connection ended", "err", err)
				if errors.Is(err, ErrMalformed) || errors.Is(err, ErrFrameSize) || errors.Is(err, ErrMagic) {
					WriteMessage(c, &Failure{Code: CodeProtocol, Message: err.Error()})
				}
			}
			return
		}
		var resp *Response
		switch req := m.(type) {
		case *Request:
			s.execMu.Lock()
			out, diag, okExec := h.Exec(req.Line)
			s.execMu.Unlock()
			resp = &Response{OK: okExec, Output: out, Diag: diag}
		case *Refresh:
			if version < 2 {
				WriteMessage(c, &Failure{Code: CodeProtocol, Message: "refresh needs protocol version 2"})
				return
			}
			resp = &Response{Output: []byte("The gonetsh service cannot refresh its policy.\n")}
			if s.opt.Refresh != nil {
				s.execMu.Lock()
				resp.Output, resp.OK = s.opt.Refresh()
				s.execMu.Unlock()
			}
		default:
			WriteMessage(c, &Failure{Code: CodeProtocol, Message: fmt.Sprintf("unexpected %s frame", m.Type())})
			return
		}
		if err := WriteMessage(c, resp); err != nil {
			if errors.Is(err, ErrFrameSize) {
				resp = &Response{OK: false, Output: []byte("The output of the command is larger than the control protocol carries.\n")}
				err = WriteMessage(c, resp)
			}
			if err != nil {
				s.log.Info("control response not delivered", "err", err)
				return
			}
		}
	}
}

// handshake reads the client's Hello, checks its version and its peer
// credentials, and answers with a Hello carrying the version both speak,
// which it returns, or a Failure.
func (s *Server) handshake(c net.Conn) (Handler, uint16, error) {
	c.SetReadDeadline(time.Now().Add(s.opt.HelloTimeout))
	m, err := ReadMessage(c)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		if errors.Is(err, ErrMalformed) || errors.Is(err, ErrFrameSize) || errors.Is(err, ErrMagic) {
			WriteMessage(c, &Failure{Code: CodeProtocol, Message: err.Error()})
		}
		return nil, 0, err
	}
	refuse := func(code Code, format string, args ...any) (Handler, uint16, error) {
		f := &Failure{Code: code, Message: fmt.Sprintf(format, args...)}
		WriteMessage(c, f)
		return nil, 0, f.Err()
	}
	hello, ok := m.(*Hello)
	if !ok {
		return refuse(CodeProtocol, "expected hello, got %s", m.Type())
	}
	if hello.Version < MinVersion {
		return refuse(CodeVersion, "the client speaks version %d, this service versions %d to %d", hello.Version, MinVersion, Version)
	}
	version := min(hello.Version, Version)
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return refuse(CodeRefused, "only unix socket clients are accepted")
	}
	uid, err := peerUID(uc)
	if err != nil {
		return refuse(CodeRefused, "peer credentials: %v", err)
	}
	if !s.opt.AllowUID(uid) {
		return refuse(CodeRefused, "user id %d may not control the gonetsh service", uid)
	}
	if err := WriteMessage(c, &Hello{Version: version}); err != nil {
		return nil, 0, err
	}
	s.log.Debug("control client connected", "uid", uid, "version", version)
	return s.opt.NewHandler(), version, nil
}

// Listen listens on the unix socket path, makes it mode 0600 and returns
// the listener; closing it removes the file. A socket file left by a
// service that is gone is replaced; one a service still answers on fails
// with ErrInUse. Any other file at path is left alone and fails Listen.
func Listen(path string) (*net.UnixListener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%w: %s", ErrInUse, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control: removing stale socket: %w", err)
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	// Listen created the file with the process umask; narrow it now.
	// Clients that connect in between are still checked by SO_PEERCRED.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	l.SetUnlinkOnClose(true)
	return l, nil
}
