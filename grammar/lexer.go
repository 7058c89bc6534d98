package grammar

import (
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
)

// Position is where a token starts in the input: line and column count from
// 1, Offset from 0 in bytes.
type Position = lexer.Position

// The token level of a netsh line, after Windows' rules: words separated by
// white space, double-quoted stretches taken literally with the quotes
// removed (there is no escape character; `\'` stays as typed and only
// rootca turns it into a quote), and `=` as its own token so that `tag=value`,
// `tag= value`, `tag =value` and `tag = value` can all be joined later.
var netshLexer = lexer.MustSimple(tokenRules)

// tokenRules are the token definitions netshLexer is built from; the EBNF
// golden test pins them.
var tokenRules = []lexer.SimpleRule{
	{Name: "Quoted", Pattern: `"[^"]*"?`},
	{Name: "Eq", Pattern: `=`},
	{Name: "Word", Pattern: `[^\s="]+`},
	{Name: "WS", Pattern: `\s+`},
}

// piece is one token of a line; white space is kept so that adjacency
// (what makes `name="a b"` one argument) is visible.
type piece struct {
	Pos    lexer.Position
	Quoted *string
	Eq     bool
	Word   *string
}

// arg is one white-space separated argument after quote removal, with the
// split at its first unquoted `=`.
type arg struct {
	Pos      Position // start of the argument
	ValPos   Position // start of the value part
	Text     string   // whole argument, quotes removed
	Tag      string   // text before the first unquoted '=' (HasTag)
	Value    string   // text after it (HasTag), or Text
	HasTag   bool
	EqOnly   bool // the argument is a lone "="
	EndsEq   bool // the argument ends with an unquoted '=' (value follows)
	StartsEq bool // the argument starts with an unquoted '='
	Quoted   bool // some part of it was quoted
}

// lexArgs splits a line into arguments. It never fails on text: any byte
// sequence is a word, a quoted stretch, '=' or white space.
func lexArgs(line string) ([]arg, error) {
	lx, err := netshLexer.LexString("", line)
	if err != nil {
		return nil, err
	}
	sym := netshLexer.Symbols()
	quoted, eq, word := sym["Quoted"], sym["Eq"], sym["Word"]
	var out []arg
	var cur []*piece
	flush := func() {
		if len(cur) > 0 {
			out = append(out, buildArg(cur))
			cur = nil
		}
	}
	for {
		t, err := lx.Next()
		if err != nil {
			return nil, err
		}
		if t.EOF() {
			break
		}
		p := &piece{Pos: t.Pos}
		switch t.Type {
		case quoted:
			v := t.Value
			p.Quoted = &v
		case eq:
			p.Eq = true
		case word:
			v := t.Value
			p.Word = &v
		default: // white space ends an argument
			flush()
			continue
		}
		cur = append(cur, p)
	}
	flush()
	return out, nil
}

func pieceText(p *piece) string {
	switch {
	case p.Quoted != nil:
		s := strings.TrimPrefix(*p.Quoted, `"`)
		return strings.TrimSuffix(s, `"`)
	case p.Eq:
		return "="
	case p.Word != nil:
		return *p.Word
	}
	return ""
}

func buildArg(ps []*piece) arg {
	a := arg{Pos: ps[0].Pos}
	var all, before, after strings.Builder
	eqAt := -1
	for i, p := range ps {
		t := pieceText(p)
		all.WriteString(t)
		if p.Quoted != nil {
			a.Quoted = true
		}
		if eqAt < 0 && p.Eq {
			eqAt = i
			continue
		}
		if eqAt < 0 {
			before.WriteString(t)
		} else {
			after.WriteString(t)
		}
	}
	a.Text = all.String()
	a.Value = a.Text
	a.ValPos = a.Pos
	if eqAt < 0 {
		// A whole argument quoted by a program ("filterlist=Name With
		// Spaces") still names a tag when the text before its first '=' is
		// a plain word of letters.
		if len(ps) == 1 && ps[0].Quoted != nil {
			if i := strings.IndexByte(a.Text, '='); i > 0 && isLetters(a.Text[:i]) {
				a.HasTag, a.Tag, a.Value = true, a.Text[:i], a.Text[i+1:]
				a.ValPos = ps[0].Pos
				a.ValPos.Column += i + 2
				a.ValPos.Offset += i + 2
			}
		}
		return a
	}
	if len(ps) == 1 {
		a.EqOnly = true
		return a
	}
	a.Tag, a.Value = before.String(), after.String()
	a.HasTag = eqAt > 0
	a.StartsEq = eqAt == 0
	a.EndsEq = eqAt == len(ps)-1
	if eqAt+1 < len(ps) {
		a.ValPos = ps[eqAt+1].Pos
	}
	return a
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return s != ""
}

// joinEquals applies netsh's rule for spaces around '=': an argument ending
// in '=' takes the next argument as its value, one starting with '=' takes
// the previous untagged argument as its tag, and a lone '=' joins both sides.
func joinEquals(in []arg) []arg {
	var out []arg
	for i := 0; i < len(in); i++ {
		a := in[i]
		switch {
		case a.EqOnly || a.StartsEq:
			if n := len(out); n > 0 && !out[n-1].HasTag {
				prev := out[n-1]
				a.Pos, a.Tag, a.HasTag = prev.Pos, prev.Text, true
				a.StartsEq = false
				out = out[:n-1]
			}
			if a.EqOnly {
				a.EqOnly = false
				a.Value = ""
				a.EndsEq = true
			}
		}
		if a.HasTag && a.EndsEq && a.Value == "" && i+1 < len(in) && !in[i+1].HasTag && !in[i+1].EqOnly {
			n := in[i+1]
			a.Value, a.ValPos, a.Quoted = n.Text, n.Pos, a.Quoted || n.Quoted
			i++
		}
		a.Text = a.Tag + "=" + a.Value
		if !a.HasTag {
			a.Text = a.Value
		}
		out = append(out, a)
	}
	return out
}
