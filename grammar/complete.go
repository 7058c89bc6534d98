package grammar

import (
	"sort"
	"strings"
)

// Names gives completion the names of existing objects (policies, filter
// lists, filter actions, rules) of the current store.
type Names interface {
	Names(r Ref) []string
}

// Complete returns the completions of the word that ends line (the text
// before the cursor) in context ctx, and that partial word. Candidates are
// whole words that replace the partial one: context names, command words,
// `tag=` names, enumerated values, and object names (quoted when they hold
// spaces). Everything is derived from the command table that Parse uses.
func (g *Grammar) Complete(ctx *Context, line string, names Names) (cands []string, partial string) {
	if ctx == nil {
		ctx = g.Root
	}
	raw, err := lexArgs(line)
	if err != nil {
		return nil, ""
	}
	fresh := line == "" || strings.ContainsAny(line[len(line)-1:], " \t")
	if !fresh && len(raw) > 0 {
		last := raw[len(raw)-1]
		raw = raw[:len(raw)-1]
		partial = line[last.Pos.Offset:]
	}
	args := joinEquals(raw)

	// Resolve the words before the partial one.
	i := 0
	var cmd *Command
	group := ""
	for cmd == nil && i < len(args) {
		a := args[i]
		if a.HasTag {
			return nil, partial
		}
		name, kind := g.matchWord(ctx, a.Text)
		switch kind {
		case wordContext:
			ctx = g.findSub(ctx, name)
		case wordGroup:
			if i+1 == len(args) {
				group = name
			} else if cmd = g.matchCommand(ctx, name, args[i+1].Text); cmd == nil {
				return nil, partial
			} else {
				i++
			}
		case wordCommand:
			cmd = g.matchCommand(ctx, name, "")
		default:
			return nil, partial
		}
		i++
	}
	switch {
	case group != "":
		for _, c := range g.GroupCommands(ctx, group) {
			cands = append(cands, c.Words[1])
		}
	case cmd == nil:
		for w := range g.words(ctx) {
			cands = append(cands, w)
		}
	default:
		cands = completeArgs(cmd, args[i:], partial, names)
	}
	return filterPrefix(cands, partial), partial
}

// completeArgs offers tag names (and, for the next positional tag, its
// values) or, after `tag=`, the values of that tag.
func completeArgs(c *Command, given []arg, partial string, names Names) []string {
	if tag, _, ok := strings.Cut(partial, "="); ok {
		t := matchTag(c, tag)
		if t == nil {
			return nil
		}
		var out []string
		for _, v := range tagValues(t, names) {
			out = append(out, tag+"="+v)
		}
		return out
	}
	have := map[string]bool{}
	identDone := false
	for _, a := range given {
		if a.HasTag {
			if t := matchTag(c, a.Tag); t != nil {
				have[t.Name] = true
				identDone = identDone || inIdent(c, t.Name)
			}
		} else if c.Ident != nil && matchKeyword(c.Ident.Keywords, a.Text) != "" {
			identDone = true
		}
	}
	var out []string
	for _, t := range c.Tags {
		if have[t.Name] && !t.Multi || identDone && inIdent(c, t.Name) || t.Kind == KRest {
			continue
		}
		out = append(out, t.Name+"=")
	}
	if c.Ident != nil && !identDone {
		out = append(out, c.Ident.Keywords...)
	}
	return out
}

// tagValues lists the values completion offers for t.
func tagValues(t *Tag, names Names) []string {
	switch t.Kind {
	case KBool, KKerberos:
		return []string{"yes", "no"}
	case KEnum:
		out := make([]string, len(t.Enum))
		for i, e := range t.Enum {
			out[i] = e.Word
		}
		return out
	case KProto:
		return []string{"ANY", "ICMP", "TCP", "UDP", "RAW"}
	case KAddr:
		return []string{"me", "any", "dns", "wins", "dhcp", "gateway"}
	case KPFSGroup:
		return []string{"grp1", "grp2", "grp3", "grpmm", "nopfs"}
	}
	if t.Ref == RefNone || names == nil {
		return nil
	}
	var out []string
	for _, n := range names.Names(t.Ref) {
		if strings.ContainsAny(n, " \t=") || n == "" {
			n = `"` + n + `"`
		}
		out = append(out, n)
	}
	return out
}

// filterPrefix keeps the candidates that start with partial (any case),
// sorted and without duplicates. A name with spaces completes only once its
// opening quote is typed (or right after `tag=`), since completion appends.
func filterPrefix(cands []string, partial string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range cands {
		if seen[c] {
			continue
		}
		if hasPrefixFold(c, partial) {
			seen[c] = true
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}
