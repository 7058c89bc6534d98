package grammar

import "strings"

// Kind is the value type of a tag. Each kind has one parser in values.go
// that turns netsh text into a typed Value field.
type Kind uint8

// Value kinds.
const (
	KString   Kind = iota + 1 // Value.Str
	KInt                      // Value.Int, within Tag.Min..Tag.Max
	KBool                     // Value.Bool: yes|no and their prefixes
	KEnum                     // Value.Int = the matched EnumValue.Val
	KAddr                     // Value.Addr: me|any|IPv4|DNS name|server type
	KMask                     // Value.Mask: dotted mask or prefix length
	KPort                     // Value.Int: 0-65535
	KProto                    // Value.Proto: ANY|ICMP|TCP|UDP|RAW|0-255
	KMMOffers                 // Value.MM: "3DES-SHA1-2 DES-MD5-1"
	KQMOffers                 // Value.QM: "ESP[3DES,SHA1]:100000k/900s AH[MD5]"
	KRootCA                   // Value.Auth: "<DN> certmap:yes excludecaname:no"
	KGUID                     // Value.Str: {XXXXXXXX-...}, upper case
	KFile                     // Value.Str: a file path
	KPSK                      // Value.Auth: a pre-shared key
	KKerberos                 // Value.Bool and Value.Auth: kerberos=yes|no
	KPFSGroup                 // Value.Group: grp1|grp2|grp3|grpmm|nopfs
	KRest                     // Value.Str: every remaining argument, verbatim
)

// Ref says which existing objects a name tag refers to; completion offers
// their names.
type Ref uint8

// Object kinds a name may refer to.
const (
	RefNone Ref = iota
	RefPolicy
	RefFilterList
	RefFilterAction
	RefRule
)

// EnumValue is one word of an enumeration and the typed constant it stands
// for (the shell converts Val to its own enum type).
type EnumValue struct {
	Word string
	Val  int
}

// Tag is one parameter of a command. The order of a command's Tags is its
// usage order: untagged values and abbreviated tags bind by it.
type Tag struct {
	Name     string
	Kind     Kind
	Required bool
	Multi    bool // may be repeated (rootca)
	Enum     []EnumValue
	Min, Max int64 // KInt bounds, inclusive
	Ref      Ref
	Syntax   string // value syntax shown in usage; derived from Kind when empty
	Help     string // the Parameters line of the usage block
}

// Ident is a group of tags of which exactly one identifies the object, plus
// the bare keywords (all, default) that may stand in their place, as in
// `delete rule [name=]<string> | [id=]<int> | all`.
type Ident struct {
	Tags     []string
	Keywords []string
	Required bool
}

// Command is one netsh command: the words that name it (relative to its
// context), its tags, and the texts that help prints.
type Command struct {
	ID       string   // stable identifier the shell dispatches on, e.g. "static.add.policy"
	Words    []string // e.g. ["add", "policy"]
	Summary  string   // the one-line description of `?`
	Purpose  string   // the sentence under the usage lines
	Tags     []Tag
	Ident    *Ident
	Remarks  []string
	Examples []string
	Hidden   bool // accepted but not listed (e.g. `/?`)
}

// Path is the command's words joined by spaces.
func (c *Command) Path() string { return strings.Join(c.Words, " ") }

// Tag returns the tag named exactly name (lower case), or nil.
func (c *Command) Tag(name string) *Tag {
	for i := range c.Tags {
		if c.Tags[i].Name == name {
			return &c.Tags[i]
		}
	}
	return nil
}

// Group is a command group word (add, delete, set, show) with its one-line
// description.
type Group struct {
	Word    string
	Summary string
}

// Context is one netsh context: its commands, groups and sub-contexts.
// Contexts form a tree rooted at netsh; global commands live in the root and
// are inherited by every context.
type Context struct {
	Name     string
	Summary  string // what the parent's help prints for it
	Commands []*Command
	Groups   []Group
	Subs     []*Context
	Parent   *Context
}

// Path returns the names from the root's child down to c ("ipsec static").
func (c *Context) Path() []string {
	if c.Parent == nil {
		return nil
	}
	return append(c.Parent.Path(), c.Name)
}

// Prompt returns the interactive prompt for c: "netsh ipsec static>".
func (c *Context) Prompt() string {
	return strings.Join(append([]string{"netsh"}, c.Path()...), " ") + ">"
}

// Sub returns the child context named exactly name, or nil.
func (c *Context) Sub(name string) *Context {
	for _, s := range c.Subs {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Lookup follows path from c and returns the context, or nil.
func (c *Context) Lookup(path ...string) *Context {
	cur := c
	for _, p := range path {
		if cur = cur.Sub(p); cur == nil {
			return nil
		}
	}
	return cur
}

// Root returns the root of c's tree.
func (c *Context) Root() *Context {
	for c.Parent != nil {
		c = c.Parent
	}
	return c
}

func link(c *Context) *Context {
	for _, s := range c.Subs {
		s.Parent = c
		link(s)
	}
	return c
}

// Grammar is the whole command tree. It is immutable after New, so one
// Grammar may serve many sessions at once.
type Grammar struct {
	Root *Context

	// Per context, computed once in New: the usable commands (own, then
	// inherited globals) and the first words with their kinds.
	cmds  map[*Context][]*Command
	first map[*Context]map[string]wordKind
}

// New returns the netsh grammar: the root context with the global commands,
// `ipsec`, `ipsec static` and `ipsec dynamic`.
func New() *Grammar {
	static := staticContext()
	dynamic := dynamicContext()
	ipsecCtx := &Context{
		Name:    "ipsec",
		Summary: "Changes to the `netsh ipsec' context.",
		Commands: []*Command{
			{ID: "ipsec.dump", Words: []string{"dump"}, Summary: "Displays a configuration script.",
				Purpose: "Displays the IPsec configuration (static and dynamic) as a script."},
		},
		Subs: []*Context{dynamic, static},
	}
	root := &Context{
		Name:     "netsh",
		Commands: globalCommands(),
		Groups: []Group{
			{"set", "Updates configuration settings."},
			{"show", "Displays information."},
		},
		Subs: []*Context{ipsecCtx},
	}
	g := &Grammar{Root: link(root), cmds: map[*Context][]*Command{}, first: map[*Context]map[string]wordKind{}}
	var walk func(c *Context)
	walk = func(c *Context) {
		g.cmds[c] = g.commands(c)
		g.first[c] = g.words(c)
		for _, s := range c.Subs {
			walk(s)
		}
	}
	walk(g.Root)
	return g
}
