package grammar

import (
	"errors"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/gonetsh/gonetsh/ipsec"
)

// HelpKind says which help a line asked for.
type HelpKind uint8

// Help requests.
const (
	NoHelp      HelpKind = iota
	HelpContext          // `?`, `help`, `/?`, or a context path followed by one
	HelpGroup            // a group word alone (`show`) or followed by `?`
	HelpCommand          // a command followed by `?` or `/?`
)

// Invocation is a parsed line.
type Invocation struct {
	Ctx     *Context // context the line resolved in (the target for Enter)
	Cmd     *Command // nil for Enter and context/group help
	Enter   bool     // the line only named a context: change to Ctx
	Help    HelpKind
	Group   string  // HelpGroup: the group word
	Keyword string  // "all" or "default" given in place of the identifying tag
	Args    []Value // bound arguments in line order
	Line    string
}

// Get returns the first value bound to tag.
func (inv *Invocation) Get(tag string) (Value, bool) {
	for _, v := range inv.Args {
		if v.Tag == tag {
			return v, true
		}
	}
	return Value{}, false
}

// Has reports whether tag was given.
func (inv *Invocation) Has(tag string) bool {
	_, ok := inv.Get(tag)
	return ok
}

// Auth returns the authentication methods given (kerberos=yes, psk,
// rootca) in the order they appear on the line, and whether any auth tag
// was given at all (kerberos=no counts as given).
func (inv *Invocation) Auth() ([]ipsec.AuthMethod, bool) {
	var out []ipsec.AuthMethod
	given := false
	for _, v := range inv.Args {
		switch v.Tag {
		case "kerberos":
			given = true
			if v.Bool {
				out = append(out, v.Auth)
			}
		case "psk", "rootca":
			given = true
			out = append(out, v.Auth)
		}
	}
	return out, given
}

func isHelpWord(s string) bool { return s == "?" || s == "/?" || s == "-?" }

// Parse parses one line typed in context cur (nil = root).
// An empty line returns (nil, nil).
func (g *Grammar) Parse(cur *Context, line string) (*Invocation, error) {
	if cur == nil {
		cur = g.Root
	}
	raw, err := lexArgs(line)
	if err != nil {
		return nil, &Error{Code: ErrSyntax, Line: line, Token: line}
	}
	args := joinEquals(raw)
	if len(args) == 0 {
		return nil, nil
	}
	inv := &Invocation{Line: line, Ctx: cur}
	notFound := func(from int) error {
		a := args[from]
		return &Error{Code: ErrCmdNotFound, Pos: a.Pos, Token: strings.TrimSpace(line), Line: line}
	}
	ctx := cur
	i := 0
	for {
		if i == len(args) {
			inv.Ctx, inv.Enter = ctx, true
			return inv, nil
		}
		a := args[i]
		if a.HasTag {
			return nil, notFound(i)
		}
		w := a.Text
		if isHelpWord(w) || strings.EqualFold(w, "help") {
			if i+1 != len(args) && !isHelpWord(args[i+1].Text) {
				return nil, notFound(i)
			}
			inv.Ctx, inv.Help = ctx, HelpContext
			return inv, nil
		}
		name, kind := g.matchWord(ctx, w)
		switch kind {
		case wordContext:
			ctx = g.findSub(ctx, name)
			i++
			if i < len(args) && isHelpWord(args[i].Text) {
				inv.Ctx, inv.Help = ctx, HelpContext
				return inv, nil
			}
			continue
		case wordGroup:
			inv.Ctx = ctx
			if i+1 == len(args) || isHelpWord(args[i+1].Text) {
				inv.Help, inv.Group = HelpGroup, name
				return inv, nil
			}
			cmd := g.matchCommand(ctx, name, args[i+1].Text)
			if cmd == nil {
				return nil, notFound(i)
			}
			inv.Cmd = cmd
			i += 2
		case wordCommand:
			inv.Ctx = ctx
			inv.Cmd = g.matchCommand(ctx, name, "")
			i++
		default:
			return nil, notFound(i)
		}
		break
	}
	rest := args[i:]
	for _, a := range rest {
		// `?` or `/?` anywhere after the command asks for its usage.
		if !a.HasTag && !a.Quoted && isHelpWord(a.Text) {
			inv.Help = HelpCommand
			return inv, nil
		}
	}
	if err := bind(inv, rest); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Line = line
			if e.Cmd == nil && e.Code != ErrCmdNotFound {
				e.Cmd = inv.Cmd
			}
		}
		return inv, err
	}
	return inv, nil
}

type wordKind uint8

const (
	wordNone wordKind = iota
	wordContext
	wordGroup
	wordCommand
)

// Commands returns the commands usable in ctx: its own, then the globals
// it inherits that it does not override. The slice is shared: do not
// modify it.
func (g *Grammar) Commands(ctx *Context) []*Command {
	if c, ok := g.cmds[ctx]; ok {
		return c
	}
	return g.commands(ctx)
}

func (g *Grammar) commands(ctx *Context) []*Command {
	out := append([]*Command(nil), ctx.Commands...)
	if ctx == g.Root {
		return out
	}
	for _, gc := range g.Root.Commands {
		dup := false
		for _, c := range ctx.Commands {
			if slices.Equal(c.Words, gc.Words) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, gc)
		}
	}
	return out
}

// Words returns the first words usable in ctx with their kinds: sub-contexts
// (of ctx, then of its ancestors), groups and one-word commands.
func (g *Grammar) words(ctx *Context) map[string]wordKind {
	m := map[string]wordKind{}
	for c := ctx; c != nil; c = c.Parent {
		for _, s := range c.Subs {
			if _, ok := m[s.Name]; !ok {
				m[s.Name] = wordContext
			}
		}
	}
	for _, c := range g.Commands(ctx) {
		if len(c.Words) > 1 {
			m[c.Words[0]] = wordGroup
		} else if _, ok := m[c.Words[0]]; !ok {
			m[c.Words[0]] = wordCommand
		}
	}
	return m
}

// matchWord resolves a command word or context name typed in ctx: an exact
// match (any case) wins, else it must be the prefix of exactly one name.
func (g *Grammar) matchWord(ctx *Context, w string) (string, wordKind) {
	m, ok := g.first[ctx]
	if !ok {
		m = g.words(ctx)
	}
	if k, ok := m[strings.ToLower(w)]; ok {
		return strings.ToLower(w), k
	}
	var hits []string
	for name := range m {
		if hasPrefixFold(name, w) {
			hits = append(hits, name)
		}
	}
	if len(hits) != 1 {
		return "", wordNone
	}
	return hits[0], m[hits[0]]
}

func (g *Grammar) findSub(ctx *Context, name string) *Context {
	for c := ctx; c != nil; c = c.Parent {
		if s := c.Sub(name); s != nil {
			return s
		}
	}
	return nil
}

// matchCommand finds the command whose first word is first and whose second
// word (if any) is matched by w with the exact-or-unique-prefix rule.
func (g *Grammar) matchCommand(ctx *Context, first, w string) *Command {
	var exact *Command
	var hits []*Command
	for _, c := range g.Commands(ctx) {
		if c.Words[0] != first {
			continue
		}
		if len(c.Words) == 1 {
			if w == "" {
				return c
			}
			continue
		}
		if strings.EqualFold(c.Words[1], w) {
			exact = c
		} else if hasPrefixFold(c.Words[1], w) {
			hits = append(hits, c)
		}
	}
	if exact != nil {
		return exact
	}
	if len(hits) == 1 {
		return hits[0]
	}
	return nil
}

// GroupCommands returns the commands of group word in ctx, sorted by path.
func (g *Grammar) GroupCommands(ctx *Context, group string) []*Command {
	var out []*Command
	for _, c := range g.Commands(ctx) {
		if len(c.Words) > 1 && c.Words[0] == group {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path() < out[j].Path() })
	return out
}

// matchTag resolves a typed tag name: an exact match wins, else the first
// tag in usage order of which it is a prefix (reference 1.5).
func matchTag(c *Command, name string) *Tag {
	for i := range c.Tags {
		if strings.EqualFold(c.Tags[i].Name, name) {
			return &c.Tags[i]
		}
	}
	for i := range c.Tags {
		if hasPrefixFold(c.Tags[i].Name, name) {
			return &c.Tags[i]
		}
	}
	return nil
}

func inIdent(c *Command, tag string) bool {
	if c.Ident == nil {
		return false
	}
	for _, t := range c.Ident.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// bind assigns the arguments to tags: tagged ones by (abbreviated) name,
// untagged ones to the first tag in usage order not yet given, where a tag
// of the identifying group counts as given once any member or keyword is.
func bind(inv *Invocation, args []arg) error {
	c := inv.Cmd
	given := map[string]bool{}
	identDone := false
	synErr := func(a arg, code ErrCode, tok string) error {
		return &Error{Code: code, Pos: a.Pos, Token: tok, Cmd: c}
	}
	nextFree := func() *Tag {
		for i := range c.Tags {
			t := &c.Tags[i]
			if given[t.Name] || identDone && inIdent(c, t.Name) {
				continue
			}
			return t
		}
		return nil
	}
	for i, a := range args {
		var t *Tag
		if a.HasTag {
			if t = matchTag(c, a.Tag); t == nil {
				return synErr(a, ErrInvalidArg, a.Tag)
			}
		} else {
			t = nextFree()
			if t != nil && c.Ident != nil && !identDone && inIdent(c, t.Name) {
				if kw := matchKeyword(c.Ident.Keywords, a.Text); kw != "" {
					inv.Keyword, identDone = kw, true
					continue
				}
			}
			if t == nil {
				return synErr(a, ErrSyntax, a.Text)
			}
		}
		if given[t.Name] && !t.Multi {
			return synErr(a, ErrDuplicateTag, t.Name)
		}
		if inIdent(c, t.Name) {
			if identDone {
				return synErr(a, ErrSyntax, a.Text)
			}
			identDone = true
		}
		given[t.Name] = true
		if t.Kind == KRest {
			var parts []string
			for _, r := range args[i:] {
				parts = append(parts, r.Text)
			}
			inv.Args = append(inv.Args, Value{Tag: t.Name, Raw: strings.Join(parts, " "), Str: strings.Join(parts, " "), Pos: a.Pos})
			break
		}
		v, err := parseValue(t, a.Value)
		if err != nil {
			var ve *valueError
			if errors.As(err, &ve) {
				return &Error{Code: ve.Code, Pos: a.ValPos, Token: a.Value, Msg: ve.Msg}
			}
			return synErr(a, ErrSyntax, a.Value)
		}
		v.Pos = a.Pos
		inv.Args = append(inv.Args, v)
	}
	for _, t := range c.Tags {
		if t.Required && !given[t.Name] {
			return &Error{Code: ErrMissing, Token: t.Name, Cmd: c}
		}
	}
	if c.Ident != nil && c.Ident.Required && !identDone {
		return &Error{Code: ErrMissing, Token: c.Ident.Tags[0], Cmd: c}
	}
	return checkSelectors(inv)
}

func matchKeyword(kws []string, w string) string {
	for _, k := range kws {
		if strings.EqualFold(k, w) {
			return k
		}
	}
	return ""
}

// checkSelectors applies the rules that tie several tags together: a server
// type on one side needs `me` on the other, and ports need TCP or UDP.
// Microsoft's own help examples pair a server type with 0.0.0.0
// (`srcaddr=DHCP dstaddr=0.0.0.0`), so 0.0.0.0 is accepted as "this
// computer" there too.
func checkSelectors(inv *Invocation) error {
	src, okS := inv.Get("srcaddr")
	dst, okD := inv.Get("dstaddr")
	if okS && okD {
		for _, p := range [][2]Value{{src, dst}, {dst, src}} {
			other := p[1].Addr
			isMe := other.Kind == ipsec.AddrMe || other.Kind == ipsec.AddrIP && other.IP == netip.IPv4Unspecified()
			if p[0].Addr.Kind.IsServerType() && !isMe {
				return &Error{Code: ErrServerType, Pos: p[1].Pos, Token: p[1].Raw,
					Msg: "When a server type (DNS, WINS, DHCP, GATEWAY) is given for one address, the other address must be me."}
			}
		}
	}
	proto := ipsec.ProtoAny
	if p, ok := inv.Get("protocol"); ok {
		proto = p.Proto
	}
	for _, tag := range []string{"srcport", "dstport"} {
		if p, ok := inv.Get(tag); ok && p.Int != 0 && !proto.HasPorts() {
			return &Error{Code: ErrPortProtocol, Pos: p.Pos, Token: p.Raw,
				Msg: "Ports can be given only when the protocol is TCP or UDP."}
		}
	}
	return nil
}
