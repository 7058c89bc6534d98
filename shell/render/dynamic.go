package render

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

// The `ipsec dynamic` show layouts (reference 5.7, 5.9, 5.10). Like the
// static ones they are pure: the shell selects the objects, these write
// them. List labels are padded to 23 columns except the statistics, which
// are padded to 32.
//
// Choices where the reference is only a recollection [R]:
//
//   - show config (5.7) prints exactly the reference block, without a
//     leading blank line; boot exemptions print on one line, space
//     separated, as `set config` takes them (TCP:0:22:inbound).
//   - show stats (5.9): a title, a dashed rule as long as the title, one
//     "%-32s: %d" line per counter in the reference order; with both
//     blocks, one blank line between them.
//   - show mmpolicy: per policy, a blank line, "Policy Name",
//     "Soft SA Expiration Time" (seconds, 0 = none), a blank line and a
//     methods table: Encryption, Integrity, DH Group (Low(1), Medium(2),
//     DH2048(3)), Lifetime (secs), QMperMM (0 = unlimited).
//   - show qmpolicy: per policy, a blank line, "Policy Name", a blank line
//     and an offers table: Encryption and Integrity (ESP; None without
//     ESP), AH (None without AH), Lifetime (Kbytes/secs) with the defaults
//     100000/3600 filled in, PFS DH Group (None; "Main Mode" for PFS in the
//     main mode group).
//   - show mmfilter / qmfilter: a blank line, "Generic Filters" or
//     "Specific Filters", a dashed rule, then per filter a blank line and
//     its block, then a blank line and "<n> Generic Filter(s)" /
//     "<n> Specific Filter(s)"; with no type= the generic section comes
//     first. Block lines: Filter name, Connection Type (ALL, LAN, DIALUP),
//     Source Address, Destination Address, (qm) Protocol, Source Port,
//     Destination Port, (tunnel filters) Tunnel Destination, Direction
//     (Outbound, Inbound), (qm) Inbound Action and Outbound Action (PERMIT,
//     BLOCK, NEGOTIATE), Mirrored (YES, NO), Policy name (NONE for permit
//     and block), (mm) Auth Methods, and Weight on specific filters only.
//   - Addresses: a configured side of a generic filter prints as static's
//     show does (<My IP Address>, <DNS Servers>, ...); a concrete prefix
//     prints as "<address> (<dotted mask>)", 0.0.0.0/0 as
//     "<Any IP Address> (0.0.0.0)".
//   - Auth Methods: "Kerberos", "Preshared key" (the key is never shown),
//     "Root CA (<DN>)", separated by ", ".
//   - show rule: per dynamic rule a "Transport Rule" / "Tunnel Rule"
//     section with its generic quick mode then main mode filter blocks,
//     ending with "<n> Rule(s)" (DynamicRules).
//   - show all: show config's block, then "Main Mode Policies", "Quick
//     Mode Policies", "Main Mode Filters", "Quick Mode Filters", "Main Mode
//     SAs" and "Quick Mode SAs" headings underlined with '=' (AllSection,
//     SAHeading), each followed by what the show command of that object
//     prints (for the SAs: sas.go), then both statistics blocks.
//   - show config adds, after the seven lines of 5.7, "IKE log file" with
//     the file `ikelogging 1` writes (cmd/netsh: <store dir>/ike.log),
//     whatever ikelogging's value; an engine without one omits the line.

// statsWidth is the label width of show stats (reference 5.9).
const statsWidth = 32

// Config writes `dynamic show config` (reference 5.7) and, when ikeLog is
// not empty, the IKE log file line.
func Config(w io.Writer, c store.Config, ikeLog string) error {
	var b out
	b.line("IPsec Configuration Parameters")
	b.line("------------------------------")
	b.field("IPsecDiagnostics", strconv.Itoa(c.IPsecDiagnostics))
	b.field("IKElogging", strconv.Itoa(c.IKELogging))
	b.field("StrongCRLCheck", strconv.Itoa(c.StrongCRLCheck))
	b.field("IPsecloginterval", strconv.Itoa(c.IPsecLogInterval))
	b.field("IPsecexempt", strconv.Itoa(c.IPsecExempt))
	b.field("IPsec boot mode", strings.ToUpper(c.BootMode.String()))
	ex := "NONE"
	if len(c.BootExemptions) > 0 {
		parts := make([]string, len(c.BootExemptions))
		for i, e := range c.BootExemptions {
			parts[i] = e.String()
		}
		ex = strings.Join(parts, " ")
	}
	b.field("IPsec boot exemptions", ex)
	if ikeLog != "" {
		b.field("IKE log file", ikeLog)
	}
	return b.flush(w)
}

type counter struct {
	label string
	v     uint64
}

// IKECounters returns the labels and values of the IKE block of show stats
// in reference order.
func ikeCounters(s *ipsec.IKEStats) []counter {
	return []counter{
		{"Active Acquire", s.ActiveAcquire},
		{"Active Receive", s.ActiveReceive},
		{"Acquire Failures", s.AcquireFailures},
		{"Receive Failures", s.ReceiveFailures},
		{"Send Failures", s.SendFailures},
		{"Acquire Heap Size", s.AcquireHeapSize},
		{"Receive Heap Size", s.ReceiveHeapSize},
		{"Authentication Failures", s.AuthenticationFailures},
		{"Negotiation Failures", s.NegotiationFailures},
		{"Invalid Cookies Received", s.InvalidCookiesReceived},
		{"Total Acquire", s.TotalAcquire},
		{"Total Get SPI", s.TotalGetSPI},
		{"Key Additions", s.KeyAdditions},
		{"Key Updates", s.KeyUpdates},
		{"Get SPI Failures", s.GetSPIFailures},
		{"Key Addition Failures", s.KeyAdditionFailures},
		{"Key Update Failures", s.KeyUpdateFailures},
		{"ISADB List Size", s.ISADBListSize},
		{"Connection List Size", s.ConnectionListSize},
		{"IKE Main Mode", s.IKEMainMode},
		{"IKE Quick Mode", s.IKEQuickMode},
		{"Soft Associations", s.SoftAssociations},
		{"Invalid Packets Received", s.InvalidPacketsReceived},
	}
}

func ipsecCounters(s *ipsec.IPsecStats) []counter {
	return []counter{
		{"Active Security Associations", s.ActiveSecurityAssociations},
		{"Offloaded Security Associations", s.OffloadedSecurityAssociations},
		{"Pending Key Operations", s.PendingKeyOperations},
		{"Key Additions", s.KeyAdditions},
		{"Key Deletions", s.KeyDeletions},
		{"Rekeys", s.Rekeys},
		{"Active Tunnels", s.ActiveTunnels},
		{"Bad SPI Packets", s.BadSPIPackets},
		{"Packets Not Decrypted", s.PacketsNotDecrypted},
		{"Packets Not Authenticated", s.PacketsNotAuthenticated},
		{"Packets With Replay Detection", s.PacketsWithReplayDetection},
		{"Confidential Bytes Sent", s.ConfidentialBytesSent},
		{"Confidential Bytes Received", s.ConfidentialBytesReceived},
		{"Authenticated Bytes Sent", s.AuthenticatedBytesSent},
		{"Authenticated Bytes Received", s.AuthenticatedBytesReceived},
		{"Transport Bytes Sent", s.TransportBytesSent},
		{"Transport Bytes Received", s.TransportBytesReceived},
		{"Bytes Sent In Tunnels", s.BytesSentInTunnels},
		{"Bytes Received In Tunnels", s.BytesReceivedInTunnels},
		{"Offloaded Bytes Sent", s.OffloadedBytesSent},
		{"Offloaded Bytes Received", s.OffloadedBytesReceived},
	}
}

// Stats writes `dynamic show stats` (reference 5.9): the IKE block when ike
// is set, the IPsec block when ipsec is set.
func Stats(w io.Writer, s ipsec.Stats, ike, ipsecBlock bool) error {
	var b out
	block := func(title string, cs []counter) {
		b.line(title)
		b.line(strings.Repeat("-", len(title)))
		for _, c := range cs {
			fmt.Fprintf(&b, "%-*s: %d\n", statsWidth, c.label, c.v)
		}
	}
	if ike {
		block("IKE Main Mode Statistics", ikeCounters(&s.IKE))
	}
	if ike && ipsecBlock {
		b.blank()
	}
	if ipsecBlock {
		block("IPsec Quick Mode Statistics", ipsecCounters(&s.IPsec))
	}
	return b.flush(w)
}

// methodTable writes rows of left-aligned columns, each as wide as its widest
// cell plus two spaces (none after the last), under a title row and a
// dashed rule.
func methodTable(b *out, titles []string, rows [][]string) {
	widths := make([]int, len(titles))
	for i, t := range titles {
		widths[i] = len(t)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	row := func(cells []string) {
		var l strings.Builder
		for i, c := range cells {
			if i == len(cells)-1 {
				l.WriteString(c)
				break
			}
			fmt.Fprintf(&l, "%-*s  ", widths[i], c)
		}
		b.line(l.String())
	}
	row(titles)
	dashes := make([]string, len(titles))
	for i := range titles {
		dashes[i] = strings.Repeat("-", widths[i])
	}
	row(dashes)
	for _, r := range rows {
		row(r)
	}
}

// MMPolicies writes `dynamic show mmpolicy`.
func MMPolicies(w io.Writer, pols []ipsec.MMPolicy) error {
	var b out
	for _, p := range pols {
		b.blank()
		b.field("Policy Name", p.Name)
		b.field("Soft SA Expiration Time", strconv.FormatUint(uint64(p.SoftSAExpiration), 10))
		b.blank()
		rows := make([][]string, len(p.Offers))
		for i, o := range p.Offers {
			rows[i] = []string{o.Cipher.String(), o.Hash.String(), o.Group.DisplayName(),
				strconv.FormatUint(uint64(p.Lifetime), 10), strconv.FormatUint(uint64(p.QMPerMM), 10)}
		}
		methodTable(&b, []string{"Encryption", "Integrity", "DH Group", "Lifetime (secs)", "QMperMM"}, rows)
	}
	return b.flush(w)
}

// QMPolicies writes `dynamic show qmpolicy`.
func QMPolicies(w io.Writer, pols []ipsec.QMPolicy) error {
	var b out
	for _, p := range pols {
		b.blank()
		b.field("Policy Name", p.Name)
		b.blank()
		pfs := "None"
		switch {
		case p.PFS && p.PFSGroup == ipsec.DHNone:
			pfs = "Main Mode"
		case p.PFS:
			pfs = p.PFSGroup.DisplayName()
		}
		rows := make([][]string, len(p.Offers))
		for i, o := range p.Offers {
			enc, integ := "None", "None"
			if o.ESP {
				enc, integ = o.ESPCipher.String(), o.ESPAuth.String()
			}
			ah := "None"
			if o.AH != ipsec.HashNone {
				ah = o.AH.String()
			}
			kb, sec := o.LifeKB, o.LifeSec
			if kb == 0 {
				kb = ipsec.DefaultQMLifeKB
			}
			if sec == 0 {
				sec = ipsec.DefaultQMLifeSec
			}
			rows[i] = []string{enc, integ, ah, fmt.Sprintf("%d/%d", kb, sec), pfs}
		}
		methodTable(&b, []string{"Encryption", "Integrity", "AH", "Lifetime (Kbytes/secs)", "PFS DH Group"}, rows)
	}
	return b.flush(w)
}

// FilterSections says which sections of show mmfilter / qmfilter to write.
type FilterSections struct {
	Generic, Specific bool
}

// MMFilters writes `dynamic show mmfilter`: the generic section with
// generic, the specific one with specific, as sec selects.
func MMFilters(w io.Writer, generic, specific []ipsec.MMFilter, sec FilterSections) error {
	return filterSections(w, generic, specific, sec, mmFilterBlock)
}

// QMFilters writes `dynamic show qmfilter`; see MMFilters.
func QMFilters(w io.Writer, generic, specific []ipsec.QMFilter, sec FilterSections) error {
	return filterSections(w, generic, specific, sec, qmFilterBlock)
}

// filterSections writes the Generic and Specific Filters sections that sec
// selects, each filter by block, each section closed by its count line.
func filterSections[F any](w io.Writer, generic, specific []F, sec FilterSections, block func(*out, *F)) error {
	var b out
	section := func(title string, fs []F) {
		sectionHead(&b, title)
		for i := range fs {
			b.blank()
			block(&b, &fs[i])
		}
		b.blank()
		b.line(fmt.Sprintf("%d %s(s)", len(fs), strings.TrimSuffix(title, "s")))
	}
	if sec.Generic {
		section("Generic Filters", generic)
	}
	if sec.Specific {
		section("Specific Filters", specific)
	}
	return b.flush(w)
}

func sectionHead(b *out, title string) {
	b.blank()
	b.line(title)
	b.line(strings.Repeat("-", len(title)))
}

func mmFilterBlock(b *out, f *ipsec.MMFilter) {
	b.field("Filter name", f.Name)
	b.field("Connection Type", strings.ToUpper(f.ConnType.String()))
	b.field("Source Address", filterAddr(f.SrcAddr, f.Selector.Src))
	b.field("Destination Address", filterAddr(f.DstAddr, f.Selector.Dst))
	b.field("Direction", direction(f.Direction))
	b.field("Policy name", orNone(f.MMPolicy))
	b.field("Auth Methods", authMethods(f.Auth))
	if !f.Generic {
		b.field("Weight", strconv.FormatUint(uint64(f.Weight), 10))
	}
}

func qmFilterBlock(b *out, f *ipsec.QMFilter) {
	b.field("Filter name", f.Name)
	b.field("Connection Type", strings.ToUpper(f.ConnType.String()))
	b.field("Source Address", filterAddr(f.SrcAddr, f.Selector.Src))
	b.field("Destination Address", filterAddr(f.DstAddr, f.Selector.Dst))
	b.field("Protocol", f.Selector.Protocol.String())
	b.field("Source Port", port(f.Selector.SrcPort))
	b.field("Destination Port", port(f.Selector.DstPort))
	if f.Tunnel.IsValid() {
		b.field("Tunnel Destination", f.Tunnel.String())
	}
	b.field("Direction", direction(f.Direction))
	b.field("Inbound Action", strings.ToUpper(f.InboundAction.String()))
	b.field("Outbound Action", strings.ToUpper(f.OutboundAction.String()))
	b.field("Mirrored", yesNo(f.Mirrored))
	b.field("Policy name", orNone(f.QMPolicy))
	if !f.Generic {
		b.field("Weight", strconv.FormatUint(uint64(f.Weight), 10))
	}
}

// filterAddr is an address line: the configured side while the prefix is
// not known (me and server types of a generic filter), else the prefix.
func filterAddr(a ipsec.Address, p netip.Prefix) string {
	if !p.IsValid() {
		return a.Display(ipsec.DefaultMask(a))
	}
	mask := ipsec.Mask(p.Bits()).Dotted()
	if p.Bits() == 0 {
		return "<Any IP Address> (" + mask + ")"
	}
	return p.Addr().String() + " (" + mask + ")"
}

func direction(d ipsec.Direction) string {
	switch d {
	case ipsec.Outbound:
		return "Outbound"
	case ipsec.Inbound:
		return "Inbound"
	}
	return d.String()
}

func authMethods(ms []ipsec.AuthMethod) string {
	if len(ms) == 0 {
		return "NONE"
	}
	parts := make([]string, len(ms))
	for i, m := range ms {
		switch m.Kind {
		case ipsec.AuthKerberos:
			parts[i] = "Kerberos"
		case ipsec.AuthPSK:
			parts[i] = "Preshared key"
		case ipsec.AuthRootCA:
			parts[i] = "Root CA (" + m.CA + ")"
		default:
			parts[i] = m.Kind.String()
		}
	}
	return strings.Join(parts, ", ")
}

// RuleFilters is one rule of `dynamic show rule`: its generic filters.
type RuleFilters struct {
	Tunnel bool
	QM     []ipsec.QMFilter
	MM     []ipsec.MMFilter
}

// DynamicRules writes `dynamic show rule` (reference 5.10): per rule a blank
// line, "Transport Rule" or "Tunnel Rule" and a dashed rule, then its
// generic quick mode filters and its generic main mode filters (none for
// a rule that only permits and blocks), each after a blank line as show
// qmfilter / mmfilter print them; then a blank line and "<n> Rule(s)".
func DynamicRules(w io.Writer, rules []RuleFilters) error {
	var b out
	for _, r := range rules {
		title := "Transport Rule"
		if r.Tunnel {
			title = "Tunnel Rule"
		}
		sectionHead(&b, title)
		for i := range r.QM {
			b.blank()
			qmFilterBlock(&b, &r.QM[i])
		}
		for i := range r.MM {
			b.blank()
			mmFilterBlock(&b, &r.MM[i])
		}
	}
	b.blank()
	b.line(fmt.Sprintf("%d Rule(s)", len(rules)))
	return b.flush(w)
}

// AllSection writes the heading show all puts before each part: a blank
// line, the title and a line of '=' as long as it.
func AllSection(w io.Writer, title string) error {
	var b out
	b.blank()
	b.line(title)
	b.line(strings.Repeat("=", len(title)))
	return b.flush(w)
}
