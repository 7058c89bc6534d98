package store

import (
	"time"

	"github.com/gonetsh/gonetsh/ipsec"
)

// Location names one of the policy stores.
type Location uint8

// Store locations (`set store location=...`).
const (
	Local Location = iota + 1
	Persistent
	Domain
)

func (l Location) String() string {
	switch l {
	case Local:
		return "local"
	case Persistent:
		return "persistent"
	case Domain:
		return "domain"
	}
	return "unknown"
}

// GUID is a braced, upper-case GUID string: {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}.
type GUID string

// State is the whole content of one store location. It is a plain value:
// Clone gives an independent deep copy, and every mutation goes through the
// methods in ops.go so that the invariants below hold.
//
// Invariants: names are unique per kind, compared case-insensitively; every
// rule's FilterList and FilterAction GUID names an object of this State; at
// most one policy has Assigned set; rule IDs are unique within a policy.
//
// A State handed to a DB.Update callback also carries the DB's clock and
// GUID source (see SetEnv); Clone copies the data only, so compare States
// with reflect.DeepEqual (or testify) through Clone.
type State struct {
	Policies      []Policy       `json:"policies"`
	FilterLists   []FilterList   `json:"filterlists"`
	FilterActions []FilterAction `json:"filteractions"`

	env *env // time stamps and GUIDs for new objects; nil: time.Now, RandomGUID
}

// Policy is an IPsec policy: IKE settings, ordered rules and the default
// response rule.
type Policy struct {
	GUID            GUID            `json:"guid"`
	Name            string          `json:"name"`
	Description     string          `json:"description"`
	Assigned        bool            `json:"assign"`
	PollingInterval int             `json:"pollinginterval"` // minutes
	MMPFS           bool            `json:"mmpfs"`
	QMPerMM         int             `json:"qmpermm"`    // 0 = unlimited
	MMLifetime      int             `json:"mmlifetime"` // minutes
	MMOffers        []ipsec.MMOffer `json:"mmsecmethods"`
	ISAKMPGUID      GUID            `json:"isakmpguid"`
	DefaultRule     Rule            `json:"defaultrule"`
	Rules           []Rule          `json:"rules"`
	Modified        time.Time       `json:"lastmodified"`
}

// Rule binds a filter list to a filter action with authentication methods.
// For the default response rule, Default is set, FilterList and FilterAction
// are empty (shown as <Dynamic> / Default Response) and QMPFS and QMOffers
// hold the security methods of its built-in negotiate action.
type Rule struct {
	GUID         GUID               `json:"guid"`
	ID           int                `json:"id"`
	Name         string             `json:"name"`
	Description  string             `json:"description"`
	FilterList   GUID               `json:"filterlist,omitempty"`
	FilterAction GUID               `json:"filteraction,omitempty"`
	Tunnel       ipsec.Address      `json:"tunnel"` // zero: transport mode
	ConnType     ipsec.ConnType     `json:"conntype"`
	Active       bool               `json:"activate"`
	Auth         []ipsec.AuthMethod `json:"auth"`
	Default      bool               `json:"default,omitempty"`
	QMPFS        bool               `json:"qmpfs,omitempty"`
	QMOffers     []ipsec.QMOffer    `json:"qmsecmethods,omitempty"`
	Modified     time.Time          `json:"lastmodified"`
}

// FilterList is a named, ordered list of filters shared by rules.
type FilterList struct {
	GUID        GUID      `json:"guid"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Filters     []Filter  `json:"filters"`
	Modified    time.Time `json:"lastmodified"`
}

// Filter is one traffic selector of a filter list.
type Filter struct {
	Description string         `json:"description"`
	Mirrored    bool           `json:"mirrored"`
	Src         ipsec.Address  `json:"srcaddr"`
	SrcMask     ipsec.Mask     `json:"srcmask"`
	Dst         ipsec.Address  `json:"dstaddr"`
	DstMask     ipsec.Mask     `json:"dstmask"`
	Protocol    ipsec.Protocol `json:"protocol"`
	SrcPort     uint16         `json:"srcport"`
	DstPort     uint16         `json:"dstport"`
}

// FilterAction says what happens to traffic that a rule's filters match.
type FilterAction struct {
	GUID        GUID            `json:"guid"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Action      ipsec.Action    `json:"action"`
	QMPFS       bool            `json:"qmpfs"`
	InPass      bool            `json:"inpass"`
	Soft        bool            `json:"soft"`
	Offers      []ipsec.QMOffer `json:"qmsecmethods"`
	Modified    time.Time       `json:"lastmodified"`
}
