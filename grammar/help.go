package grammar

import (
	"fmt"
	"sort"
	"strings"
)

// SyntaxOf returns the value syntax printed in a usage line for t.
func SyntaxOf(t *Tag) string {
	if t.Syntax != "" {
		return t.Syntax
	}
	switch t.Kind {
	case KInt:
		return "<integer>"
	case KBool, KKerberos:
		return "yes | no"
	case KEnum:
		words := make([]string, len(t.Enum))
		for i, e := range t.Enum {
			words[i] = e.Word
		}
		return strings.Join(words, " | ")
	case KAddr:
		return "<ip | dns | server>"
	case KMask:
		return "<mask | prefix>"
	case KPort:
		return "<port>"
	case KProto:
		return "ANY | ICMP | TCP | UDP | RAW | <integer>"
	case KGUID:
		return "<guid>"
	case KPFSGroup:
		return "GRP1 | GRP2 | GRP3 | GRPMM | NOPFS"
	}
	return "<string>"
}

// Usage returns the usage block of c as `<command> ?` prints it.
func Usage(c *Command) string {
	var b strings.Builder
	b.WriteString("\nUsage:\n")
	lead := "  " + c.Path() + " "
	indent := strings.Repeat(" ", len(lead))
	var lines []string
	done := map[string]bool{}
	for i := range c.Tags {
		t := &c.Tags[i]
		if done[t.Name] {
			continue
		}
		if inIdent(c, t.Name) {
			var alts []string
			for _, n := range c.Ident.Tags {
				done[n] = true
				it := c.Tag(n)
				alts = append(alts, fmt.Sprintf("[ %s = ] %s", it.Name, SyntaxOf(it)))
			}
			alts = append(alts, c.Ident.Keywords...)
			line := strings.Join(alts, " | ")
			if !c.Ident.Required {
				line = "[ " + line + " ]"
			}
			lines = append(lines, line)
			continue
		}
		s := fmt.Sprintf("[ %s = ] %s", t.Name, SyntaxOf(t))
		if !t.Required {
			s = "[ " + s + " ]"
		}
		if t.Multi {
			s += " ..."
		}
		if t.Kind == KRest {
			s = "[ " + SyntaxOf(t) + " ]"
		}
		lines = append(lines, s)
	}
	if len(lines) == 0 {
		b.WriteString(strings.TrimRight(lead, " ") + "\n")
	}
	for i, l := range lines {
		if i == 0 {
			b.WriteString(lead + l + "\n")
		} else {
			b.WriteString(indent + l + "\n")
		}
	}
	purpose := c.Purpose
	if purpose == "" {
		purpose = c.Summary
	}
	b.WriteString("\n")
	b.WriteString(wrap("  ", "  ", purpose))
	if len(c.Tags) > 0 {
		b.WriteString("\nParameters:\n\n  Tag            Value\n")
		for i := range c.Tags {
			t := &c.Tags[i]
			col := fmt.Sprintf("  %-14s-", t.Name)
			if len(t.Name) >= 14 {
				col = "  " + t.Name + " -" // too long for the column
			}
			b.WriteString(wrap(col, strings.Repeat(" ", 17), t.Help))
		}
	}
	if len(c.Remarks) > 0 {
		b.WriteString("\n")
		for i, r := range c.Remarks {
			first := "          "
			if i == 0 {
				first = "Remarks:  "
			}
			b.WriteString(wrap(fmt.Sprintf("%s%d. ", first, i+1), strings.Repeat(" ", 13), r))
		}
	}
	if len(c.Examples) > 0 {
		b.WriteString("\n")
		for i, e := range c.Examples {
			first := "          "
			if i == 0 {
				first = "Examples: "
			}
			b.WriteString(first + e + "\n")
		}
	}
	return b.String()
}

// wrap writes text after first, continuing on lines that start with rest,
// so that lines stay within 79 columns.
func wrap(first, rest, text string) string {
	var b strings.Builder
	line := first
	fresh := true
	for _, w := range strings.Fields(text) {
		if !fresh && len(line)+1+len(w) > 79 {
			b.WriteString(line + "\n")
			line, fresh = rest, true
		}
		if fresh {
			line += w
			fresh = false
		} else {
			line += " " + w
		}
	}
	b.WriteString(line + "\n")
	return b.String()
}

type helpEntry struct{ name, summary string }

func writeEntries(b *strings.Builder, entries []helpEntry) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	for _, e := range entries {
		fmt.Fprintf(b, "%-14s - %s\n", e.name, e.summary)
	}
}

const helpTrailer = "\nTo view help for a command, type the command, followed by a space, and then\n type ?.\n"

// ContextHelp returns what `?` prints in ctx.
func (g *Grammar) ContextHelp(ctx *Context) string {
	var b strings.Builder
	b.WriteString("\nThe following commands are available:\n\nCommands in this context:\n")
	var entries []helpEntry
	seen := map[string]bool{}
	add := func(name, summary string) {
		if !seen[name] {
			seen[name] = true
			entries = append(entries, helpEntry{name, summary})
		}
	}
	for _, gr := range ctx.Groups {
		add(gr.Word, gr.Summary)
	}
	for _, c := range ctx.Commands {
		if len(c.Words) == 1 && !c.Hidden {
			add(c.Words[0], c.Summary)
		}
	}
	if ctx != g.Root {
		for _, c := range g.Root.Commands {
			if c.Words[0] == "?" || c.Words[0] == "help" {
				add(c.Words[0], c.Summary)
			}
		}
	}
	writeEntries(&b, entries)
	if len(ctx.Subs) > 0 {
		b.WriteString("\nThe following sub-contexts are available:\n")
		for _, s := range ctx.Subs {
			b.WriteString(" " + s.Name)
		}
		b.WriteString("\n")
	}
	b.WriteString(helpTrailer)
	return b.String()
}

// GroupHelp returns what a bare group word (`show`) prints in ctx.
func (g *Grammar) GroupHelp(ctx *Context, group string) string {
	var b strings.Builder
	b.WriteString("\nThe following commands are available:\n\nCommands in this context:\n")
	var entries []helpEntry
	for _, c := range g.GroupCommands(ctx, group) {
		if !c.Hidden {
			entries = append(entries, helpEntry{c.Path(), c.Summary})
		}
	}
	writeEntries(&b, entries)
	b.WriteString(helpTrailer)
	return b.String()
}
