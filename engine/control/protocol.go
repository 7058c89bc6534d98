// Package control is the control socket of the gonetsh service: a versioned,
// length-prefixed binary protocol over a unix stream socket, a Server that
// runs the requests of many clients one at a time, and a Client.
//
// The package knows nothing of netsh: a request carries one command line and
// a response the bytes it printed; cmd/netsh wires the lines to a shell
// session and the engine.
//
// # Frames
//
// Every message is one frame:
//
//	offset 0  uint32 big endian  length of what follows (type + payload),
//	                             1..MaxFrame
//	offset 4  uint8              Type
//	offset 5  payload            per Type, below
//
// Strings and byte strings inside a payload are a uint32 big-endian length
// followed by that many bytes; a payload with bytes left over is malformed.
//
//	Hello     magic "GNSH", uint16 version
//	Request   line
//	Response  uint8 flags (bit 0: the command succeeded), output, diag
//	Failure   uint8 code, message
//	Refresh   (no payload; version 2)
//
// # Conversation
//
// The client opens with a Hello carrying the highest version it speaks. A
// server that speaks that version or a higher one answers with a Hello
// carrying the version both speak (the lower of the two, at least
// MinVersion); otherwise it answers with a Failure (CodeVersion,
// CodeRefused, CodeProtocol) and closes the connection. Then the client
// sends Requests, and from version 2 Refreshes, each answered by one
// Response, in order; at most one request is outstanding per connection.
//
// # Versions
//
//	1  Hello, Request, Response, Failure
//	2  adds Refresh: re-read the policy store now (`netsh gpupdate`)
//
// A version 1 client still works with a version 2 server. A version 1
// server refuses a version 2 Hello with CodeVersion; Dial then says hello
// again with version 1, and Refresh fails with ErrUnsupported.
package control

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Version is the highest protocol version this package speaks; MinVersion
// the lowest. See Versions in the package documentation.
const (
	Version    = 2
	MinVersion = 1
)

// Magic opens every Hello payload.
const Magic = "GNSH"

// MaxFrame bounds the length field of a frame (type + payload): 1 MiB.
// Larger frames are refused before anything is allocated.
const MaxFrame = 1 << 20

// Frame layout offsets.
const (
	lenSize    = 4
	typeOffset = lenSize
	headerSize = lenSize + 1
)

// Type is the kind of a frame.
type Type uint8

// Frame types.
const (
	TypeHello    Type = 1
	TypeRequest  Type = 2
	TypeResponse Type = 3
	TypeFailure  Type = 4
	TypeRefresh  Type = 5 // version 2
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeRequest:
		return "request"
	case TypeResponse:
		return "response"
	case TypeFailure:
		return "failure"
	case TypeRefresh:
		return "refresh"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Code says why a server sent a Failure.
type Code uint8

// Failure codes.
const (
	CodeProtocol Code = 1 // malformed or unexpected frame
	CodeVersion  Code = 2 // the client's Hello has another version
	CodeRefused  Code = 3 // the client's credentials are not allowed
)

func (c Code) String() string {
	switch c {
	case CodeProtocol:
		return "protocol"
	case CodeVersion:
		return "version"
	case CodeRefused:
		return "refused"
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// Errors of the codec, the server and the client. Decode errors wrap
// ErrMalformed, ErrFrameSize, ErrMagic or ErrVersion; a Failure received by
// a client is returned as an error wrapping ErrRefused, ErrVersion or
// ErrProtocol by its code.
var (
	ErrShort       = errors.New("control: incomplete frame")
	ErrFrameSize   = errors.New("control: frame length out of bounds")
	ErrMalformed   = errors.New("control: malformed frame")
	ErrMagic       = errors.New("control: not a gonetsh control socket")
	ErrVersion     = errors.New("control: protocol version mismatch")
	ErrRefused     = errors.New("control: client refused")
	ErrProtocol    = errors.New("control: protocol error")
	ErrClosed      = errors.New("control: closed")
	ErrInUse       = errors.New("control: socket in use by a running service")
	ErrUnsupported = errors.New("control: the service speaks a protocol version without this request")
)

// Message is one of *Hello, *Request, *Response, *Failure, *Refresh.
type Message interface {
	Type() Type
	appendPayload(b []byte) []byte
}

// Hello opens a connection in both directions.
type Hello struct {
	Version uint16
}

// Request asks the server to run one command line.
type Request struct {
	Line string
}

// Response is the result of one Request: what the command printed on
// standard output (Output) and on the diagnostic stream (Diag).
type Response struct {
	OK     bool
	Output []byte
	Diag   []byte
}

// Refresh asks the server to re-read the policy store now; a Response
// answers it (version 2).
type Refresh struct{}

// Failure ends a connection: the server says why before closing.
type Failure struct {
	Code    Code
	Message string
}

func (*Hello) Type() Type    { return TypeHello }
func (*Request) Type() Type  { return TypeRequest }
func (*Response) Type() Type { return TypeResponse }
func (*Failure) Type() Type  { return TypeFailure }
func (*Refresh) Type() Type  { return TypeRefresh }

func (*Refresh) appendPayload(b []byte) []byte { return b }

// Err returns the error a client reports for f: it wraps the sentinel of
// f.Code.
func (f *Failure) Err() error {
	base := ErrProtocol
	switch f.Code {
	case CodeVersion:
		base = ErrVersion
	case CodeRefused:
		base = ErrRefused
	}
	return fmt.Errorf("%w: %s", base, f.Message)
}

func (h *Hello) appendPayload(b []byte) []byte {
	b = append(b, Magic...)
	return binary.BigEndian.AppendUint16(b, h.Version)
}

func (r *Request) appendPayload(b []byte) []byte { return appendBytes(b, []byte(r.Line)) }

func (r *Response) appendPayload(b []byte) []byte {
	var flags byte
	if r.OK {
		flags |= 1
	}
	b = append(b, flags)
	b = appendBytes(b, r.Output)
	return appendBytes(b, r.Diag)
}

func (f *Failure) appendPayload(b []byte) []byte {
	b = append(b, byte(f.Code))
	return appendBytes(b, []byte(f.Message))
}

func appendBytes(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// Append appends the frame of m to dst. It fails with ErrFrameSize when the
// frame would exceed MaxFrame, leaving dst as it was.
func Append(dst []byte, m Message) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(m.Type()))
	dst = m.appendPayload(dst)
	n := len(dst) - start - lenSize
	if n > MaxFrame {
		return dst[:start], fmt.Errorf("%w: %s of %d bytes", ErrFrameSize, m.Type(), n)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	return dst, nil
}

// Decode decodes the first frame of b and returns it with the number of
// bytes it took. A b that holds only part of a frame fails with ErrShort
// (read more and retry); any other error means the stream is unusable. The
// message does not alias b. Decode never panics, whatever b holds.
func Decode(b []byte) (Message, int, error) {
	if len(b) < lenSize {
		return nil, 0, ErrShort
	}
	n := binary.BigEndian.Uint32(b)
	if n == 0 || n > MaxFrame {
		return nil, 0, fmt.Errorf("%w: %d", ErrFrameSize, n)
	}
	if uint64(len(b)) < lenSize+uint64(n) {
		return nil, 0, ErrShort
	}
	end := lenSize + int(n)
	m, err := decodePayload(Type(b[typeOffset]), b[headerSize:end])
	if err != nil {
		return nil, 0, err
	}
	return m, end, nil
}

// decodePayload decodes the payload p of a frame of type t.
func decodePayload(t Type, p []byte) (Message, error) {
	d := decoder{p: p}
	var m Message
	switch t {
	case TypeHello:
		magic := d.fixed(len(Magic))
		ver := d.uint16()
		if d.err == nil && string(magic) != Magic {
			return nil, ErrMagic
		}
		m = &Hello{Version: ver}
	case TypeRequest:
		m = &Request{Line: string(d.bytes())}
	case TypeResponse:
		flags := d.uint8()
		if d.err == nil && flags&^1 != 0 {
			d.fail("unknown response flags")
		}
		m = &Response{OK: flags&1 != 0, Output: d.bytes(), Diag: d.bytes()}
	case TypeFailure:
		m = &Failure{Code: Code(d.uint8()), Message: string(d.bytes())}
	case TypeRefresh:
		m = &Refresh{}
	default:
		return nil, fmt.Errorf("%w: unknown type %d", ErrMalformed, uint8(t))
	}
	if d.err == nil && len(d.p) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrMalformed, t, d.err)
	}
	return m, nil
}

// decoder reads fields off the front of p; the first short read sets err
// and every later read returns zero values.
type decoder struct {
	p   []byte
	err error
}

func (d *decoder) fail(why string) {
	if d.err == nil {
		d.err = errors.New(why)
	}
}

func (d *decoder) fixed(n int) []byte {
	if d.err != nil || len(d.p) < n {
		d.fail("short payload")
		return nil
	}
	b := d.p[:n:n]
	d.p = d.p[n:]
	return b
}

func (d *decoder) uint8() uint8 {
	if b := d.fixed(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) uint16() uint16 {
	if b := d.fixed(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

// bytes reads a length-prefixed byte string and returns a copy.
func (d *decoder) bytes() []byte {
	lb := d.fixed(4)
	if lb == nil {
		return nil
	}
	n := binary.BigEndian.Uint32(lb)
	if uint64(n) > uint64(len(d.p)) {
		d.fail("string longer than its frame")
		return nil
	}
	return append([]byte(nil), d.fixed(int(n))...)
}

// ReadMessage reads one frame from r. The length is checked against
// MaxFrame before the body is allocated. io.EOF means r ended cleanly
// between frames; a frame cut short is io.ErrUnexpectedEOF.
func ReadMessage(r io.Reader) (Message, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:lenSize]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > MaxFrame {
		return nil, fmt.Errorf("%w: %d", ErrFrameSize, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return decodePayload(Type(body[0]), body[1:])
}

// WriteMessage writes the frame of m to w in one Write.
func WriteMessage(w io.Writer, m Message) error {
	b, err := Append(nil, m)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
