package sadb

import (
	"errors"
	"github.com/gonetsh/gonetsh/driver/internal/clocktest"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder collects events; it is safe for concurrent use.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) on(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

// espSA stands in for driver/esp's SA type.
type espSA struct{ name string }

func newTestSAD() (*SAD[*espSA], *clocktest.Clock, *recorder) {
	clk, rec := clocktest.New(), &recorder{}
	return NewSAD[*espSA](Options{Now: clk.Now, OnEvent: rec.on}), clk, rec
}

var (
	me   = netip.MustParseAddr("10.0.0.1")
	peer = netip.MustParseAddr("10.0.0.2")
)

func TestSADAddGetDelete(t *testing.T) {
	d, _, rec := newTestSAD()
	in := ID{Dir: Inbound, SPI: 0x1000, Dst: me}
	out := ID{Dir: Outbound, SPI: 0x2000, Dst: peer}
	sin, err := d.Add(Config[*espSA]{ID: in, Value: &espSA{"in"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Add(Config[*espSA]{ID: out, Ref: 42, Value: &espSA{"out"}}); err != nil {
		t.Fatal(err)
	}
	// Same SPI and destination in the other direction is a different SA.
	if _, err := d.Add(Config[*espSA]{ID: ID{Dir: Outbound, SPI: 0x1000, Dst: me}, Ref: 43, Value: &espSA{"loop"}}); err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 {
		t.Fatalf("Len = %d", d.Len())
	}

	if s, ok := d.Inbound(0x1000, me); !ok || s != sin || s.Value().name != "in" || s.ID() != in {
		t.Errorf("Inbound(0x1000, me) = %v, %v", s, ok)
	}
	if s, ok := d.Inbound(0x1000, netip.MustParseAddr("::ffff:10.0.0.1")); !ok || s != sin {
		t.Errorf("Inbound with an IPv4-mapped address = %v, %v", s, ok)
	}
	if _, ok := d.Inbound(0x1000, peer); ok {
		t.Error("Inbound matched on SPI alone")
	}
	if _, ok := d.Inbound(0x2000, peer); ok {
		t.Error("Inbound returned an outbound SA")
	}
	if s, ok := d.Outbound(42); !ok || s.Value().name != "out" || s.Ref() != 42 {
		t.Errorf("Outbound(42) = %v, %v", s, ok)
	}
	if s, ok := d.Get(out); !ok || s.Value().name != "out" {
		t.Errorf("Get(out) = %v, %v", s, ok)
	}
	if _, ok := d.Outbound(7); ok {
		t.Error("Outbound(7) found an SA")
	}

	if err := d.Delete(in); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Inbound(0x1000, me); ok {
		t.Error("deleted SA still found")
	}
	if sin.State() != StateDeleted || sin.Count(1) {
		t.Errorf("deleted SA: state %v, Count accepted", sin.State())
	}
	if err := d.Delete(in); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if err := d.Delete(out); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Outbound(42); ok {
		t.Error("deleted outbound SA still found by ref")
	}
	if ev := rec.take(); len(ev) != 0 {
		t.Errorf("Delete raised events %v", ev)
	}
	if d.Len() != 1 {
		t.Errorf("Len = %d, want 1", d.Len())
	}
}

func TestSADAddRejects(t *testing.T) {
	d, _, _ := newTestSAD()
	ok := ID{Dir: Inbound, SPI: 0x1000, Dst: me}
	if _, err := d.Add(Config[*espSA]{ID: ok}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    Config[*espSA]
		want error
	}{
		{"duplicate", Config[*espSA]{ID: ok}, ErrExists},
		{"duplicate via mapped address", Config[*espSA]{ID: ID{Dir: Inbound, SPI: 0x1000, Dst: netip.MustParseAddr("::ffff:10.0.0.1")}}, ErrExists},
		{"SPI 0", Config[*espSA]{ID: ID{Dir: Inbound, SPI: 0, Dst: me}}, ErrSPI},
		{"SPI 255", Config[*espSA]{ID: ID{Dir: Inbound, SPI: 255, Dst: me}}, ErrSPI},
		{"no direction", Config[*espSA]{ID: ID{SPI: 0x1001, Dst: me}}, ErrDirection},
		{"no destination", Config[*espSA]{ID: ID{Dir: Inbound, SPI: 0x1001}}, ErrBadAddress},
		{"soft bytes above hard", Config[*espSA]{ID: ID{Dir: Inbound, SPI: 0x1001, Dst: me}, Soft: Lifetime{Bytes: 10}, Hard: Lifetime{Bytes: 9}}, ErrLifetime},
		{"soft time above hard", Config[*espSA]{ID: ID{Dir: Inbound, SPI: 0x1001, Dst: me}, Soft: Lifetime{Time: time.Hour}, Hard: Lifetime{Time: time.Minute}}, ErrLifetime},
		{"negative time", Config[*espSA]{ID: ID{Dir: Inbound, SPI: 0x1001, Dst: me}, Hard: Lifetime{Time: -time.Second}}, ErrLifetime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := d.Add(tt.c); !errors.Is(err, tt.want) {
				t.Fatalf("Add = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSADExpireByTime(t *testing.T) {
	d, clk, rec := newTestSAD()
	id := ID{Dir: Outbound, SPI: 0x3000, Dst: peer}
	s, err := d.Add(Config[*espSA]{ID: id, Ref: 9, Soft: Lifetime{Time: 45 * time.Minute}, Hard: LifetimeKB(100000, 3600)})
	if err != nil {
		t.Fatal(err)
	}
	added := clk.Now()
	if dl, ok := d.NextDeadline(); !ok || !dl.Equal(added.Add(45*time.Minute)) {
		t.Errorf("NextDeadline = %v, %v; want soft time", dl, ok)
	}

	clk.Advance(45*time.Minute - time.Second)
	d.Expire()
	if ev := rec.take(); len(ev) != 0 || s.State() != StateLive {
		t.Fatalf("early events %v, state %v", ev, s.State())
	}

	clk.Advance(time.Second)
	d.Expire()
	d.Expire() // once only
	ev := rec.take()
	want := Event{Kind: EventSoft, Cause: CauseTime, ID: id, Ref: 9, Age: 45 * time.Minute}
	if len(ev) != 1 || ev[0] != want {
		t.Fatalf("soft events %v, want [%v]", ev, want)
	}
	if s.State() != StateSoftExpired || !s.Count(100) {
		t.Errorf("soft-expired SA: state %v, must stay usable", s.State())
	}
	if _, ok := d.Outbound(9); !ok {
		t.Error("soft-expired SA left the SAD")
	}
	if dl, ok := d.NextDeadline(); !ok || !dl.Equal(added.Add(time.Hour)) {
		t.Errorf("NextDeadline = %v, %v; want hard time", dl, ok)
	}

	clk.Advance(15 * time.Minute)
	d.Expire()
	ev = rec.take()
	want = Event{Kind: EventHard, Cause: CauseTime, ID: id, Ref: 9, Bytes: 100, Age: time.Hour}
	if len(ev) != 1 || ev[0] != want {
		t.Fatalf("hard events %v, want [%v]", ev, want)
	}
	if s.State() != StateHardExpired || s.Count(1) {
		t.Errorf("hard-expired SA: state %v, Count must refuse", s.State())
	}
	if _, ok := d.Outbound(9); ok || d.Len() != 0 {
		t.Error("hard-expired SA still in the SAD")
	}
	if _, ok := d.NextDeadline(); ok {
		t.Error("NextDeadline on an empty SAD")
	}
	if err := d.Delete(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete after hard expiry = %v", err)
	}
	d.Expire()
	if ev := rec.take(); len(ev) != 0 {
		t.Errorf("events after removal: %v", ev)
	}
}

func TestSADExpireByBytes(t *testing.T) {
	d, clk, rec := newTestSAD()
	id := ID{Dir: Inbound, SPI: 0x4000, Dst: me}
	s, err := d.Add(Config[*espSA]{ID: id, Soft: Lifetime{Bytes: 1000}, Hard: Lifetime{Bytes: 2000}})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	steps := []struct {
		n      int
		ok     bool
		state  State
		events []Event
	}{
		{600, true, StateLive, nil},
		{399, true, StateLive, nil},
		{1, true, StateSoftExpired, []Event{{Kind: EventSoft, Cause: CauseBytes, ID: id, Bytes: 1000, Age: time.Minute}}},
		{500, true, StateSoftExpired, nil},
		{500, true, StateSoftExpired, nil}, // exactly the hard limit is still allowed
		{1, false, StateHardExpired, []Event{{Kind: EventHard, Cause: CauseBytes, ID: id, Bytes: 2001, Age: time.Minute}}},
		{1, false, StateHardExpired, nil},
	}
	for i, st := range steps {
		if got := s.Count(st.n); got != st.ok {
			t.Fatalf("step %d: Count(%d) = %v", i, st.n, got)
		}
		ev := rec.take()
		if s.State() != st.state || len(ev) != len(st.events) {
			t.Fatalf("step %d: state %v events %v; want %v %v", i, s.State(), ev, st.state, st.events)
		}
		for j := range ev {
			if ev[j] != st.events[j] {
				t.Errorf("step %d: event %v, want %v", i, ev[j], st.events[j])
			}
		}
	}
	if _, ok := d.Inbound(0x4000, me); ok {
		t.Error("hard-expired SA still found")
	}

	// Crossing soft and hard in one packet reports only the hard limit.
	s2, _ := d.Add(Config[*espSA]{ID: ID{Dir: Inbound, SPI: 0x4001, Dst: me}, Soft: Lifetime{Bytes: 10}, Hard: Lifetime{Bytes: 20}})
	if s2.Count(21) {
		t.Error("Count over the hard limit accepted")
	}
	if ev := rec.take(); len(ev) != 1 || ev[0].Kind != EventHard {
		t.Errorf("events %v, want one hard", ev)
	}
}

func TestSADOutboundRekey(t *testing.T) {
	d, clk, _ := newTestSAD()
	old, _ := d.Add(Config[*espSA]{ID: ID{Dir: Outbound, SPI: 0x5000, Dst: peer}, Ref: 1, Hard: Lifetime{Time: time.Hour}})
	clk.Advance(50 * time.Minute)
	cur, _ := d.Add(Config[*espSA]{ID: ID{Dir: Outbound, SPI: 0x5001, Dst: peer}, Ref: 1, Hard: Lifetime{Time: time.Hour}})
	if s, _ := d.Outbound(1); s != cur {
		t.Fatal("Outbound does not return the newest SA")
	}
	clk.Advance(10 * time.Minute)
	d.Expire() // old reaches its hard time
	if s, _ := d.Outbound(1); s != cur || old.State() != StateHardExpired {
		t.Fatal("old SA's expiry disturbed the new one")
	}
	// Deleting the newest falls back to an older live SA.
	third, _ := d.Add(Config[*espSA]{ID: ID{Dir: Outbound, SPI: 0x5002, Dst: peer}, Ref: 1})
	if s, _ := d.Outbound(1); s != third {
		t.Fatal("third SA not current")
	}
	d.Delete(third.ID())
	if s, _ := d.Outbound(1); s != cur {
		t.Fatal("Outbound did not fall back after Delete")
	}
	all := d.All()
	if len(all) != 1 || all[0] != cur {
		t.Errorf("All = %v", all)
	}
	if soft, hard := cur.Lifetimes(); soft != (Lifetime{}) || hard.Time != time.Hour || !cur.Added().Equal(clk.Now().Add(-10*time.Minute)) {
		t.Errorf("Lifetimes %v %v, Added %v", soft, hard, cur.Added())
	}
}

func TestSADConcurrentHardExpiry(t *testing.T) {
	d, _, rec := newTestSAD()
	s, _ := d.Add(Config[*espSA]{ID: ID{Dir: Inbound, SPI: 0x6000, Dst: me}, Soft: Lifetime{Bytes: 50_000}, Hard: Lifetime{Bytes: 100_000}})
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				if sa, ok := d.Inbound(0x6000, me); ok && sa.Count(10) {
					accepted.Add(10)
				}
				d.Expire()
				d.All()
			}
		}()
	}
	wg.Wait()
	var soft, hard int
	for _, e := range rec.take() {
		switch e.Kind {
		case EventSoft:
			soft++
		case EventHard:
			hard++
		}
	}
	if soft != 1 || hard != 1 {
		t.Errorf("events: %d soft, %d hard; want exactly one each", soft, hard)
	}
	if accepted.Load() > 100_000 || s.State() != StateHardExpired {
		t.Errorf("accepted %d bytes over a 100000 byte SA; state %v", accepted.Load(), s.State())
	}
}

func TestSADDataPathDoesNotAllocate(t *testing.T) {
	d, _, _ := newTestSAD()
	s, _ := d.Add(Config[*espSA]{ID: ID{Dir: Inbound, SPI: 0x7000, Dst: me}, Hard: Lifetime{Bytes: 1 << 62}})
	d.Add(Config[*espSA]{ID: ID{Dir: Outbound, SPI: 0x7001, Dst: peer}, Ref: 5})
	if n := testing.AllocsPerRun(1000, func() {
		d.Inbound(0x7000, me)
		d.Outbound(5)
		s.Count(1400)
	}); n != 0 {
		t.Errorf("Inbound+Outbound+Count allocate %v times", n)
	}
}

func TestSADDefaults(t *testing.T) {
	d := NewSAD[int](Options{}) // real clock, no callback
	s, err := d.Add(Config[int]{ID: ID{Dir: Inbound, SPI: 0x8000, Dst: me}, Hard: Lifetime{Bytes: 1}, Value: 7})
	if err != nil {
		t.Fatal(err)
	}
	if s.Value() != 7 || time.Since(s.Added()) > time.Minute {
		t.Errorf("value %d added %v", s.Value(), s.Added())
	}
	if s.Count(2) || s.State() != StateHardExpired || d.Len() != 0 { // no OnEvent: no panic
		t.Error("hard byte expiry without a callback")
	}
}

func TestSADStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{StateLive.String(), "live"},
		{StateSoftExpired.String(), "soft-expired"},
		{StateHardExpired.String(), "hard-expired"},
		{StateDeleted.String(), "deleted"},
		{State(9).String(), "State(9)"},
		{EventSoft.String(), "soft"},
		{EventHard.String(), "hard"},
		{EventKind(0).String(), "EventKind(0)"},
		{CauseTime.String(), "time"},
		{CauseBytes.String(), "bytes"},
		{Cause(0).String(), "Cause(0)"},
		{ID{Dir: Inbound, SPI: 0x1234, Dst: me}.String(), "inbound SPI 0x00001234 to 10.0.0.1"},
		{Event{Kind: EventHard, Cause: CauseBytes, ID: ID{Dir: Outbound, SPI: 256, Dst: peer}, Ref: 3, Bytes: 9, Age: time.Second}.String(),
			"hard expire (bytes) of outbound SPI 0x00000100 to 10.0.0.2, ref 3, 9 bytes, age 1s"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if l := LifetimeKB(100000, 3600); l.Bytes != 102400000 || l.Time != time.Hour {
		t.Errorf("LifetimeKB = %+v", l)
	}
}

// TestSADOutboundFunc: the newest outbound SA of a flow that the
// predicate accepts, older ones when it refuses the newer.
func TestSADOutboundFunc(t *testing.T) {
	d, _, _ := newTestSAD()
	for i, name := range []string{"old", "mid", "new"} {
		id := ID{Dir: Outbound, SPI: uint32(0x1000 + i), Dst: peer}
		if _, err := d.Add(Config[*espSA]{ID: id, Ref: 42, Value: &espSA{name}}); err != nil {
			t.Fatal(err)
		}
	}
	not := func(names ...string) func(*espSA) bool {
		return func(v *espSA) bool { return !slices.Contains(names, v.name) }
	}
	for _, tc := range []struct {
		refuse []string
		want   string
	}{{nil, "new"}, {[]string{"new"}, "mid"}, {[]string{"new", "mid"}, "old"}, {[]string{"new", "mid", "old"}, ""}} {
		s, ok := d.OutboundFunc(42, not(tc.refuse...))
		if got := ""; ok {
			got = s.Value().name
			if got != tc.want {
				t.Errorf("refusing %v: %q, want %q", tc.refuse, got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("refusing %v: none, want %q", tc.refuse, tc.want)
		}
	}
	if _, ok := d.OutboundFunc(7, not()); ok {
		t.Error("OutboundFunc(7) found an SA")
	}
}
