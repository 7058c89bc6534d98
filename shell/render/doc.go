// Package render writes the netsh-shaped output of the `ipsec static` show
// commands and of `dump`. Every function is pure: it reads the store model
// and Options, writes to an io.Writer and nothing else. Times come from the
// model, the computer name from Options.Host; nothing reads the clock or the
// environment. Output is built in memory and written with one Write call.
//
// # List format (reference 5.0-5.6)
//
// One `Label : value` line per field: the label left-justified in 23
// columns, then ": " (printf "%-23s: %s"). Booleans print YES / NO, an empty
// description NONE, times as US-English "1/2/2006 3:04:05 PM", GUIDs braced.
// Every object block is preceded by one blank line, so objects are separated
// by one blank line and any output (one object or many) starts with a blank
// line.
//
// Choices where the reference is only a recollection [R]:
//
//   - Filter action (5.2): the QMPFS, Inbound Passthru and
//     AllowUnsecuredCommunication lines print for negotiate actions at every
//     level; the "Security Methods" section (one offer a line,
//     "ESP[3DES,SHA1]  100000Kbytes/3600secs", the default lifetimes filled
//     in when an offer gives none) only with level=verbose, as reference 2.6
//     says verbose expands "methods inside actions".
//   - Policy (5.3): "No. of Rules" counts the default response rule. With
//     level=verbose each rule follows as its own normal-level 5.4 block, the
//     policy's rules in order and the default response rule last.
//   - Rule (5.4): authentication lines are "Kerberos", "Preshared key : <key>"
//     and "Root CA : <DN> certmap:yes|no excludecaname:yes|no" (the rootca=
//     input form); an empty list prints NONE. At level=verbose the
//     FilterList Name and FilterAction Name lines are replaced by the full
//     verbose 5.1 and 5.2 blocks, each preceded by a blank line.
//   - Default response rule: ID DefaultRuleID (0) whatever the model holds,
//     so that `show rule id=0` (the grammar accepts 0 for show, while set and
//     delete rule start at 1) names it; filter list `<Dynamic>`, filter action
//     `Default Response`. Its verbose filter action block is synthetic:
//     name, Action NEGOTIATE SECURITY, QMPFS and the rule's security methods.
//   - Show all (5.5): policies (each as at level=verbose, i.e. with its
//     normal-level rule blocks), then every filter list verbose, then every
//     filter action verbose. No count lines.
//   - Count line: when Options.All is set (the selection was the keyword
//     `all`), list and table output end with a blank line and
//     "No. of Policies" / "No. of Rules" / "No. of FilterLists" /
//     "No. of FilterActions" : <n> (reference 5.3 hints at a trailer after
//     `show policy all`).
//   - Show store (5.6): one line, "The Current IPsec Store is Local Store"
//     (Persistent Store, Domain Store <domain>), no blank line.
//   - Show gpoassignedpolicy (5.6): always the local-only shape; the Local
//     Policy DN is the registry key under which Windows keeps local policies,
//     SOFTWARE\Policies\Microsoft\Windows\IPSec\Policy\Local\ipsecPolicy{GUID}.
//
// # Table format (format=table)
//
// See table.go: a blank line, a line of column titles, a line of dashes and
// one TAB-separated, space-padded row per object; wide=no truncates cells so
// that a row fits 80 columns; level=verbose filter lists show two physical
// lines per filter.
//
// # Dump
//
// See Dump: a `netsh -f` script that rebuilds the store.
//
// The JSON schema follows (it is written in json.go).
package render
