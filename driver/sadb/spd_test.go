package sadb

import (
	"cmp"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/gonetsh/gonetsh/ipsec"
)

// ---- Linear reference: the SPD as RFC 4301 section 4.4.1 describes it,
// an ordered list searched from the top, written without the index. ----

// refWeight restates the documented formula independently of Weight.
func refWeight(s Selector) uint32 {
	bitsOf := func(p netip.Prefix) int {
		if !p.IsValid() {
			return 0
		}
		return p.Bits()
	}
	port := func(r PortRange) uint32 {
		if r == (PortRange{}) || r == (PortRange{0, 65535}) {
			return 0
		}
		width := uint32(r.Hi - r.Lo)
		n := uint32(0)
		for width > 0 {
			n++
			width >>= 1
		}
		return 17 - n
	}
	w := uint32(bitsOf(s.Src)+bitsOf(s.Dst)) * 256
	if s.Protocol != 0 {
		w += 128
	}
	return w + port(s.SrcPort) + port(s.DstPort)
}

// refOrder returns the entries in the documented order: weight down, then
// block < negotiate < permit, then input position.
func refOrder(in []Entry) []Entry {
	type item struct {
		e   Entry
		pos int
	}
	items := make([]item, len(in))
	for i, e := range in {
		items[i] = item{e, i}
	}
	act := map[ipsec.Action]int{ipsec.ActionBlock: 0, ipsec.ActionNegotiate: 1, ipsec.ActionPermit: 2}
	slices.SortStableFunc(items, func(a, b item) int {
		if c := cmp.Compare(refWeight(b.e.Selector), refWeight(a.e.Selector)); c != 0 {
			return c
		}
		return cmp.Compare(act[a.e.Action], act[b.e.Action])
	})
	out := make([]Entry, len(items))
	for i, it := range items {
		out[i] = it.e
	}
	return out
}

func refMatch(s Selector, dir Direction, f Fields) bool {
	if s.Dir != dir || !f.Src.Is4() || !f.Dst.Is4() {
		return false
	}
	in := func(p netip.Prefix, a netip.Addr) bool { return !p.IsValid() || p.Masked().Contains(a) }
	if !in(s.Src, f.Src) || !in(s.Dst, f.Dst) {
		return false
	}
	if s.Protocol != 0 && s.Protocol != f.Protocol {
		return false
	}
	anyPort := func(r PortRange) bool { return r == (PortRange{}) || r == (PortRange{0, 65535}) }
	if anyPort(s.SrcPort) && anyPort(s.DstPort) {
		return true
	}
	if f.NonInitialFragment {
		return false // OPAQUE matches only ANY
	}
	inRange := func(r PortRange, p uint16) bool { return anyPort(r) || r.Lo <= p && p <= r.Hi }
	return inRange(s.SrcPort, f.SrcPort) && inRange(s.DstPort, f.DstPort)
}

func refLookup(ordered []Entry, dir Direction, f Fields) (Entry, bool) {
	for _, e := range ordered {
		if refMatch(e.Selector, dir, f) {
			return e, true
		}
	}
	return Entry{}, false
}

// ---- Random policies and packets drawn from a small address and port
// universe so that overlaps, nesting and ties are common. ----

var (
	poolAddrs = []string{
		"10.0.0.1", "10.0.0.2", "10.0.1.7", "10.1.2.3", "10.200.0.9",
		"192.168.1.1", "192.168.1.20", "192.168.2.5", "172.16.5.4", "8.8.8.8",
	}
	poolLens  = []int{0, 0, 8, 16, 24, 24, 28, 31, 32, 32, 32}
	poolProto = []ipsec.Protocol{0, 0, ipsec.ProtoTCP, ipsec.ProtoUDP, ipsec.ProtoICMP, 46}
	poolPorts = []uint16{22, 53, 80, 443, 500, 1024, 40000}
)

func randAddr(r *rand.Rand) netip.Addr {
	if r.IntN(8) == 0 {
		return netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
	}
	a := netip.MustParseAddr(poolAddrs[r.IntN(len(poolAddrs))]).As4()
	if r.IntN(4) == 0 {
		a[3] = byte(r.IntN(256))
	}
	return netip.AddrFrom4(a)
}

func randPrefix(r *rand.Rand) netip.Prefix {
	switch r.IntN(10) {
	case 0:
		return netip.Prefix{} // any, zero form
	case 1:
		return netip.PrefixFrom(randAddr(r), r.IntN(33)) // unmasked, any length
	}
	return netip.PrefixFrom(randAddr(r), poolLens[r.IntN(len(poolLens))])
}

func randRange(r *rand.Rand) PortRange {
	switch r.IntN(6) {
	case 0, 1:
		return PortRange{}
	case 2:
		return PortRange{0, 1023}
	case 3:
		lo := poolPorts[r.IntN(len(poolPorts))]
		return PortRange{lo, lo + uint16(r.IntN(100))}
	}
	return Port(poolPorts[r.IntN(len(poolPorts))])
}

func randEntry(r *rand.Rand, id uint64) Entry {
	s := Selector{
		Dir:      Direction(1 + r.IntN(2)),
		Src:      randPrefix(r),
		Dst:      randPrefix(r),
		Protocol: poolProto[r.IntN(len(poolProto))],
	}
	if s.Protocol.HasPorts() {
		s.SrcPort, s.DstPort = randRange(r), randRange(r)
	}
	return Entry{Selector: s, Action: ipsec.Action(1 + r.IntN(3)), ID: id}
}

func randFields(r *rand.Rand) Fields {
	f := Fields{Src: randAddr(r), Dst: randAddr(r), Protocol: poolProto[r.IntN(len(poolProto))]}
	if f.Protocol == 0 {
		f.Protocol = ipsec.Protocol(r.IntN(256))
	}
	switch {
	case r.IntN(20) == 0:
		f.NonInitialFragment = true
	case f.Protocol.HasPorts():
		pick := func() uint16 {
			if r.IntN(3) == 0 {
				return uint16(r.IntN(65536))
			}
			return poolPorts[r.IntN(len(poolPorts))] + uint16(r.IntN(2)*r.IntN(60))
		}
		f.SrcPort, f.DstPort = pick(), pick()
	}
	return f
}

// TestLookupMatchesLinearReference is the property test: for random
// policies of several sizes, the index and the linear reference agree on
// 100,000 random packets each way.
func TestLookupMatchesLinearReference(t *testing.T) {
	type policy struct {
		n      int
		sparse bool // no entry with both prefixes shorter than /16: misses happen
	}
	policies := []policy{{1, false}, {10, false}, {300, false}, {2000, false}, {50, true}, {2000, true}}
	packets := 100_000
	if testing.Short() {
		packets = 10_000
	}
	for _, pol := range policies {
		n := pol.n
		r := rand.New(rand.NewPCG(uint64(n), 42))
		entries := make([]Entry, n)
		for i := range entries {
			entries[i] = randEntry(r, uint64(i))
			if i > 0 && r.IntN(10) == 0 { // exact duplicate selector, maybe another action
				entries[i].Selector = entries[r.IntN(i)].Selector
			}
			if s := &entries[i].Selector; pol.sparse && s.Src.Bits() < 16 && s.Dst.Bits() < 16 {
				s.Dst = netip.PrefixFrom(randAddr(r), 16+r.IntN(17))
			}
		}
		spd, err := Compile(entries)
		if err != nil {
			t.Fatal(err)
		}
		ordered := refOrder(entries)
		hits, specific := 0, 0
		for i := 0; i < packets; i++ {
			f := randFields(r)
			dir := Direction(1 + i%2)
			got, gok := spd.Lookup(dir, f)
			want, wok := refLookup(ordered, dir, f)
			if gok != wok || got.ID != want.ID {
				t.Fatalf("%+v %v %v: index = %v %+v, reference = %v %+v", pol, dir, f, gok, got, wok, want)
			}
			if gok {
				hits++
				if got.Weight >= 32<<8 {
					specific++
				}
			}
		}
		t.Logf("%+v: %d of %d packets matched an entry, %d an entry of prefix bits >= 32", pol, hits, packets, specific)
	}
}

func TestWeightFormula(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name string
		s    Selector
		want uint32
	}{
		{"any", Selector{}, 0},
		{"any explicit", Selector{Src: p("0.0.0.0/0"), Dst: p("0.0.0.0/0")}, 0},
		{"host to host", Selector{Src: p("10.0.0.1/32"), Dst: p("10.0.0.2/32")}, 64 << 8},
		{"host to any TCP", Selector{Src: p("10.0.0.1/32"), Protocol: ipsec.ProtoTCP}, 32<<8 | 128},
		{"subnets UDP 53", Selector{Src: p("10.0.0.0/8"), Dst: p("192.168.0.0/16"), Protocol: ipsec.ProtoUDP, DstPort: Port(53)}, 24<<8 | 128 | 17},
		{"both ports", Selector{Protocol: ipsec.ProtoTCP, SrcPort: Port(1), DstPort: Port(2)}, 128 | 34},
		{"range 1024-65535", Selector{Protocol: ipsec.ProtoTCP, DstPort: PortRange{1024, 65535}}, 128 | 1},
		{"range 80-81", Selector{Protocol: ipsec.ProtoTCP, DstPort: PortRange{80, 81}}, 128 | 16},
		{"full range is any", Selector{Protocol: ipsec.ProtoTCP, DstPort: PortRange{0, 65535}}, 128},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Weight(); got != tt.want || got != refWeight(tt.s) {
				t.Errorf("Weight() = %d, want %d (reference %d)", got, tt.want, refWeight(tt.s))
			}
		})
	}
}

// TestLookupOrder pins the order rules on hand-written policies.
func TestLookupOrder(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	permit, block, negotiate := ipsec.ActionPermit, ipsec.ActionBlock, ipsec.ActionNegotiate
	out := Outbound
	entries := []Entry{
		{ID: 1, Action: permit, Selector: Selector{Dir: out}},                                                                       // any
		{ID: 2, Action: negotiate, Selector: Selector{Dir: out, Src: p("10.0.0.0/8"), Dst: p("10.0.0.0/8")}},                        // subnet
		{ID: 3, Action: block, Selector: Selector{Dir: out, Src: p("10.0.0.5/32"), Dst: p("10.0.0.0/8")}},                           // host beats subnet
		{ID: 4, Action: permit, Selector: Selector{Dir: out, Src: p("10.0.0.0/8"), Dst: p("10.0.0.0/8"), Protocol: ipsec.ProtoTCP}}, // protocol beats any
		{ID: 5, Action: block, Selector: Selector{Dir: out, Src: p("10.0.0.0/8"), Dst: p("10.0.0.0/8"), Protocol: ipsec.ProtoTCP, DstPort: Port(22)}},
		// Ties: same selector, three actions, then same action twice.
		{ID: 6, Action: permit, Selector: Selector{Dir: out, Dst: p("192.168.9.9/32")}},
		{ID: 7, Action: negotiate, Selector: Selector{Dir: out, Dst: p("192.168.9.9/32")}},
		{ID: 8, Action: block, Selector: Selector{Dir: out, Dst: p("192.168.9.0/24"), Src: p("172.16.0.0/24"), Protocol: 46}},
		{ID: 9, Action: block, Selector: Selector{Dir: out, Dst: p("192.168.9.9/32"), Protocol: ipsec.ProtoUDP}},
		{ID: 10, Action: negotiate, Selector: Selector{Dir: out, Dst: p("192.168.9.9/32")}},
		// Inbound only.
		{ID: 11, Action: block, Selector: Selector{Dir: Inbound, Src: p("10.9.9.9/32")}},
	}
	spd, err := Compile(entries)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dir  Direction
		f    Fields
		want uint64 // 0: no match
	}{
		{"default", out, Fields{Src: a("1.1.1.1"), Dst: a("2.2.2.2"), Protocol: 1}, 1},
		{"subnet", out, Fields{Src: a("10.1.1.1"), Dst: a("10.2.2.2"), Protocol: 1}, 2},
		{"host beats subnet", out, Fields{Src: a("10.0.0.5"), Dst: a("10.2.2.2"), Protocol: ipsec.ProtoTCP, DstPort: 22}, 3},
		{"protocol beats any", out, Fields{Src: a("10.1.1.1"), Dst: a("10.2.2.2"), Protocol: ipsec.ProtoTCP, DstPort: 80}, 4},
		{"port beats protocol", out, Fields{Src: a("10.1.1.1"), Dst: a("10.2.2.2"), Protocol: ipsec.ProtoTCP, DstPort: 22}, 5},
		{"fragment skips port entry", out, Fields{Src: a("10.1.1.1"), Dst: a("10.2.2.2"), Protocol: ipsec.ProtoTCP, NonInitialFragment: true}, 4},
		{"tie: negotiate before permit, first negotiate", out, Fields{Src: a("1.1.1.1"), Dst: a("192.168.9.9"), Protocol: 1}, 7},
		{"tie-free: protocol given wins", out, Fields{Src: a("1.1.1.1"), Dst: a("192.168.9.9"), Protocol: ipsec.ProtoUDP}, 9},
		{"prefix sum 48 beats 32", out, Fields{Src: a("172.16.0.1"), Dst: a("192.168.9.9"), Protocol: 46}, 8},
		{"inbound table", Inbound, Fields{Src: a("10.9.9.9"), Dst: a("1.1.1.1")}, 11},
		{"inbound miss", Inbound, Fields{Src: a("10.9.9.8"), Dst: a("1.1.1.1")}, 0},
		{"bad direction", Direction(0), Fields{Src: a("1.1.1.1"), Dst: a("2.2.2.2")}, 0},
		{"zero fields", out, Fields{}, 0},
		{"IPv6 fields", out, Fields{Src: a("::1"), Dst: a("::2")}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := spd.Lookup(tt.dir, tt.f)
			if tt.want == 0 {
				if ok {
					t.Fatalf("Lookup = %+v, want no match", got)
				}
				return
			}
			if !ok || got.ID != tt.want {
				t.Fatalf("Lookup = %v %d, want %d", ok, got.ID, tt.want)
			}
			if got.Weight != got.Selector.Weight() {
				t.Errorf("returned Weight %d, selector weight %d", got.Weight, got.Selector.Weight())
			}
		})
	}

	// Same selector, block vs permit vs negotiate, any input order.
	sel := Selector{Dir: out, Dst: p("192.0.2.1/32")}
	for _, order := range [][]ipsec.Action{{permit, negotiate, block}, {negotiate, block, permit}, {block, permit, negotiate}} {
		var es []Entry
		for i, act := range order {
			es = append(es, Entry{ID: uint64(i), Action: act, Selector: sel})
		}
		s, err := Compile(es)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Lookup(out, Fields{Src: a("1.1.1.1"), Dst: a("192.0.2.1")}); got.Action != block {
			t.Errorf("order %v: winner %v, want block", order, got.Action)
		}
		ents := s.Entries()
		if ents[0].Action != block || ents[1].Action != negotiate || ents[2].Action != permit {
			t.Errorf("order %v: Entries %v %v %v", order, ents[0].Action, ents[1].Action, ents[2].Action)
		}
	}
}

func TestCompileNormalizesAndCopies(t *testing.T) {
	in := []Entry{{
		ID:       7,
		Action:   ipsec.ActionNegotiate,
		Weight:   12345, // ignored
		Selector: Selector{Dir: Outbound, Src: netip.MustParsePrefix("10.1.2.3/8"), Protocol: ipsec.ProtoTCP, DstPort: PortRange{0, 65535}},
		Tunnel:   netip.MustParseAddr("203.0.113.1"),
		InPass:   true,
	}}
	spd, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	in[0].ID = 99 // the SPD holds a copy
	e := spd.Entries()
	if len(e) != 1 || spd.Len() != 1 || e[0].ID != 7 {
		t.Fatalf("Entries = %+v", e)
	}
	want := Selector{Dir: Outbound, Src: netip.MustParsePrefix("10.0.0.0/8"), Dst: netip.MustParsePrefix("0.0.0.0/0"), Protocol: ipsec.ProtoTCP}
	if e[0].Selector != want || e[0].Weight != 8<<8|128 || !e[0].InPass || e[0].Tunnel != in[0].Tunnel {
		t.Errorf("entry = %+v", e[0])
	}
	if got := e[0].Selector.String(); got != "outbound 10.0.0.0/8:any -> 0.0.0.0/0:any TCP" {
		t.Errorf("String = %q", got)
	}
	var nilSPD *SPD
	if _, ok := nilSPD.Lookup(Outbound, Fields{Src: netip.MustParseAddr("1.1.1.1"), Dst: netip.MustParseAddr("1.1.1.2")}); ok || nilSPD.Len() != 0 || nilSPD.Entries() != nil {
		t.Error("nil SPD is not empty")
	}
	empty, err := Compile(nil)
	if err != nil || empty.Len() != 0 {
		t.Errorf("Compile(nil) = %v, %v", empty, err)
	}
}

func TestCompileRejects(t *testing.T) {
	p := netip.MustParsePrefix
	ok := Selector{Dir: Outbound}
	tests := []struct {
		name string
		e    Entry
		want error
	}{
		{"no direction", Entry{Action: ipsec.ActionPermit}, ErrSelector},
		{"IPv6 source", Entry{Action: ipsec.ActionPermit, Selector: Selector{Dir: Outbound, Src: p("2001:db8::/32")}}, ErrSelector},
		{"4in6 destination", Entry{Action: ipsec.ActionPermit, Selector: Selector{Dir: Outbound, Dst: p("::ffff:10.0.0.0/104")}}, ErrSelector},
		{"inverted range", Entry{Action: ipsec.ActionPermit, Selector: Selector{Dir: Outbound, Protocol: ipsec.ProtoTCP, SrcPort: PortRange{9, 8}}}, ErrSelector},
		{"port without TCP/UDP", Entry{Action: ipsec.ActionPermit, Selector: Selector{Dir: Outbound, Protocol: ipsec.ProtoICMP, DstPort: Port(8)}}, ErrSelector},
		{"port with any protocol", Entry{Action: ipsec.ActionPermit, Selector: Selector{Dir: Outbound, DstPort: Port(80)}}, ErrSelector},
		{"no action", Entry{Selector: ok}, ErrEntry},
		{"IPv6 tunnel", Entry{Action: ipsec.ActionNegotiate, Selector: ok, Tunnel: netip.MustParseAddr("2001:db8::1")}, ErrEntry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := Entry{Action: ipsec.ActionPermit, Selector: ok}
			_, err := Compile([]Entry{good, tt.e})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Compile error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{Outbound.String(), "outbound"},
		{Inbound.String(), "inbound"},
		{Direction(7).String(), "Direction(7)"},
		{PortRange{}.String(), "any"},
		{Port(80).String(), "80"},
		{PortRange{1024, 2047}.String(), "1024-2047"},
		{PortRange{0, 65535}.String(), "any"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	entries := realisticPolicy(r, 1000)
	spd, err := Compile(entries)
	if err != nil {
		t.Fatal(err)
	}
	pkts := realisticPackets(r, entries, 64)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		spd.Lookup(Direction(1+i%2), pkts[i%len(pkts)])
		i++
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %v times per call", allocs)
	}
}

// TestIndexShapeBound checks the structural claim behind the lookup cost:
// the number of tuples a Lookup may probe depends on the shapes a policy
// uses, not on its size, and never exceeds 200 per direction.
func TestIndexShapeBound(t *testing.T) {
	tuples := func(es []Entry) (out, in int) {
		s, err := Compile(es)
		if err != nil {
			t.Fatal(err)
		}
		return len(s.out.tuples), len(s.in.tuples)
	}
	r := rand.New(rand.NewPCG(3, 4))
	o1, i1 := tuples(realisticPolicy(r, 1000))
	o2, i2 := tuples(realisticPolicy(r, 10000))
	if o1 != o2 || i1 != i2 {
		t.Errorf("realistic policy: tuples %d/%d at 1,000 entries, %d/%d at 10,000", o1, i1, o2, i2)
	}
	random := make([]Entry, 20000)
	for i := range random {
		random[i] = randEntry(r, uint64(i))
	}
	o3, i3 := tuples(random)
	if o3 > 200 || i3 > 200 {
		t.Errorf("random policy: %d/%d tuples, bound is 200", o3, i3)
	}
	t.Logf("tuples out/in: realistic %d/%d, random shapes %d/%d", o2, i2, o3, i3)
}

// An Override entry ranks first, even against a heavier or equal entry.
func TestOverrideRanksFirst(t *testing.T) {
	host := func(s string) netip.Prefix { return netip.MustParsePrefix(s + "/32") }
	neg := Entry{ID: 1, Action: ipsec.ActionNegotiate,
		Selector: Selector{Dir: Outbound, Src: host("10.0.0.1"), Dst: host("10.0.0.2"), Protocol: ipsec.ProtoTCP, DstPort: Port(80)}}
	soft := Entry{ID: 2, Action: ipsec.ActionPermit, Override: true,
		Selector: Selector{Dir: Outbound, Dst: host("10.0.0.2")}}
	spd, err := Compile([]Entry{neg, soft})
	if err != nil {
		t.Fatal(err)
	}
	f := Fields{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Protocol: ipsec.ProtoTCP, SrcPort: 999, DstPort: 80}
	if e, ok := spd.Lookup(Outbound, f); !ok || e.ID != 2 {
		t.Fatalf("lookup = %+v %v; want the override (ID 2)", e, ok)
	}
	spd, _ = Compile([]Entry{neg})
	if e, _ := spd.Lookup(Outbound, f); e.ID != 1 {
		t.Fatalf("without the override: %+v", e)
	}
}

// An entry ranked as its generic entry goes right before it, and behind
// what the generic entry ranks behind.
func TestRankAs(t *testing.T) {
	host := func(s string) netip.Prefix { return netip.MustParsePrefix(s + "/32") }
	all := netip.MustParsePrefix("0.0.0.0/0")
	generic := Selector{Dir: Outbound, Src: host("10.0.0.1"), Dst: all}
	icmp := Entry{ID: 1, Action: ipsec.ActionPermit, Selector: Selector{Dir: Outbound, Src: host("10.0.0.1"), Dst: all, Protocol: ipsec.ProtoICMP}}
	gen := Entry{ID: 2, Action: ipsec.ActionNegotiate, Selector: generic}
	peer := Entry{ID: 3, Action: ipsec.ActionNegotiate, Selector: Selector{Dir: Outbound, Src: host("10.0.0.1"), Dst: host("10.0.0.2")}, RankAs: generic}
	spd, err := Compile([]Entry{icmp, gen, peer})
	if err != nil {
		t.Fatal(err)
	}
	f := Fields{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}
	for _, tc := range []struct {
		proto ipsec.Protocol
		want  uint64
	}{{ipsec.ProtoICMP, 1}, {ipsec.ProtoTCP, 3}} {
		f.Protocol = tc.proto
		if e, _ := spd.Lookup(Outbound, f); e.ID != tc.want {
			t.Errorf("%v: entry %d, want %d", tc.proto, e.ID, tc.want)
		}
	}
	f.Dst = netip.MustParseAddr("10.0.0.3")
	if e, _ := spd.Lookup(Outbound, f); e.ID != 2 {
		t.Errorf("another peer: entry %d, want the generic 2", e.ID)
	}
}
