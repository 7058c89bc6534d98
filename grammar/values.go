package grammar

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gonetsh/gonetsh/ipsec"
)

// Value is one bound argument with its typed content. Which field holds the
// content depends on the tag's Kind (see the Kind constants).
type Value struct {
	Tag   string   // canonical tag name
	Raw   string   // the text as typed, quotes removed
	Pos   Position // where the argument starts
	Str   string
	Int   int64
	Bool  bool
	Addr  ipsec.Address
	Mask  ipsec.Mask
	Proto ipsec.Protocol
	MM    []ipsec.MMOffer
	QM    []ipsec.QMOffer
	Auth  ipsec.AuthMethod
	Group PFSGroup
}

// PFSGroup is the pfsgroup of a dynamic quick mode policy.
type PFSGroup struct {
	Group  ipsec.DHGroup // valid when !UseMM && !None
	UseMM  bool          // grpmm: the main mode group
	NoPFS  bool          // nopfs
	Choice bool          // set when the value was given
}

// valueError is a bad value of a typed tag. Its Code picks the netsh
// message family: syntax-level kinds print the usage; ipsec-level kinds
// print an `ERR IPsec[...]` line.
type valueError struct {
	Code ErrCode
	Msg  string
}

func (e *valueError) Error() string { return e.Msg }

var errSyntax = errors.New("invalid value")

func ipsecErr(code ErrCode, format string, a ...any) error {
	return &valueError{Code: code, Msg: fmt.Sprintf(format, a...)}
}

// parseValue converts raw into a Value of t's kind.
func parseValue(t *Tag, raw string) (Value, error) {
	v := Value{Tag: t.Name, Raw: raw}
	var err error
	switch t.Kind {
	case KString, KFile, KRest:
		v.Str = raw
	case KInt:
		v.Int, err = strconv.ParseInt(raw, 10, 64)
		if err != nil || v.Int < t.Min || v.Int > t.Max {
			return v, errSyntax
		}
	case KBool:
		v.Bool, err = parseBool(raw)
	case KEnum:
		var e EnumValue
		e, err = matchEnum(t.Enum, raw)
		v.Int = int64(e.Val)
		v.Str = e.Word
	case KAddr:
		v.Addr, err = ParseAddress(raw)
	case KMask:
		v.Mask, err = ParseMask(raw)
	case KPort:
		var n uint64
		n, err = strconv.ParseUint(raw, 10, 16)
		if err != nil {
			return v, ipsecErr(ErrBadPort, "Invalid port %q: a port is a number in the range 0 to 65535.", raw)
		}
		v.Int = int64(n)
	case KProto:
		v.Proto, err = ParseProtocol(raw)
	case KMMOffers:
		v.MM, err = ParseMMOffers(raw)
	case KQMOffers:
		v.QM, err = ParseQMOffers(raw)
	case KRootCA:
		v.Auth, err = ParseRootCA(raw)
	case KGUID:
		v.Str, err = ParseGUID(raw)
	case KPSK:
		if raw == "" {
			return v, ipsecErr(ErrBadAuth, "The pre-shared key must not be empty.")
		}
		v.Auth = ipsec.AuthMethod{Kind: ipsec.AuthPSK, PSK: raw}
		v.Str = raw
	case KKerberos:
		v.Bool, err = parseBool(raw)
		v.Auth = ipsec.AuthMethod{Kind: ipsec.AuthKerberos}
	case KPFSGroup:
		v.Group, err = parsePFSGroup(raw)
	default:
		return v, fmt.Errorf("grammar: tag %s has no kind", t.Name)
	}
	return v, err
}

func parseBool(raw string) (bool, error) {
	e, err := matchEnum([]EnumValue{{"yes", 1}, {"no", 0}}, raw)
	return e.Val == 1, err
}

// matchEnum matches raw case-insensitively against the words, accepting a
// prefix that selects exactly one word (an exact match always wins).
func matchEnum(vals []EnumValue, raw string) (EnumValue, error) {
	if raw == "" {
		return EnumValue{}, errSyntax
	}
	var found []EnumValue
	for _, e := range vals {
		if strings.EqualFold(e.Word, raw) {
			return e, nil
		}
		if hasPrefixFold(e.Word, raw) {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		return EnumValue{}, errSyntax
	}
	return found[0], nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(prefix) <= len(s) && strings.EqualFold(s[:len(prefix)], prefix)
}

// ParseAddress parses a 2003 netsh address: me, any, a dotted IPv4 address,
// a server type (dns, wins, dhcp, gateway) or a DNS name. A DNS name comes
// back unresolved (Kind AddrDNSName, IP invalid); resolving it is the
// caller's IO.
func ParseAddress(raw string) (ipsec.Address, error) {
	switch strings.ToLower(raw) {
	case "me":
		return ipsec.Address{Kind: ipsec.AddrMe}, nil
	case "any":
		return ipsec.Address{Kind: ipsec.AddrAny}, nil
	case "dns":
		return ipsec.Address{Kind: ipsec.AddrDNS}, nil
	case "wins":
		return ipsec.Address{Kind: ipsec.AddrWINS}, nil
	case "dhcp":
		return ipsec.Address{Kind: ipsec.AddrDHCP}, nil
	case "gateway":
		return ipsec.Address{Kind: ipsec.AddrGateway}, nil
	}
	bad := ipsecErr(ErrBadAddress, "%q is not a valid IP address or DNS name.", raw)
	if looksNumeric(raw) {
		ip, err := netip.ParseAddr(raw)
		if err != nil || !ip.Is4() {
			return ipsec.Address{}, bad
		}
		return ipsec.Address{Kind: ipsec.AddrIP, IP: ip}, nil
	}
	if strings.Contains(raw, ":") {
		return ipsec.Address{}, ipsecErr(ErrBadAddress, "%q: IPv6 addresses are not supported by this version.", raw)
	}
	if !validDNSName(raw) {
		return ipsec.Address{}, bad
	}
	return ipsec.Address{Kind: ipsec.AddrDNSName, Name: raw}, nil
}

// looksNumeric reports whether s is made of digits, dots and commas only:
// such a token is meant as an IPv4 address and is never a DNS name.
func looksNumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c == '.' || c == ',') {
			return false
		}
	}
	return s != ""
}

// validDNSName checks RFC 1123 host name syntax: labels of letters, digits
// and hyphens, 1-63 bytes, not starting or ending with a hyphen; 253 bytes
// at most.
func validDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ParseMask parses a dotted contiguous mask or a prefix length 0-32.
func ParseMask(raw string) (ipsec.Mask, error) {
	bad := ipsecErr(ErrBadMask, "%q is not a valid mask: give a dotted mask such as 255.255.255.0 or a prefix length from 0 to 32.", raw)
	if !strings.Contains(raw, ".") {
		n, err := strconv.ParseUint(raw, 10, 8)
		if err != nil || n > 32 {
			return 0, bad
		}
		return ipsec.Mask(n), nil
	}
	ip, err := netip.ParseAddr(raw)
	if err != nil || !ip.Is4() {
		return 0, bad
	}
	b := ip.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := 0
	for ones < 32 && v&(1<<(31-ones)) != 0 {
		ones++
	}
	if ones < 32 && v<<ones != 0 {
		return 0, bad
	}
	return ipsec.Mask(ones), nil
}

// ParseProtocol parses ANY, ICMP, TCP, UDP, RAW (any case) or 0-255.
func ParseProtocol(raw string) (ipsec.Protocol, error) {
	switch strings.ToUpper(raw) {
	case "ANY":
		return ipsec.ProtoAny, nil
	case "ICMP":
		return ipsec.ProtoICMP, nil
	case "TCP":
		return ipsec.ProtoTCP, nil
	case "UDP":
		return ipsec.ProtoUDP, nil
	case "RAW":
		return ipsec.ProtoRAW, nil
	}
	n, err := strconv.ParseUint(raw, 10, 8)
	if err != nil {
		return 0, ipsecErr(ErrBadProtocol, "%q is not a valid protocol: give ANY, ICMP, TCP, UDP, RAW or a number from 0 to 255.", raw)
	}
	return ipsec.Protocol(n), nil
}

var (
	ciphersMM = map[string]ipsec.Cipher{
		"DES": ipsec.CipherDES, "3DES": ipsec.Cipher3DES,
		"AES128": ipsec.CipherAES128, "AES192": ipsec.CipherAES192, "AES256": ipsec.CipherAES256,
	}
	ciphersESP = map[string]ipsec.Cipher{
		"DES": ipsec.CipherDES, "3DES": ipsec.Cipher3DES, "NONE": ipsec.CipherNone,
		"AES128": ipsec.CipherAES128, "AES192": ipsec.CipherAES192, "AES256": ipsec.CipherAES256,
		"AESGCM128": ipsec.CipherAESGCM128, "AESGCM256": ipsec.CipherAESGCM256,
	}
	hashesMM  = map[string]ipsec.Hash{"MD5": ipsec.HashMD5, "SHA1": ipsec.HashSHA1, "SHA256": ipsec.HashSHA256}
	hashesESP = map[string]ipsec.Hash{"MD5": ipsec.HashMD5, "SHA1": ipsec.HashSHA1, "SHA256": ipsec.HashSHA256, "NONE": ipsec.HashNone}
	groupsMM  = map[string]ipsec.DHGroup{
		"1": ipsec.DHGroup1, "2": ipsec.DHGroup2, "3": ipsec.DHGroup14,
		"19": ipsec.DHGroup19, "20": ipsec.DHGroup20,
	}
)

// ParseMMOffers parses a space separated list of Conf-Hash-Group methods.
// Group 3 is netsh's DH2048, IANA group 14; 19 and 20 (ECP) are extensions.
func ParseMMOffers(raw string) ([]ipsec.MMOffer, error) {
	fields := strings.Fields(raw)
	if len(fields) == 0 {
		return nil, ipsecErr(ErrBadMMSec, "Main mode security methods are missing.")
	}
	out := make([]ipsec.MMOffer, 0, len(fields))
	for _, f := range fields {
		parts := strings.Split(strings.ToUpper(f), "-")
		if len(parts) != 3 {
			return nil, ipsecErr(ErrBadMMSec, "%q is not a valid main mode security method: use ConfAlg-HashAlg-GroupNum, e.g. 3DES-SHA1-2.", f)
		}
		c, ok1 := ciphersMM[parts[0]]
		h, ok2 := hashesMM[parts[1]]
		g, ok3 := groupsMM[parts[2]]
		if !ok1 || !ok2 || !ok3 {
			return nil, ipsecErr(ErrBadMMSec, "%q is not a valid main mode security method: use ConfAlg-HashAlg-GroupNum, e.g. 3DES-SHA1-2.", f)
		}
		out = append(out, ipsec.MMOffer{Cipher: c, Hash: h, Group: g})
	}
	return out, nil
}

// Quick mode lifetime bounds: those of the Windows custom security method
// dialog (20,480 KB and 300 s at the least).
const (
	MinQMLifeKB  = 20480
	MaxQMLifeKB  = 2147483647
	MinQMLifeSec = 300
	MaxQMLifeSec = 172800
)

// ParseQMOffers parses a space separated list of quick mode offers:
// ESP[Conf,Auth], AH[Hash] or AH[Hash]+ESP[Conf,Auth], each optionally
// followed by :<n>k/<n>s, :<n>k or :<n>s.
func ParseQMOffers(raw string) ([]ipsec.QMOffer, error) {
	fields := strings.Fields(raw)
	if len(fields) == 0 {
		return nil, ipsecErr(ErrBadQMSec, "Quick mode security methods are missing.")
	}
	out := make([]ipsec.QMOffer, 0, len(fields))
	for _, f := range fields {
		o, err := parseQMOffer(f)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func parseQMOffer(f string) (ipsec.QMOffer, error) {
	bad := func(why string) error {
		return ipsecErr(ErrBadQMSec, "%q is not a valid quick mode security method: %s", f, why)
	}
	var o ipsec.QMOffer
	body, life, hasLife := strings.Cut(f, ":")
	for _, part := range strings.Split(body, "+") {
		up := strings.ToUpper(part)
		open := strings.IndexByte(up, '[')
		if open < 0 || !strings.HasSuffix(up, "]") {
			return o, bad("use ESP[ConfAlg,AuthAlg], AH[HashAlg] or AH[HashAlg]+ESP[ConfAlg,AuthAlg].")
		}
		name, args := up[:open], strings.Split(up[open+1:len(up)-1], ",")
		switch name {
		case "AH":
			h, ok := hashesMM[strings.TrimSpace(args[0])]
			if len(args) != 1 || !ok || o.AH != ipsec.HashNone || o.ESP {
				return o, bad("AH takes one hash algorithm, MD5 or SHA1, and comes before ESP.")
			}
			o.AH = h
		case "ESP":
			if len(args) != 2 || o.ESP {
				return o, bad("ESP takes a confidentiality and an integrity algorithm.")
			}
			c, ok1 := ciphersESP[strings.TrimSpace(args[0])]
			h, ok2 := hashesESP[strings.TrimSpace(args[1])]
			if !ok1 || !ok2 {
				return o, bad("unknown algorithm.")
			}
			if c == ipsec.CipherNone && h == ipsec.HashNone {
				return o, bad("ESP[None,None] protects nothing.")
			}
			if c.AEAD() && h != ipsec.HashNone {
				return o, bad("AES-GCM provides its own integrity; use None as the integrity algorithm.")
			}
			o.ESP, o.ESPCipher, o.ESPAuth = true, c, h
		default:
			return o, bad("use ESP[ConfAlg,AuthAlg], AH[HashAlg] or AH[HashAlg]+ESP[ConfAlg,AuthAlg].")
		}
	}
	if !hasLife {
		return o, nil
	}
	for _, l := range strings.Split(strings.ToLower(life), "/") {
		if len(l) < 2 {
			return o, bad("lifetimes are written :<n>k/<n>s.")
		}
		n, err := strconv.ParseUint(l[:len(l)-1], 10, 32)
		if err != nil {
			return o, bad("lifetimes are written :<n>k/<n>s.")
		}
		switch l[len(l)-1] {
		case 'k':
			if o.LifeKB != 0 || n < MinQMLifeKB || n > MaxQMLifeKB {
				return o, bad(fmt.Sprintf("the kilobyte lifetime must be from %d to %d.", MinQMLifeKB, MaxQMLifeKB))
			}
			o.LifeKB = uint32(n)
		case 's':
			if o.LifeSec != 0 || n < MinQMLifeSec || n > MaxQMLifeSec {
				return o, bad(fmt.Sprintf("the seconds lifetime must be from %d to %d.", MinQMLifeSec, MaxQMLifeSec))
			}
			o.LifeSec = uint32(n)
		default:
			return o, bad("lifetimes are written :<n>k/<n>s.")
		}
	}
	return o, nil
}

// ParseRootCA parses `<CA DN> certmap:yes|no excludecaname:yes|no`, where
// `\'` stands for an embedded double quote.
func ParseRootCA(raw string) (ipsec.AuthMethod, error) {
	m := ipsec.AuthMethod{Kind: ipsec.AuthRootCA}
	s := strings.TrimSpace(strings.ReplaceAll(raw, `\'`, `"`))
	for {
		i := strings.LastIndexByte(s, ' ')
		last := s[i+1:]
		key, val, ok := strings.Cut(last, ":")
		key = strings.ToLower(key)
		if !ok || (key != "certmap" && key != "excludecaname") {
			break // a colon inside the DN is part of the name
		}
		b, err := parseBool(val)
		if err != nil {
			return m, ipsecErr(ErrBadAuth, "Invalid rootca option %q: use certmap:yes|no and excludecaname:yes|no.", last)
		}
		if key == "certmap" {
			m.CertMap = b
		} else {
			m.ExcludeCAName = b
		}
		if i < 0 {
			s = ""
			break
		}
		s = strings.TrimSpace(s[:i])
	}
	if s == "" {
		return m, ipsecErr(ErrBadAuth, "The root certificate authority name is missing.")
	}
	m.CA = s
	return m, nil
}

// ParseGUID parses a GUID with or without braces and returns it braced and
// upper case.
func ParseGUID(raw string) (string, error) {
	s := strings.TrimSuffix(strings.TrimPrefix(raw, "{"), "}")
	bad := ipsecErr(ErrBadGUID, "%q is not a valid GUID.", raw)
	if len(s) != 36 {
		return "", bad
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", bad
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return "", bad
			}
		}
	}
	return "{" + strings.ToUpper(s) + "}", nil
}

func parsePFSGroup(raw string) (PFSGroup, error) {
	e, err := matchEnum([]EnumValue{
		{"grp1", 1}, {"grp2", 2}, {"grp3", 14}, {"grpmm", -1}, {"nopfs", 0},
	}, raw)
	if err != nil {
		return PFSGroup{}, err
	}
	g := PFSGroup{Choice: true}
	switch e.Val {
	case -1:
		g.UseMM = true
	case 0:
		g.NoPFS = true
	default:
		g.Group = ipsec.DHGroup(e.Val)
	}
	return g, nil
}
