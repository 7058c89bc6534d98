package control

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		m    Message
	}{
		{"hello", &Hello{Version: Version}},
		{"hello other version", &Hello{Version: 0xffff}},
		{"request", &Request{Line: "ipsec dynamic show config"}},
		{"empty request", &Request{Line: ""}},
		{"response ok", &Response{OK: true, Output: []byte("out\n"), Diag: []byte("diag\n")}},
		{"response failed", &Response{OK: false, Output: []byte("ERR\n")}},
		{"failure", &Failure{Code: CodeRefused, Message: "no"}},
		{"refresh", &Refresh{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := Append([]byte("prefix"), c.m)
			require.NoError(t, err)
			require.Equal(t, "prefix", string(b[:6]))
			frame := b[6:]
			assert.Equal(t, uint32(len(frame)-4), binary.BigEndian.Uint32(frame))

			got, n, err := Decode(append(frame, "next"...))
			require.NoError(t, err)
			assert.Equal(t, len(frame), n)
			assert.Equal(t, normalize(c.m), normalize(got))

			got, err = ReadMessage(bytes.NewReader(frame))
			require.NoError(t, err)
			assert.Equal(t, normalize(c.m), normalize(got))

			// Every strict prefix is incomplete, never an error or a panic.
			for i := range len(frame) {
				_, _, err := Decode(frame[:i])
				require.ErrorIs(t, err, ErrShort, "prefix %d", i)
				_, err = ReadMessage(bytes.NewReader(frame[:i]))
				if i == 0 {
					require.ErrorIs(t, err, io.EOF)
				} else {
					require.ErrorIs(t, err, io.ErrUnexpectedEOF, "prefix %d", i)
				}
			}
		})
	}
}

// normalize makes nil and empty byte strings equal.
func normalize(m Message) Message {
	if r, ok := m.(*Response); ok {
		c := *r
		if len(c.Output) == 0 {
			c.Output = nil
		}
		if len(c.Diag) == 0 {
			c.Diag = nil
		}
		return &c
	}
	return m
}

// frame builds a raw frame of type t with payload p.
func frame(t Type, p ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(p)+1))
	return append(append(b, byte(t)), p...)
}

func TestDecodeErrors(t *testing.T) {
	str := func(s string) []byte { return appendBytes(nil, []byte(s)) }
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"zero length", []byte{0, 0, 0, 0}, ErrFrameSize},
		{"over max", binary.BigEndian.AppendUint32(nil, MaxFrame+1), ErrFrameSize},
		{"huge", []byte{0xff, 0xff, 0xff, 0xff, 1}, ErrFrameSize},
		{"unknown type", frame(9), ErrMalformed},
		{"type zero", frame(0), ErrMalformed},
		{"hello short", frame(TypeHello, 'G', 'N', 'S', 'H', 0), ErrMalformed},
		{"hello bad magic", frame(TypeHello, 'S', 'S', 'H', '-', 0, 1), ErrMagic},
		{"hello trailing", frame(TypeHello, 'G', 'N', 'S', 'H', 0, 1, 0), ErrMalformed},
		{"request no length", frame(TypeRequest, 0, 0), ErrMalformed},
		{"request string too long", frame(TypeRequest, 0, 0, 0, 9, 'a'), ErrMalformed},
		{"request string huge", frame(TypeRequest, 0xff, 0xff, 0xff, 0xff), ErrMalformed},
		{"request trailing", frame(TypeRequest, append(str("x"), 0)...), ErrMalformed},
		{"response flags", frame(TypeResponse, append(append([]byte{2}, str("")...), str("")...)...), ErrMalformed},
		{"response no diag", frame(TypeResponse, append([]byte{1}, str("out")...)...), ErrMalformed},
		{"failure empty", frame(TypeFailure), ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, n, err := Decode(c.in)
			require.ErrorIs(t, err, c.want)
			assert.Nil(t, m)
			assert.Zero(t, n)
			if !errors.Is(c.want, ErrFrameSize) {
				_, err = ReadMessage(bytes.NewReader(c.in))
				require.ErrorIs(t, err, c.want)
			}
		})
	}
}

func TestAppendTooLarge(t *testing.T) {
	b, err := Append([]byte("keep"), &Request{Line: strings.Repeat("x", MaxFrame)})
	require.ErrorIs(t, err, ErrFrameSize)
	assert.Equal(t, "keep", string(b))
	// The largest request that fits: type byte + length word + line.
	_, err = Append(nil, &Request{Line: strings.Repeat("x", MaxFrame-5)})
	require.NoError(t, err)
}

func TestDecodeDoesNotAlias(t *testing.T) {
	b, err := Append(nil, &Response{OK: true, Output: []byte("abc")})
	require.NoError(t, err)
	m, _, err := Decode(b)
	require.NoError(t, err)
	for i := range b {
		b[i] = 0
	}
	assert.Equal(t, "abc", string(m.(*Response).Output))
}

func TestFailureErr(t *testing.T) {
	assert.ErrorIs(t, (&Failure{Code: CodeRefused}).Err(), ErrRefused)
	assert.ErrorIs(t, (&Failure{Code: CodeVersion}).Err(), ErrVersion)
	assert.ErrorIs(t, (&Failure{Code: CodeProtocol}).Err(), ErrProtocol)
	assert.ErrorIs(t, (&Failure{Code: 77}).Err(), ErrProtocol)
	assert.Equal(t, "Code(77)", Code(77).String())
	assert.Equal(t, "Type(0)", Type(0).String())
	assert.Equal(t, "request", TypeRequest.String())
}

// FuzzDecode: Decode never panics, and what it accepts re-encodes to the
// same bytes. The seeds in testdata/fuzz/FuzzDecode run with go test.
func FuzzDecode(f *testing.F) {
	for _, m := range []Message{
		&Hello{Version: Version},
		&Request{Line: "ipsec dynamic set config ipsecexempt value=0"},
		&Response{OK: true, Output: []byte("x"), Diag: []byte("y")},
		&Failure{Code: CodeVersion, Message: "v"},
		&Refresh{},
	} {
		b, err := Append(nil, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := Decode(b)
		if err != nil {
			if m != nil || n != 0 {
				t.Fatalf("error %v with message %v, n %d", err, m, n)
			}
			return
		}
		again, err := Append(nil, m)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", m, err)
		}
		if !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, b[:n])
		}
		if _, err := ReadMessage(bytes.NewReader(b)); err != nil {
			t.Fatalf("ReadMessage rejects what Decode accepts: %v", err)
		}
	})
}
