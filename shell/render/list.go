package render

import (
	"fmt"
	"strconv"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

// This file holds the list-format blocks (reference 5.1-5.6). A block
// writes its lines without the blank line that precedes it.

// filterListBlock writes the 5.1 block; verbose adds Filter(s).
func filterListBlock(b *out, fl *store.FilterList, o Options, verbose bool) {
	b.field("FilterList Name", fl.Name)
	b.field("Description", orNone(fl.Description))
	b.field("Store", o.storeName())
	b.field("Last Modified", o.stamp(fl.Modified))
	b.field("GUID", string(fl.GUID))
	b.field("No. of Filters", strconv.Itoa(len(fl.Filters)))
	if !verbose || len(fl.Filters) == 0 {
		return
	}
	b.line("Filter(s)")
	b.line("---------")
	for i := range fl.Filters {
		if i > 0 {
			b.blank()
		}
		filterBlock(b, &fl.Filters[i])
	}
}

func filterBlock(b *out, f *store.Filter) {
	b.field("Description", orNone(f.Description))
	b.field("Mirrored", yesNo(f.Mirrored))
	b.field("Source IP Address", f.Src.Display(f.SrcMask))
	b.field("Source Mask", f.SrcMask.Dotted())
	b.field("Source DNS Name", dnsName(f.Src, f.SrcMask))
	b.field("Destination IP Address", f.Dst.Display(f.DstMask))
	b.field("Destination Mask", f.DstMask.Dotted())
	b.field("Destination DNS Name", dnsName(f.Dst, f.DstMask))
	b.field("Protocol", f.Protocol.String())
	b.field("Source Port", port(f.SrcPort))
	b.field("Destination Port", port(f.DstPort))
}

// dnsName is the DNS Name line: the name as typed for a DNS name, else the
// same text as the address line.
func dnsName(a ipsec.Address, m ipsec.Mask) string {
	if a.Kind == ipsec.AddrDNSName {
		return a.Name
	}
	return a.Display(m)
}

func port(p uint16) string {
	if p == 0 {
		return "ANY"
	}
	return strconv.Itoa(int(p))
}

// filterActionBlock writes the 5.2 block; verbose adds Security Methods to
// a negotiate action.
func filterActionBlock(b *out, fa *store.FilterAction, o Options, verbose bool) {
	b.field("FilterAction Name", fa.Name)
	b.field("Description", orNone(fa.Description))
	b.field("Store", o.storeName())
	b.field("Last Modified", o.stamp(fa.Modified))
	b.field("GUID", string(fa.GUID))
	b.field("Action", actionName(fa.Action))
	if fa.Action != ipsec.ActionNegotiate {
		return
	}
	b.field("QMPFS", yesNo(fa.QMPFS))
	b.field("Inbound Passthru", yesNo(fa.InPass))
	// The label is longer than the 23-column field; reference 5.2 prints
	// it followed by " : ".
	b.line("AllowUnsecuredCommunication : " + yesNo(fa.Soft))
	if verbose {
		securityMethods(b, fa.Offers)
	}
}

// defaultActionBlock is the verbose filter action of the default response
// rule, which has no filter action object of its own.
func defaultActionBlock(b *out, r *store.Rule) {
	b.field("FilterAction Name", defaultAction)
	b.field("Action", actionName(ipsec.ActionNegotiate))
	b.field("QMPFS", yesNo(r.QMPFS))
	securityMethods(b, r.QMOffers)
}

func securityMethods(b *out, offers []ipsec.QMOffer) {
	b.line("Security Methods")
	b.line("----------------")
	if len(offers) == 0 {
		b.line("NONE")
	}
	for _, q := range offers {
		b.line(qmOfferLine(q))
	}
}

// qmOfferLine is "ESP[3DES,SHA1]  100000Kbytes/3600secs": the offer without
// lifetimes, two spaces, and the effective lifetimes.
func qmOfferLine(q ipsec.QMOffer) string {
	kb, sec := q.LifeKB, q.LifeSec
	if kb == 0 {
		kb = ipsec.DefaultQMLifeKB
	}
	if sec == 0 {
		sec = ipsec.DefaultQMLifeSec
	}
	q.LifeKB, q.LifeSec = 0, 0
	return fmt.Sprintf("%s  %dKbytes/%dsecs", q, kb, sec)
}

// policyBlock writes the 5.3 block (without the rules of verbose level).
func policyBlock(b *out, p *store.Policy, o Options) {
	b.field("Policy Name", p.Name)
	b.field("Description", orNone(p.Description))
	b.field("Store", o.storeName())
	b.field("Last Modified", o.stamp(p.Modified))
	b.field("GUID", string(p.GUID))
	b.field("Assigned", yesNo(p.Assigned))
	b.field("Master PFS", yesNo(p.MMPFS))
	b.field("Polling Interval", fmt.Sprintf("%d minutes", p.PollingInterval))
	b.field("Main Mode Life Time", fmt.Sprintf("%d minutes / %d Quick Mode sessions", p.MMLifetime, p.QMPerMM))
	b.line("Main Mode Security Methods")
	b.line("--------------------------")
	b.line("Encryption Integrity DH Group")
	for _, m := range p.MMOffers {
		b.line(fmt.Sprintf("%-10s %-9s %s", m.Cipher, m.Hash, m.Group.DisplayName()))
	}
	b.field("No. of Rules", strconv.Itoa(len(p.Rules)+1))
}

// policyVerbose writes a policy followed by its rules, each block preceded
// by a blank line.
func policyVerbose(b *out, st *store.State, p *store.Policy, o Options) {
	b.blank()
	policyBlock(b, p, o)
	for _, r := range policyRules(p) {
		b.blank()
		ruleBlock(b, st, &r, o, false)
	}
}

// ruleBlock writes the 5.4 block; verbose replaces the filter list and
// filter action lines with their full verbose blocks.
func ruleBlock(b *out, st *store.State, r *store.Rule, o Options, verbose bool) {
	b.field("Rule ID", fmt.Sprintf("%d, GUID = %s", ruleID(r), r.GUID))
	b.field("Rule Name", orNone(r.Name))
	b.field("Description", orNone(r.Description))
	tunnel := "NONE"
	if r.Tunnel.IsValid() {
		tunnel = r.Tunnel.Display(32)
	}
	b.field("Tunnel Address", tunnel)
	b.field("Connection Type", connName(r.ConnType))
	b.field("Activated", yesNo(r.Active))
	b.line("Authentication Methods")
	b.line("----------------------")
	if len(r.Auth) == 0 {
		b.line("NONE")
	}
	for _, a := range r.Auth {
		switch a.Kind {
		case ipsec.AuthKerberos:
			b.line("Kerberos")
		case ipsec.AuthPSK:
			b.field("Preshared key", a.PSK)
		case ipsec.AuthRootCA:
			b.field("Root CA", fmt.Sprintf("%s certmap:%s excludecaname:%s", a.CA, yn(a.CertMap), yn(a.ExcludeCAName)))
		}
	}
	if !verbose {
		b.field("FilterList Name", filterListName(st, r))
		b.field("FilterAction Name", filterActionName(st, r))
		return
	}
	b.blank()
	if fl := findFilterList(st, r.FilterList); fl != nil && !r.Default {
		filterListBlock(b, fl, o, true)
	} else {
		b.field("FilterList Name", filterListName(st, r))
	}
	b.blank()
	switch fa := findFilterAction(st, r.FilterAction); {
	case r.Default:
		defaultActionBlock(b, r)
	case fa != nil:
		filterActionBlock(b, fa, o, true)
	default:
		b.field("FilterAction Name", filterActionName(st, r))
	}
}

// yn is the lower-case yes/no of netsh input (rootca flags).
func yn(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

// countLine ends an `all` selection.
func countLine(b *out, o Options, label string, n int) {
	if o.All {
		b.blank()
		b.field(label, strconv.Itoa(n))
	}
}
