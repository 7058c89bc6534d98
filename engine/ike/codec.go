package ike

// The ISAKMP wire format (RFC 2408 section 3) with the IPsec DOI
// (RFC 2407 section 4) and NAT traversal payloads (RFC 3947 section 3).
// Decoding is strict: every length is checked against its container and a
// malformed message is an error wrapping ErrMalformed, never a panic.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("ike: malformed message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// headerLen is the ISAKMP header length (RFC 2408 section 3.1).
const headerLen = 28

// maxMessage bounds what is decoded.
const maxMessage = 65535

// isakmpVersion is major 1, minor 0.
const isakmpVersion = 0x10

// Exchange types (RFC 2408 section 3.1, RFC 2409 section 5).
const (
	exchIdentity      uint8 = 2  // main mode
	exchInformational uint8 = 5  // RFC 2408 section 4.8
	exchQuick         uint8 = 32 // RFC 2409 section 5.5
)

// Header flags (RFC 2408 section 3.1).
const (
	flagEncryption uint8 = 1
	flagCommit     uint8 = 2
	flagAuthOnly   uint8 = 4
)

// Payload types (RFC 2408 section 3.1, RFC 3947 section 3).
const (
	plNone    uint8 = 0
	plSA      uint8 = 1
	plProp    uint8 = 2
	plTrans   uint8 = 3
	plKE      uint8 = 4
	plID      uint8 = 5
	plCert    uint8 = 6
	plCertReq uint8 = 7
	plHash    uint8 = 8
	plSig     uint8 = 9
	plNonce   uint8 = 10
	plNotify  uint8 = 11
	plDelete  uint8 = 12
	plVendor  uint8 = 13
	plNATD    uint8 = 20
	plNATOA   uint8 = 21
	plNATDd   uint8 = 130 // draft-ietf-ipsec-nat-t-ike-02
	plNATOAd  uint8 = 131
)

var payloadNames = map[uint8]string{
	plSA: "SA", plKE: "KE", plID: "ID", plCert: "CERT", plCertReq: "CERTREQ",
	plHash: "HASH", plSig: "SIG", plNonce: "No", plNotify: "N", plDelete: "D",
	plVendor: "V", plNATD: "NAT-D", plNATOA: "NAT-OA", plNATDd: "NAT-D", plNATOAd: "NAT-OA",
}

// Header is the ISAKMP header.
type Header struct {
	CookieI, CookieR [8]byte
	Next             uint8
	Version          uint8
	Exchange         uint8
	Flags            uint8
	MsgID            uint32
	Length           uint32
}

// DecodeHeader decodes the fixed header of msg and checks its length
// field against len(msg).
func DecodeHeader(msg []byte) (Header, error) {
	var h Header
	if len(msg) < headerLen {
		return h, malformed("short header (%d bytes)", len(msg))
	}
	if len(msg) > maxMessage {
		return h, malformed("message of %d bytes", len(msg))
	}
	copy(h.CookieI[:], msg[0:8])
	copy(h.CookieR[:], msg[8:16])
	h.Next, h.Version, h.Exchange, h.Flags = msg[16], msg[17], msg[18], msg[19]
	h.MsgID = binary.BigEndian.Uint32(msg[20:24])
	h.Length = binary.BigEndian.Uint32(msg[24:28])
	if h.Version>>4 != 1 {
		return h, malformed("ISAKMP version %#x", h.Version)
	}
	if h.Length != uint32(len(msg)) {
		return h, malformed("length field %d, datagram %d", h.Length, len(msg))
	}
	return h, nil
}

func (h *Header) encode(b []byte) {
	copy(b[0:8], h.CookieI[:])
	copy(b[8:16], h.CookieR[:])
	b[16], b[17], b[18], b[19] = h.Next, isakmpVersion, h.Exchange, h.Flags
	binary.BigEndian.PutUint32(b[20:24], h.MsgID)
	binary.BigEndian.PutUint32(b[24:28], h.Length)
}

// Payload is one payload of a message: its type and body (after the
// 4-byte generic header). Start and End locate the payload, generic
// header included, in the decoded buffer (for the HASH computations of
// RFC 2409 section 5.5).
type Payload struct {
	Type       uint8
	Body       []byte
	Start, End int
}

// DecodePayloads decodes a payload chain starting with type first from b.
// Trailing bytes after the last payload are padding (RFC 2408 section
// 3.1: encrypted messages are padded) and are ignored. Body slices alias b.
func DecodePayloads(first uint8, b []byte) ([]Payload, error) {
	var ps []Payload
	off := 0
	for t := first; t != plNone; {
		if len(ps) >= 64 {
			return nil, malformed("more than 64 payloads")
		}
		if len(b)-off < 4 {
			return nil, malformed("truncated payload header (type %d)", t)
		}
		next := b[off]
		l := int(binary.BigEndian.Uint16(b[off+2 : off+4]))
		if l < 4 || l > len(b)-off {
			return nil, malformed("payload type %d length %d with %d bytes left", t, l, len(b)-off)
		}
		ps = append(ps, Payload{Type: t, Body: b[off+4 : off+l], Start: off, End: off + l})
		off += l
		t = next
	}
	return ps, nil
}

// Message is a decoded ISAKMP message. Body is the payload area
// (decrypted when the header's encryption flag is set).
type Message struct {
	Header
	Body     []byte
	Payloads []Payload
}

// Decode decodes an unencrypted message, or only the header of an
// encrypted one (Payloads is then nil and Body the cipher text).
func Decode(msg []byte) (*Message, error) {
	h, err := DecodeHeader(msg)
	if err != nil {
		return nil, err
	}
	m := &Message{Header: h, Body: msg[headerLen:]}
	if h.Flags&flagEncryption != 0 {
		return m, nil
	}
	m.Payloads, err = DecodePayloads(h.Next, m.Body)
	return m, err
}

// first returns the body of the first payload of type t, or nil.
func (m *Message) first(t uint8) []byte {
	for _, p := range m.Payloads {
		if p.Type == t {
			return p.Body
		}
	}
	return nil
}

// all returns the bodies of the payloads of type t.
func (m *Message) all(t uint8) [][]byte {
	var r [][]byte
	for _, p := range m.Payloads {
		if p.Type == t {
			r = append(r, p.Body)
		}
	}
	return r
}

// summary lists the payloads as charon does: "[ SA V V ]".
func (m *Message) summary() string { return payloadSummary(m.Payloads) }

func payloadSummary(ps []Payload) string {
	var b strings.Builder
	b.WriteString("[")
	for _, p := range ps {
		b.WriteByte(' ')
		if n, ok := payloadNames[p.Type]; ok {
			b.WriteString(n)
		} else {
			fmt.Fprintf(&b, "%d", p.Type)
		}
	}
	b.WriteString(" ]")
	return b.String()
}

// payload is one payload to encode.
type payload struct {
	typ  uint8
	body []byte
}

// encodeChain encodes ps with their generic headers, each pointing at the
// next one's type.
func encodeChain(ps []payload) []byte {
	n := 0
	for _, p := range ps {
		n += 4 + len(p.body)
	}
	b := make([]byte, 0, n)
	for i, p := range ps {
		next := plNone
		if i+1 < len(ps) {
			next = ps[i+1].typ
		}
		b = append(b, next, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(4+len(p.body)))
		b = append(b, p.body...)
	}
	return b
}

func chainSummary(ps []payload) string {
	pl := make([]Payload, len(ps))
	for i, p := range ps {
		pl[i].Type = p.typ
	}
	return payloadSummary(pl)
}

// Attribute is a data attribute (RFC 2408 section 3.3): TV when the value
// fits the 16-bit basic form, TLV otherwise.
type Attribute struct {
	Type  uint16
	Value []byte // big-endian
}

// Uint returns the value as an integer; ok is false when it has more
// than 4 bytes.
func (a Attribute) Uint() (uint32, bool) {
	if len(a.Value) > 4 {
		return 0, false
	}
	var v uint32
	for _, c := range a.Value {
		v = v<<8 | uint32(c)
	}
	return v, true
}

func attrU(t uint16, v uint32) Attribute {
	if v <= 0xffff {
		return Attribute{Type: t, Value: []byte{byte(v >> 8), byte(v)}}
	}
	return Attribute{Type: t, Value: binary.BigEndian.AppendUint32(nil, v)}
}

func appendAttrs(b []byte, as []Attribute) []byte {
	for _, a := range as {
		if len(a.Value) == 2 {
			b = binary.BigEndian.AppendUint16(b, 0x8000|a.Type)
			b = append(b, a.Value...)
			continue
		}
		b = binary.BigEndian.AppendUint16(b, a.Type&0x7fff)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b
}

func decodeAttrs(b []byte) ([]Attribute, error) {
	var as []Attribute
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, malformed("truncated attribute")
		}
		t := binary.BigEndian.Uint16(b)
		if t&0x8000 != 0 {
			as = append(as, Attribute{Type: t & 0x7fff, Value: b[2:4]})
			b = b[4:]
			continue
		}
		l := int(binary.BigEndian.Uint16(b[2:]))
		if l > len(b)-4 {
			return nil, malformed("attribute %d length %d", t, l)
		}
		as = append(as, Attribute{Type: t, Value: b[4 : 4+l]})
		b = b[4+l:]
	}
	return as, nil
}

// Transform is a transform payload (RFC 2408 section 3.6).
type Transform struct {
	Num, ID uint8
	Attrs   []Attribute
}

func (t Transform) attr(typ uint16) (uint32, bool) {
	for _, a := range t.Attrs {
		if a.Type == typ {
			return a.Uint()
		}
	}
	return 0, false
}

// Proposal is a proposal payload (RFC 2408 section 3.5).
type Proposal struct {
	Num, Protocol uint8
	SPI           []byte
	Transforms    []Transform
}

// SA is a security association payload in the IPsec DOI with the
// identity-only situation (RFC 2407 section 4.6.1, 4.2).
type SA struct {
	DOI, Situation uint32
	Proposals      []Proposal
}

const (
	doiIPsec        = 1
	sitIdentityOnly = 1
)

// Protocol IDs (RFC 2407 section 4.4.1).
const (
	protoISAKMP uint8 = 1
	protoAH     uint8 = 2
	protoESP    uint8 = 3
)

// Encode returns the SA payload body.
func (s *SA) Encode() []byte {
	b := binary.BigEndian.AppendUint32(nil, s.DOI)
	b = binary.BigEndian.AppendUint32(b, s.Situation)
	for i, p := range s.Proposals {
		next := plNone
		if i+1 < len(s.Proposals) {
			next = plProp
		}
		var pb []byte
		pb = append(pb, p.Num, p.Protocol, byte(len(p.SPI)), byte(len(p.Transforms)))
		pb = append(pb, p.SPI...)
		for j, t := range p.Transforms {
			tn := plNone
			if j+1 < len(p.Transforms) {
				tn = plTrans
			}
			tb := appendAttrs([]byte{t.Num, t.ID, 0, 0}, t.Attrs)
			pb = append(pb, tn, 0)
			pb = binary.BigEndian.AppendUint16(pb, uint16(4+len(tb)))
			pb = append(pb, tb...)
		}
		b = append(b, next, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(4+len(pb)))
		b = append(b, pb...)
	}
	return b
}

// DecodeSA decodes an SA payload body.
func DecodeSA(b []byte) (*SA, error) {
	if len(b) < 8 {
		return nil, malformed("short SA payload")
	}
	s := &SA{DOI: binary.BigEndian.Uint32(b), Situation: binary.BigEndian.Uint32(b[4:])}
	if s.DOI != doiIPsec {
		return nil, malformed("DOI %d", s.DOI)
	}
	if s.Situation&sitIdentityOnly == 0 || s.Situation&^7 != 0 {
		return nil, malformed("situation %#x", s.Situation)
	}
	props, err := DecodePayloads(plProp, b[8:])
	if err != nil {
		return nil, err
	}
	for _, pp := range props {
		if pp.Type != plProp {
			return nil, malformed("payload %d in SA", pp.Type)
		}
		pb := pp.Body
		if len(pb) < 4 {
			return nil, malformed("short proposal")
		}
		p := Proposal{Num: pb[0], Protocol: pb[1]}
		spiLen, nt := int(pb[2]), int(pb[3])
		if len(pb) < 4+spiLen {
			return nil, malformed("proposal SPI size %d", spiLen)
		}
		p.SPI = pb[4 : 4+spiLen]
		ts, err := DecodePayloads(plTrans, pb[4+spiLen:])
		if err != nil {
			return nil, err
		}
		if len(ts) != nt {
			return nil, malformed("proposal announces %d transforms, has %d", nt, len(ts))
		}
		for _, tp := range ts {
			if tp.Type != plTrans || len(tp.Body) < 4 {
				return nil, malformed("bad transform")
			}
			as, err := decodeAttrs(tp.Body[4:])
			if err != nil {
				return nil, err
			}
			p.Transforms = append(p.Transforms, Transform{Num: tp.Body[0], ID: tp.Body[1], Attrs: as})
		}
		s.Proposals = append(s.Proposals, p)
	}
	if len(s.Proposals) == 0 {
		return nil, malformed("SA without proposals")
	}
	return s, nil
}

// ID types (RFC 2407 section 4.6.2.1).
const (
	idIPv4Addr       uint8 = 1
	idFQDN           uint8 = 2
	idUserFQDN       uint8 = 3
	idIPv4AddrSubnet uint8 = 4
	idIPv4AddrRange  uint8 = 7
	idDERASN1DN      uint8 = 9
)

// ID is an identification payload (RFC 2407 section 4.6.2).
type ID struct {
	Type     uint8
	Protocol uint8
	Port     uint16
	Data     []byte
}

// Encode returns the ID payload body (the IDx_b of RFC 2409).
func (id ID) Encode() []byte {
	b := []byte{id.Type, id.Protocol, byte(id.Port >> 8), byte(id.Port)}
	return append(b, id.Data...)
}

// DecodeID decodes an ID payload body and checks the address forms.
func DecodeID(b []byte) (ID, error) {
	if len(b) < 4 {
		return ID{}, malformed("short ID payload")
	}
	id := ID{Type: b[0], Protocol: b[1], Port: binary.BigEndian.Uint16(b[2:]), Data: b[4:]}
	want := map[uint8]int{idIPv4Addr: 4, idIPv4AddrSubnet: 8, idIPv4AddrRange: 8}
	if n, ok := want[id.Type]; ok && len(id.Data) != n {
		return ID{}, malformed("ID type %d with %d bytes", id.Type, len(id.Data))
	}
	if id.Type == idIPv4AddrSubnet {
		m := binary.BigEndian.Uint32(id.Data[4:])
		if m != 0 && ^m&(^m+1) != 0 {
			return ID{}, malformed("non-contiguous mask %#x", m)
		}
	}
	return id, nil
}

// idFromPrefix is the ID of a prefix: IPV4_ADDR for a host, else
// IPV4_ADDR_SUBNET.
func idFromPrefix(p netip.Prefix, proto uint8, port uint16) ID {
	a := p.Addr().As4()
	if p.Bits() == 32 {
		return ID{Type: idIPv4Addr, Protocol: proto, Port: port, Data: a[:]}
	}
	m := uint32(0)
	if p.Bits() > 0 {
		m = ^uint32(0) << (32 - p.Bits())
	}
	d := append(a[:], byte(m>>24), byte(m>>16), byte(m>>8), byte(m))
	return ID{Type: idIPv4AddrSubnet, Protocol: proto, Port: port, Data: d}
}

// Prefix returns the address ID as a prefix; a range must be a whole
// prefix; ok is false for other ID types.
func (id ID) Prefix() (netip.Prefix, bool) {
	switch id.Type {
	case idIPv4Addr:
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(id.Data)), 32), true
	case idIPv4AddrSubnet:
		m := binary.BigEndian.Uint32(id.Data[4:])
		bits := 32
		for bits > 0 && m&(1<<(32-bits)) == 0 {
			bits--
		}
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte(id.Data[:4])), bits)
		return p.Masked(), true
	case idIPv4AddrRange:
		lo := binary.BigEndian.Uint32(id.Data)
		hi := binary.BigEndian.Uint32(id.Data[4:])
		for bits := 0; bits <= 32; bits++ {
			var m uint32
			if bits > 0 {
				m = ^uint32(0) << (32 - bits)
			}
			if lo&^m == 0 && hi == lo|^m {
				return netip.PrefixFrom(netip.AddrFrom4([4]byte(id.Data[:4])), bits), true
			}
		}
	}
	return netip.Prefix{}, false
}

// Notify is a notification payload (RFC 2408 section 3.14).
type Notify struct {
	DOI      uint32
	Protocol uint8
	Type     uint16
	SPI      []byte
	Data     []byte
}

// Notify message types (RFC 2408 section 3.14.1, RFC 2407 section 4.6.3,
// RFC 3706 section 5.3).
const (
	nInvalidPayloadType  uint16 = 1
	nInvalidCookie       uint16 = 4
	nNoProposalChosen    uint16 = 14
	nInvalidHashInfo     uint16 = 23
	nAuthFailed          uint16 = 24
	nInvalidKeyInfo      uint16 = 17
	nPayloadMalformed    uint16 = 16
	nInitialContact      uint16 = 24578
	nRUThere             uint16 = 36136
	nRUThereAck          uint16 = 36137
	nResponderLifetime   uint16 = 24576
	nReplayStatus        uint16 = 24577
	nMaxErrorNotifyValue uint16 = 16383
)

// Encode returns the notification payload body.
func (n Notify) Encode() []byte {
	b := binary.BigEndian.AppendUint32(nil, n.DOI)
	b = append(b, n.Protocol, byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, n.Type)
	b = append(b, n.SPI...)
	return append(b, n.Data...)
}

// DecodeNotify decodes a notification payload body.
func DecodeNotify(b []byte) (Notify, error) {
	if len(b) < 8 {
		return Notify{}, malformed("short notify")
	}
	n := Notify{DOI: binary.BigEndian.Uint32(b), Protocol: b[4], Type: binary.BigEndian.Uint16(b[6:])}
	sl := int(b[5])
	if len(b) < 8+sl {
		return Notify{}, malformed("notify SPI size %d", sl)
	}
	n.SPI, n.Data = b[8:8+sl], b[8+sl:]
	return n, nil
}

// Delete is a delete payload (RFC 2408 section 3.15).
type Delete struct {
	DOI      uint32
	Protocol uint8
	SPISize  uint8
	SPIs     [][]byte
}

// Encode returns the delete payload body.
func (d Delete) Encode() []byte {
	b := binary.BigEndian.AppendUint32(nil, d.DOI)
	b = append(b, d.Protocol, d.SPISize)
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.SPIs)))
	for _, s := range d.SPIs {
		b = append(b, s...)
	}
	return b
}

// DecodeDelete decodes a delete payload body.
func DecodeDelete(b []byte) (Delete, error) {
	if len(b) < 8 {
		return Delete{}, malformed("short delete")
	}
	d := Delete{DOI: binary.BigEndian.Uint32(b), Protocol: b[4], SPISize: b[5]}
	n := int(binary.BigEndian.Uint16(b[6:]))
	if d.SPISize == 0 || len(b)-8 != n*int(d.SPISize) {
		return Delete{}, malformed("delete of %d SPIs of %d bytes in %d bytes", n, d.SPISize, len(b)-8)
	}
	for i := 0; i < n; i++ {
		d.SPIs = append(d.SPIs, b[8+i*int(d.SPISize):8+(i+1)*int(d.SPISize)])
	}
	return d, nil
}

// Cert is a certificate or certificate request payload (RFC 2408
// sections 3.9, 3.10): an encoding and the data (a DER certificate, or a
// DER CA name for a request).
type Cert struct {
	Encoding uint8
	Data     []byte
}

// certX509Sig is the X.509 certificate - signature encoding.
const certX509Sig uint8 = 4

// DecodeCert decodes a CERT or CERTREQ payload body.
func DecodeCert(b []byte) (Cert, error) {
	if len(b) < 1 {
		return Cert{}, malformed("empty certificate payload")
	}
	return Cert{Encoding: b[0], Data: b[1:]}, nil
}

// Encode returns the payload body.
func (c Cert) Encode() []byte { return append([]byte{c.Encoding}, c.Data...) }

// decodeTyped checks every payload of m whose type has a structure.
func decodeTyped(ps []Payload) error {
	for _, p := range ps {
		var err error
		switch p.Type {
		case plSA:
			_, err = DecodeSA(p.Body)
		case plID:
			_, err = DecodeID(p.Body)
		case plNotify:
			_, err = DecodeNotify(p.Body)
		case plDelete:
			_, err = DecodeDelete(p.Body)
		case plCert, plCertReq:
			_, err = DecodeCert(p.Body)
		case plNATOA, plNATOAd:
			_, err = DecodeID(p.Body)
		case plKE, plHash, plSig, plNonce, plVendor, plNATD, plNATDd:
			if len(p.Body) == 0 {
				err = malformed("empty payload %d", p.Type)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
