package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/gonetsh/gonetsh/ipsec"
	"github.com/gonetsh/gonetsh/store"
)

// HostInfo is what Compile needs to know about this host; the engine
// gathers it (and re-compiles when it changes). Addresses that are not
// IPv4 or repeat an earlier one are ignored.
type HostInfo struct {
	Addrs       []netip.Addr // this host's addresses: `me`
	DNSServers  []netip.Addr // server type DNS
	WINSServers []netip.Addr // server type WINS
	DHCPServer  netip.Addr   // server type DHCP; invalid: none
	Gateway     netip.Addr   // server type GATEWAY; invalid: none
}

// SPD is the compiled assigned policy. It is read-only once Compile returns
// it, and shares no memory with the State it came from; its filters share
// authentication and offer slices among themselves.
type SPD struct {
	// PolicyGUID and PolicyName identify the assigned policy; both are
	// empty when no policy is assigned (and every list is empty).
	PolicyGUID store.GUID
	PolicyName string

	MMPolicies []ipsec.MMPolicy
	QMPolicies []ipsec.QMPolicy

	// MMFilters and QMFilters are the generic filters in policy order;
	// MMSpecific and QMSpecific the specific ones in rank order. See the
	// package documentation.
	MMFilters, MMSpecific []ipsec.MMFilter
	QMFilters, QMSpecific []ipsec.QMFilter
}

// QMPolicy returns the quick mode policy called name.
func (s *SPD) QMPolicy(name string) (ipsec.QMPolicy, bool) {
	if s != nil {
		for _, p := range s.QMPolicies {
			if p.Name == name {
				return p, true
			}
		}
	}
	return ipsec.QMPolicy{}, false
}

// MMPolicy returns the main mode policy called name.
func (s *SPD) MMPolicy(name string) (ipsec.MMPolicy, bool) {
	if s != nil {
		for _, p := range s.MMPolicies {
			if p.Name == name {
				return p, true
			}
		}
	}
	return ipsec.MMPolicy{}, false
}

// Equal reports whether s and o hold the same policies and filters in the
// same order. A nil SPD equals an empty one.
func (s *SPD) Equal(o *SPD) bool {
	if s == nil {
		s = &SPD{}
	}
	if o == nil {
		o = &SPD{}
	}
	return s.PolicyGUID == o.PolicyGUID && s.PolicyName == o.PolicyName &&
		slices.EqualFunc(s.MMPolicies, o.MMPolicies, ipsec.MMPolicy.Equal) &&
		slices.EqualFunc(s.QMPolicies, o.QMPolicies, ipsec.QMPolicy.Equal) &&
		slices.EqualFunc(s.MMFilters, o.MMFilters, ipsec.MMFilter.Equal) &&
		slices.EqualFunc(s.MMSpecific, o.MMSpecific, ipsec.MMFilter.Equal) &&
		slices.Equal(s.QMFilters, o.QMFilters) &&
		slices.Equal(s.QMSpecific, o.QMSpecific)
}

// Errors of Compile, wrapped in a *RuleError.
var (
	ErrMirroredTunnel = errors.New("a tunnel rule has a mirrored filter; a tunnel needs one rule with a non-mirrored filter list per direction")
	ErrUnresolved     = errors.New("a DNS name has no resolved address")
	ErrFilter         = errors.New("invalid filter")
	ErrReference      = errors.New("missing filter list or filter action")
)

// RuleError is a Compile failure in one rule of the assigned policy.
type RuleError struct {
	Policy string // policy name
	Rule   string // rule name, or "Rule <id>"
	Filter int    // 1-based position in the filter list; 0: the rule itself
	Err    error  // one of the Err* sentinels, possibly wrapped
}

func (e *RuleError) Error() string {
	if e.Filter > 0 {
		return fmt.Sprintf("agent: policy %q, rule %q, filter %d: %v", e.Policy, e.Rule, e.Filter, e.Err)
	}
	return fmt.Sprintf("agent: policy %q, rule %q: %v", e.Policy, e.Rule, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// DefaultResponse is the name of the default response rule's main mode
// filters and quick mode policy.
const DefaultResponse = "Default Response"

// Compile compiles the assigned policy of st for host into an SPD, as the
// package documentation describes. With no assigned policy (or a nil st)
// the SPD is empty. st is only read. An error is a *RuleError.
func Compile(st *store.State, host HostInfo) (*SPD, error) {
	spd := &SPD{}
	if st == nil {
		return spd, nil
	}
	p, ok := st.AssignedPolicy()
	if !ok {
		return spd, nil
	}
	spd.PolicyGUID, spd.PolicyName = p.GUID, p.Name
	c := &compiler{st: st, pol: &p, spd: spd, host: newHostSets(host), mmSeen: map[mmKey]struct{}{}}
	c.presize()
	for i := range p.Rules {
		if r := &p.Rules[i]; r.Active {
			if err := c.rule(r); err != nil {
				return nil, err
			}
		}
	}
	if p.DefaultRule.Active {
		c.defaultRule(&p.DefaultRule)
	}
	spd.QMSpecific = rankOrder(spd.QMSpecific, qmRankKey)
	spd.MMSpecific = rankOrder(spd.MMSpecific, mmRankKey)
	return spd, nil
}

// actionRank orders equally weighted filters as driver/sadb's SPD does:
// block, negotiate, permit.
func actionRank(a ipsec.Action) uint32 {
	switch a {
	case ipsec.ActionBlock:
		return 0
	case ipsec.ActionNegotiate:
		return 1
	}
	return 2
}

// rankOrder sorts fs in place by weight (largest first), then rank
// (smallest first), then position in fs, and returns it.
func rankOrder[T any](fs []T, key func(*T) (weight, rank uint32)) []T {
	if len(fs) < 2 {
		return fs
	}
	// Weights stay below 1<<15 (at most 64<<8|1<<7|34) and ranks below 4,
	// so one uint64 holds the whole key: inverted weight, rank, position.
	// After sorting, the low 32 bits of keys[j] are the position of the
	// filter that goes to j; bit 63 marks j as filled while the
	// permutation is applied cycle by cycle.
	keys := make([]uint64, len(fs))
	for i := range fs {
		w, r := key(&fs[i])
		keys[i] = uint64(0xffff-w)<<34 | uint64(r)<<32 | uint64(i)
	}
	slices.Sort(keys)
	const done = 1 << 63
	for j := range fs {
		if keys[j]&done != 0 {
			continue
		}
		tmp := fs[j]
		for k := j; ; {
			from := int(uint32(keys[k]))
			keys[k] |= done
			if from == j {
				fs[k] = tmp
				break
			}
			fs[k] = fs[from]
			k = from
		}
	}
	return fs
}
