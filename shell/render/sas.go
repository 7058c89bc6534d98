package render

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
)

// `dynamic show mmsas` and `show qmsas` (reference 5.8). Choices where
// the reference is a recollection [R]:
//
//   - List format: a title "Main Mode SAs at <time>" / "Quick Mode SAs at
//     <time>" (TimeLayout, the time of the command), then per SA a blank
//     line and its block, then a blank line and "<n> Main Mode SA(s)" /
//     "<n> Quick Mode SA(s)".
//   - Main mode block: Cookie Pair (initiator:responder, 16 lower-case hex
//     digits each), Sec Methods "<cipher>/<hash>/<group>/<lifetime secs>"
//     with the netsh spellings of mmsecmethods: 3DES/SHA1/2/28800, and for
//     AES-256, SHA-256 and the 2048-bit group AES256/SHA256/3/28800 (group
//     14 is netsh's 3, as in mmsecmethods; other groups print their IANA
//     number), Auth Mode (Kerberos, Preshared key, Certificate), Source =
//     this host and Destination = the peer, each "<ip>, port <port>"
//     whoever initiated.
//   - Quick mode: one SA pair of the negotiator prints as two blocks, the
//     outbound SA (the pair's selector) and then the inbound one (the
//     selector reversed); the count counts blocks. A block: "Transport
//     Filter" or "Tunnel Filter", Source Address and Destination Address
//     as show qmfilter prints prefixes, Protocol, Source Port, Destination
//     Port (ANY for 0), for tunnels Tunnel Source and Tunnel Destination
//     (the outer addresses in the block's direction), Direction, "Offer
//     Used" and its lines; the AH line only when AH is used.
//   - Table format (format=table, never truncated): the title line, a
//     blank line, a table as table.go writes it, a blank line and the
//     count line. Columns: Cookie Pair | Sec Methods | Auth Mode | Source
//     | Destination; quick mode: Filter (Transport, Tunnel) | Source |
//     Destination | Protocol | Src Port | Dst Port | Direction | ESP
//     Integrity | ESP Encryption | AH.
//   - format=json: {"mmsas":[...]} / {"qmsas":[...]} (see jsonMMSA,
//     jsonQMSA), an empty list when there is none.
//   - No SAs (list and table): the shell answers ERR IPsec[05070] "No Main
//     Mode SAs in SPD." / ERR IPsec[05071] "No Quick Mode SAs in SPD." and
//     the command fails, as `show policy all` does on an empty store;
//     `show all` prints the same text under its heading, without failing.

// Format is the format= of a dynamic show command.
type Format uint8

// Formats; the zero value is list.
const (
	FormatList Format = iota
	FormatTable
	FormatJSON
)

// SAOptions says how show mmsas|qmsas write.
type SAOptions struct {
	Format   Format
	At       time.Time      // the time in the title
	TimeZone *time.Location // of At; nil: as given
	// KeepQM selects quick mode blocks by their selector (in the block's
	// direction); nil keeps all.
	KeepQM func(ipsec.Selector) bool
}

// ErrNoSAs is what MMSAs and QMSAs return, writing nothing, when there is
// no SA (or no quick mode block kept) to list in list or table format.
var ErrNoSAs = errors.New("render: no SAs")

func (o SAOptions) title(what string) string {
	at := o.At
	if o.TimeZone != nil {
		at = at.In(o.TimeZone)
	}
	return what + " at " + at.Format(TimeLayout)
}

func cookies(i, r [8]byte) string { return hex.EncodeToString(i[:]) + ":" + hex.EncodeToString(r[:]) }

// SecMethods is the Sec Methods value of a main mode SA.
func SecMethods(o ipsec.MMOffer, life time.Duration) string {
	return fmt.Sprintf("%s/%s/%d/%d", o.Cipher, o.Hash, o.Group.Netsh(), int64(life/time.Second))
}

func authMode(k ipsec.AuthKind) string {
	switch k {
	case ipsec.AuthKerberos:
		return "Kerberos"
	case ipsec.AuthPSK:
		return "Preshared key"
	case ipsec.AuthRootCA:
		return "Certificate"
	}
	return k.String()
}

func endpoint(a netip.AddrPort) string {
	return fmt.Sprintf("%s, port %d", a.Addr(), a.Port())
}

// MMSAs writes show mmsas for sas (at least one, except in JSON).
func MMSAs(w io.Writer, sas []ipsec.MMSA, o SAOptions) error {
	if len(sas) == 0 && o.Format != FormatJSON {
		return ErrNoSAs
	}
	if o.Format == FormatJSON {
		doc := struct {
			MMSAs []jsonMMSA `json:"mmsas"`
		}{MMSAs: make([]jsonMMSA, len(sas))}
		for i, s := range sas {
			doc.MMSAs[i] = jsonMMSA{
				CookiePair: cookies(s.CookieI, s.CookieR), SecMethods: SecMethods(s.Offer, s.Lifetime),
				AuthMode: authMode(s.Auth), Source: s.Local.String(), Destination: s.Remote.String(),
				Initiator: s.Initiator, NATT: s.NATT, QuickModes: s.QuickModes, Created: rfc3339(s.Created),
			}
		}
		return writeJSON(w, doc)
	}
	var b out
	b.line(o.title("Main Mode SAs"))
	if o.Format == FormatTable {
		t := table{head: [][]string{{"Cookie Pair", "Sec Methods", "Auth Mode", "Source", "Destination"}}}
		for _, s := range sas {
			t.rows = append(t.rows, []string{cookies(s.CookieI, s.CookieR), SecMethods(s.Offer, s.Lifetime),
				authMode(s.Auth), endpoint(s.Local), endpoint(s.Remote)})
		}
		b.blank()
		t.write(&b, true)
	} else {
		for _, s := range sas {
			b.blank()
			b.field("Cookie Pair", cookies(s.CookieI, s.CookieR))
			b.field("Sec Methods", SecMethods(s.Offer, s.Lifetime))
			b.field("Auth Mode", authMode(s.Auth))
			b.field("Source", endpoint(s.Local))
			b.field("Destination", endpoint(s.Remote))
		}
	}
	b.blank()
	b.line(fmt.Sprintf("%d Main Mode SA(s)", len(sas)))
	return b.flush(w)
}

// jsonMMSA is one main mode SA in format=json.
type jsonMMSA struct {
	CookiePair  string `json:"cookiepair"`
	SecMethods  string `json:"secmethods"`
	AuthMode    string `json:"authmode"`
	Source      string `json:"source"`      // this host, ip:port
	Destination string `json:"destination"` // the peer, ip:port
	Initiator   bool   `json:"initiator"`
	NATT        bool   `json:"natt"`
	QuickModes  uint32 `json:"quickmodes"`
	Created     string `json:"created"`
}

// qmBlock is one direction of a quick mode SA pair.
type qmBlock struct {
	sa       *ipsec.QMSA
	sel      ipsec.Selector
	dir      ipsec.Direction
	src, dst netip.Addr // outer addresses in dir
}

func qmBlocks(sas []ipsec.QMSA) []qmBlock {
	bs := make([]qmBlock, 0, 2*len(sas))
	for i := range sas {
		s := &sas[i]
		bs = append(bs,
			qmBlock{s, s.Selector, ipsec.Outbound, s.Local.Addr(), s.Remote.Addr()},
			qmBlock{s, s.Selector.Reverse(), ipsec.Inbound, s.Remote.Addr(), s.Local.Addr()})
	}
	return bs
}

func (q *qmBlock) kind() string {
	if q.sa.Tunnel.IsValid() {
		return "Tunnel"
	}
	return "Transport"
}

func (q *qmBlock) esp() (integ, enc string) {
	if !q.sa.Offer.ESP {
		return "None", "None"
	}
	return q.sa.Offer.ESPAuth.String(), q.sa.Offer.ESPCipher.String()
}

func saPrefix(p netip.Prefix) string { return filterAddr(ipsec.Address{}, p) }

// QMSAs writes show qmsas for sas (at least one, except in JSON).
func QMSAs(w io.Writer, sas []ipsec.QMSA, o SAOptions) error {
	blocks := qmBlocks(sas)
	if o.KeepQM != nil {
		kept := blocks[:0]
		for _, q := range blocks {
			if o.KeepQM(q.sel) {
				kept = append(kept, q)
			}
		}
		blocks = kept
	}
	if len(blocks) == 0 && o.Format != FormatJSON {
		return ErrNoSAs
	}
	if o.Format == FormatJSON {
		doc := struct {
			QMSAs []jsonQMSA `json:"qmsas"`
		}{QMSAs: make([]jsonQMSA, len(blocks))}
		for i := range blocks {
			q := &blocks[i]
			integ, enc := q.esp()
			spi := q.sa.SPIOut
			if q.dir == ipsec.Inbound {
				spi = q.sa.SPIIn
			}
			j := jsonQMSA{
				Filter: strings.ToLower(q.kind()), Source: q.sel.Src.String(), Destination: q.sel.Dst.String(),
				Protocol: q.sel.Protocol.String(), SrcPort: q.sel.SrcPort, DstPort: q.sel.DstPort,
				Direction: q.dir.String(), ESPIntegrity: integ, ESPEncryption: enc, AH: q.sa.Offer.AH.String(),
				SPI: fmt.Sprintf("0x%08x", spi), Encap: q.sa.Encap, Created: rfc3339(q.sa.Created),
			}
			if q.sa.Tunnel.IsValid() {
				j.TunnelSource, j.TunnelDestination = q.src.String(), q.dst.String()
			}
			doc.QMSAs[i] = j
		}
		return writeJSON(w, doc)
	}
	var b out
	b.line(o.title("Quick Mode SAs"))
	if o.Format == FormatTable {
		t := table{head: [][]string{{"Filter", "Source", "Destination", "Protocol", "Src Port", "Dst Port",
			"Direction", "ESP Integrity", "ESP Encryption", "AH"}}}
		for i := range blocks {
			q := &blocks[i]
			integ, enc := q.esp()
			t.rows = append(t.rows, []string{q.kind(), saPrefix(q.sel.Src), saPrefix(q.sel.Dst),
				q.sel.Protocol.String(), port(q.sel.SrcPort), port(q.sel.DstPort), direction(q.dir),
				integ, enc, q.sa.Offer.AH.String()})
		}
		b.blank()
		t.write(&b, true)
	} else {
		for i := range blocks {
			q := &blocks[i]
			b.blank()
			b.line(q.kind() + " Filter")
			b.field("Source Address", saPrefix(q.sel.Src))
			b.field("Destination Address", saPrefix(q.sel.Dst))
			b.field("Protocol", q.sel.Protocol.String())
			b.field("Source Port", port(q.sel.SrcPort))
			b.field("Destination Port", port(q.sel.DstPort))
			if q.sa.Tunnel.IsValid() {
				b.field("Tunnel Source", q.src.String())
				b.field("Tunnel Destination", q.dst.String())
			}
			b.field("Direction", direction(q.dir))
			b.line("Offer Used")
			integ, enc := q.esp()
			b.field(" ESP Algos  Integrity", integ)
			b.field(" ESP Algos  Encryption", enc)
			if q.sa.Offer.AH != ipsec.HashNone {
				b.field(" AH Algos", q.sa.Offer.AH.String())
			}
		}
	}
	b.blank()
	b.line(strconv.Itoa(len(blocks)) + " Quick Mode SA(s)")
	return b.flush(w)
}

// jsonQMSA is one direction of a quick mode SA pair in format=json.
type jsonQMSA struct {
	Filter            string `json:"filter"` // transport, tunnel
	Source            string `json:"source"`
	Destination       string `json:"destination"`
	Protocol          string `json:"protocol"`
	SrcPort           uint16 `json:"srcport"`
	DstPort           uint16 `json:"dstport"`
	TunnelSource      string `json:"tunnelsource,omitempty"`
	TunnelDestination string `json:"tunneldestination,omitempty"`
	Direction         string `json:"direction"` // outbound, inbound
	ESPIntegrity      string `json:"espintegrity"`
	ESPEncryption     string `json:"espencryption"`
	AH                string `json:"ah"`
	SPI               string `json:"spi"`
	Encap             bool   `json:"encap"` // UDP encapsulation (NAT-T)
	Created           string `json:"created"`
}

// SAHeading writes the heading show all puts before its SA parts (see
// AllSection).
func SAHeading(w io.Writer, mm bool) error {
	if mm {
		return AllSection(w, "Main Mode SAs")
	}
	return AllSection(w, "Quick Mode SAs")
}
