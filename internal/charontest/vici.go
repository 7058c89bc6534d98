//go:build linux

package charontest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

// The vici protocol (strongSwan src/libcharon/plugins/vici/README.md): a
// stream of packets, each a 32-bit big-endian length and that many bytes;
// a packet is a type byte, for the named types a length-prefixed name,
// and for the types that carry one a message of typed elements.

// Packet types.
const (
	pktCmdRequest      = 0
	pktCmdResponse     = 1
	pktCmdUnknown      = 2
	pktEventRegister   = 3
	pktEventUnregister = 4
	pktEventConfirm    = 5
	pktEventUnknown    = 6
	pktEvent           = 7
)

// Message element types.
const (
	elSectionStart = 1
	elSectionEnd   = 2
	elKeyValue     = 3
	elListStart    = 4
	elListItem     = 5
	elListEnd      = 6
)

// maxPacket is vici's own limit on a packet (VICI_MESSAGE_SIZE_MAX).
const maxPacket = 512 * 1024

// ErrVici reports a vici exchange that failed at the protocol level: an
// unknown command or event, or a malformed packet.
var ErrVici = errors.New("charontest: vici")

// Msg is a decoded vici message: key/value pairs, lists and sections, in
// the order charon sent them.
type Msg struct {
	Keys     []string // every name, in order, whatever its kind
	Values   map[string]string
	Lists    map[string][]string
	Sections map[string]*Msg
}

func newMsg() *Msg {
	return &Msg{Values: map[string]string{}, Lists: map[string][]string{}, Sections: map[string]*Msg{}}
}

// Get returns the value of key, "" when absent.
func (m *Msg) Get(key string) string {
	if m == nil {
		return ""
	}
	return m.Values[key]
}

// String renders the message in swanctl's --raw syntax, for error
// messages and logs.
func (m *Msg) String() string {
	var b strings.Builder
	m.render(&b)
	return b.String()
}

func (m *Msg) render(b *strings.Builder) {
	b.WriteString("{")
	for i, k := range m.Keys {
		if i > 0 {
			b.WriteString(" ")
		}
		switch {
		case m.Sections[k] != nil:
			b.WriteString(k + " ")
			m.Sections[k].render(b)
		case m.Lists[k] != nil:
			b.WriteString(k + "=[" + strings.Join(m.Lists[k], " ") + "]")
		default:
			b.WriteString(k + "=" + m.Values[k])
		}
	}
	b.WriteString("}")
}

// kv is one element of a request: a value (string), a list ([]string) or
// a section ([]kv).
type kv struct {
	key string
	val any
}

func encodeMsg(b []byte, elems []kv) ([]byte, error) {
	for _, e := range elems {
		if len(e.key) > 255 {
			return nil, fmt.Errorf("%w: key %q too long", ErrVici, e.key)
		}
		switch v := e.val.(type) {
		case string:
			if len(v) > 65535 {
				return nil, fmt.Errorf("%w: value of %s too long", ErrVici, e.key)
			}
			b = append(b, elKeyValue, byte(len(e.key)))
			b = append(b, e.key...)
			b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
			b = append(b, v...)
		case []string:
			b = append(b, elListStart, byte(len(e.key)))
			b = append(b, e.key...)
			for _, it := range v {
				b = append(b, elListItem)
				b = binary.BigEndian.AppendUint16(b, uint16(len(it)))
				b = append(b, it...)
			}
			b = append(b, elListEnd)
		case []kv:
			b = append(b, elSectionStart, byte(len(e.key)))
			b = append(b, e.key...)
			var err error
			if b, err = encodeMsg(b, v); err != nil {
				return nil, err
			}
			b = append(b, elSectionEnd)
		default:
			return nil, fmt.Errorf("%w: value of %s has type %T", ErrVici, e.key, e.val)
		}
	}
	return b, nil
}

func decodeMsg(p []byte) (*Msg, error) {
	root := newMsg()
	stack := []*Msg{root}
	bad := func(what string) (*Msg, error) {
		return nil, fmt.Errorf("%w: malformed message: %s", ErrVici, what)
	}
	name := func() (string, bool) {
		if len(p) < 1 || len(p) < 1+int(p[0]) {
			return "", false
		}
		n := string(p[1 : 1+int(p[0])])
		p = p[1+int(p[0]):]
		return n, true
	}
	value := func() (string, bool) {
		if len(p) < 2 {
			return "", false
		}
		l := int(binary.BigEndian.Uint16(p))
		if len(p) < 2+l {
			return "", false
		}
		v := string(p[2 : 2+l])
		p = p[2+l:]
		return v, true
	}
	for len(p) > 0 {
		t := p[0]
		p = p[1:]
		cur := stack[len(stack)-1]
		switch t {
		case elSectionStart:
			n, ok := name()
			if !ok {
				return bad("section name")
			}
			s := newMsg()
			cur.Keys = append(cur.Keys, n)
			cur.Sections[n] = s
			stack = append(stack, s)
		case elSectionEnd:
			if len(stack) == 1 {
				return bad("unbalanced section end")
			}
			stack = stack[:len(stack)-1]
		case elKeyValue:
			n, ok := name()
			if !ok {
				return bad("key name")
			}
			v, ok := value()
			if !ok {
				return bad("value of " + n)
			}
			cur.Keys = append(cur.Keys, n)
			cur.Values[n] = v
		case elListStart:
			n, ok := name()
			if !ok {
				return bad("list name")
			}
			items := []string{}
			for {
				if len(p) == 0 {
					return bad("unterminated list " + n)
				}
				if p[0] == elListEnd {
					p = p[1:]
					break
				}
				if p[0] != elListItem {
					return bad("element in list " + n)
				}
				p = p[1:]
				v, ok := value()
				if !ok {
					return bad("item of " + n)
				}
				items = append(items, v)
			}
			cur.Keys = append(cur.Keys, n)
			cur.Lists[n] = items
		default:
			return bad(fmt.Sprintf("element type %d", t))
		}
	}
	if len(stack) != 1 {
		return bad("unterminated section")
	}
	return root, nil
}

// vici is one client connection to a charon's vici socket. It is not safe
// for concurrent use: open one per goroutine.
type vici struct {
	conn net.Conn
	r    *bufio.Reader
}

// dialVici connects to the socket at path. A full listen backlog
// (charon accepts slowly under load) is retried until timeout.
func dialVici(path string, timeout time.Duration) (*vici, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("unix", path, timeout)
		if err == nil {
			return &vici{conn: c, r: bufio.NewReader(c)}, nil
		}
		if !errors.Is(err, syscall.EAGAIN) || time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (v *vici) Close() error { return v.conn.Close() }

func (v *vici) send(typ byte, name string, elems []kv) error {
	b := make([]byte, 4, 256)
	b = append(b, typ)
	if name != "" {
		b = append(b, byte(len(name)))
		b = append(b, name...)
	}
	b, err := encodeMsg(b, elems)
	if err != nil {
		return err
	}
	if len(b)-4 > maxPacket {
		return fmt.Errorf("%w: request too large", ErrVici)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	_, err = v.conn.Write(b)
	return err
}

// recv reads one packet and returns its type, name (events only) and
// message (responses and events).
func (v *vici) recv() (byte, string, *Msg, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(v.r, hdr[:]); err != nil {
		return 0, "", nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > maxPacket {
		return 0, "", nil, fmt.Errorf("%w: packet length %d", ErrVici, n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(v.r, p); err != nil {
		return 0, "", nil, err
	}
	typ, p := p[0], p[1:]
	var name string
	if typ == pktEvent {
		if len(p) < 1 || len(p) < 1+int(p[0]) {
			return 0, "", nil, fmt.Errorf("%w: event name", ErrVici)
		}
		name, p = string(p[1:1+int(p[0])]), p[1+int(p[0]):]
	}
	var m *Msg
	if typ == pktCmdResponse || typ == pktEvent {
		var err error
		if m, err = decodeMsg(p); err != nil {
			return 0, "", nil, err
		}
	}
	return typ, name, m, nil
}

// call sends the command cmd and returns its response. When event is not
// empty, the command streams its results as events of that name (as
// list-sas does with "list-sa"): they are registered for around the call
// and returned in order. Events of other names are skipped.
func (v *vici) call(deadline time.Time, cmd, event string, elems []kv) (*Msg, []*Msg, error) {
	if err := v.conn.SetDeadline(deadline); err != nil {
		return nil, nil, err
	}
	if event != "" {
		if err := v.send(pktEventRegister, event, nil); err != nil {
			return nil, nil, err
		}
		if err := v.confirm(event); err != nil {
			return nil, nil, err
		}
	}
	if err := v.send(pktCmdRequest, cmd, elems); err != nil {
		return nil, nil, err
	}
	var events []*Msg
	for {
		typ, name, m, err := v.recv()
		if err != nil {
			return nil, nil, fmt.Errorf("vici %s: %w", cmd, err)
		}
		switch typ {
		case pktEvent:
			if name == event {
				events = append(events, m)
			}
			continue
		case pktCmdUnknown:
			return nil, nil, fmt.Errorf("%w: unknown command %s", ErrVici, cmd)
		case pktCmdResponse:
		default:
			return nil, nil, fmt.Errorf("%w: %s: unexpected packet type %d", ErrVici, cmd, typ)
		}
		if event != "" {
			if err := v.send(pktEventUnregister, event, nil); err != nil {
				return nil, nil, err
			}
			if err := v.confirm(event); err != nil {
				return nil, nil, err
			}
		}
		return m, events, nil
	}
}

// confirm waits for the answer to an event (un)registration.
func (v *vici) confirm(event string) error {
	for {
		typ, _, _, err := v.recv()
		if err != nil {
			return err
		}
		switch typ {
		case pktEventConfirm:
			return nil
		case pktEventUnknown:
			return fmt.Errorf("%w: unknown event %s", ErrVici, event)
		case pktEvent:
			continue // a late event of the previous registration
		default:
			return fmt.Errorf("%w: (un)register %s: unexpected packet type %d", ErrVici, event, typ)
		}
	}
}

// commandResult turns a response's success/errmsg into an error.
func commandResult(cmd string, m *Msg) error {
	if m.Get("success") == "no" {
		msg := m.Get("errmsg")
		if msg == "" {
			msg = "failed"
		}
		return fmt.Errorf("charontest: %s: %s", cmd, msg)
	}
	return nil
}
