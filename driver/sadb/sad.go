package sadb

// The Security Association Database, RFC 4301 section 4.4.2: inbound SAs
// are found by (SPI, destination) as RFC 4301 section 4.1 allows for
// unicast SAs, outbound SAs by the reference of the flow they protect.
// Lifetimes follow RFC 4301 section 4.4.2.1: a soft limit asks for a
// rekey, a hard limit ends the SA.

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ID names one SA. Inbound SPIs are chosen by this host and outbound SPIs
// by the peer, so the direction is part of the name.
type ID struct {
	Dir Direction
	SPI uint32
	Dst netip.Addr // the SA's destination: this host inbound, the peer outbound
}

func (id ID) String() string { return fmt.Sprintf("%v SPI %#08x to %v", id.Dir, id.SPI, id.Dst) }

// Lifetime is a limit in bytes and in time; a zero field is no limit.
type Lifetime struct {
	Bytes uint64        // bytes of protected payload counted with SA.Count
	Time  time.Duration // since Add
}

// LifetimeKB converts netsh units (kilobytes of 1024 bytes, seconds; see
// ipsec.QMOffer) to a Lifetime.
func LifetimeKB(kilobytes, seconds uint32) Lifetime {
	return Lifetime{Bytes: uint64(kilobytes) * 1024, Time: time.Duration(seconds) * time.Second}
}

// Config is what Add needs to install an SA: the id struct, the lifetimes
// and the value (e.g. the ESP SA of package driver/esp). Value is stored
// as given; the SAD never looks into it.
type Config[T any] struct {
	ID ID
	// Ref is the flow reference of an outbound SA, typically the ID of
	// the SPD entry (or the IKE request id) it serves. Outbound(Ref)
	// finds it. Inbound SAs ignore it.
	Ref        uint64
	Soft, Hard Lifetime
	Value      T
}

// State is the life stage of an SA.
type State uint8

// SA states, in order.
const (
	StateLive        State = iota // usable, no limit reached
	StateSoftExpired              // usable, a soft limit was reached: rekey
	StateHardExpired              // a hard limit was reached: removed
	StateDeleted                  // removed by Delete
)

func (s State) String() string {
	switch s {
	case StateLive:
		return "live"
	case StateSoftExpired:
		return "soft-expired"
	case StateHardExpired:
		return "hard-expired"
	case StateDeleted:
		return "deleted"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// EventKind says which limit an Event reports.
type EventKind uint8

// Event kinds. The zero value is invalid.
const (
	EventSoft EventKind = iota + 1 // time to rekey; the SA stays usable
	EventHard                      // the SA was removed
)

func (k EventKind) String() string {
	switch k {
	case EventSoft:
		return "soft"
	case EventHard:
		return "hard"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Cause says which lifetime dimension ran out.
type Cause uint8

// Causes. The zero value is invalid.
const (
	CauseTime Cause = iota + 1
	CauseBytes
)

func (c Cause) String() string {
	switch c {
	case CauseTime:
		return "time"
	case CauseBytes:
		return "bytes"
	}
	return fmt.Sprintf("Cause(%d)", uint8(c))
}

// Event reports a lifetime limit reached by an SA.
type Event struct {
	Kind  EventKind
	Cause Cause
	ID    ID
	Ref   uint64
	Bytes uint64        // bytes counted when the event was raised
	Age   time.Duration // time since Add when the event was raised
}

func (e Event) String() string {
	return fmt.Sprintf("%v expire (%v) of %v, ref %d, %d bytes, age %v", e.Kind, e.Cause, e.ID, e.Ref, e.Bytes, e.Age)
}

// Options configure a SAD.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// OnEvent receives soft and hard expiry events. It is called without
	// any SAD lock held, on the goroutine that noticed the limit: the
	// data path (SA.Count) for bytes, the caller of Expire for time. It
	// must not block; it may call SAD methods. Nil drops events.
	OnEvent func(Event)
}

// SAD is a Security Association Database holding values of type T.
//
// Locking: mu guards the two maps. SA fields are immutable after Add,
// except the byte counter and state, which are atomics, so the data path
// reads SAs without a lock after one read-locked map lookup. Methods are
// safe for concurrent use.
type SAD[T any] struct {
	now     func() time.Time
	onEvent func(Event)

	mu    sync.RWMutex
	byID  map[ID]*SA[T]
	byRef map[uint64][]*SA[T] // outbound SAs per flow, oldest first
}

// NewSAD returns an empty SAD.
func NewSAD[T any](opts Options) *SAD[T] {
	d := &SAD[T]{
		now:     opts.Now,
		onEvent: opts.OnEvent,
		byID:    map[ID]*SA[T]{},
		byRef:   map[uint64][]*SA[T]{},
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// SA is one installed security association. A pointer stays valid after
// the SA leaves the SAD; its State then says why, and Count refuses.
type SA[T any] struct {
	id         ID
	ref        uint64
	soft, hard Lifetime
	added      time.Time
	value      T
	sad        *SAD[T]

	bytes atomic.Uint64
	state atomic.Uint32 // a State
}

// ID returns the SA's name.
func (s *SA[T]) ID() ID { return s.id }

// Ref returns the flow reference given to Add.
func (s *SA[T]) Ref() uint64 { return s.ref }

// Value returns the value given to Add.
func (s *SA[T]) Value() T { return s.value }

// Added returns the clock reading at Add.
func (s *SA[T]) Added() time.Time { return s.added }

// Lifetimes returns the soft and hard limits.
func (s *SA[T]) Lifetimes() (soft, hard Lifetime) { return s.soft, s.hard }

// Bytes returns the bytes counted so far.
func (s *SA[T]) Bytes() uint64 { return s.bytes.Load() }

// State returns the SA's current state.
func (s *SA[T]) State() State { return State(s.state.Load()) }

// Count adds n bytes of traffic and reports whether the packet may use the
// SA. It returns false, and counts nothing useful, once the SA is hard
// expired or deleted, and for the packet that would take the total above
// the hard byte limit, which expires the SA (EventHard, CauseBytes). A
// total reaching the soft byte limit raises EventSoft once. Count takes no
// lock and does not allocate unless it raises an event.
func (s *SA[T]) Count(n int) bool {
	st := State(s.state.Load())
	if st >= StateHardExpired {
		return false
	}
	total := s.bytes.Add(uint64(n))
	if s.hard.Bytes != 0 && total > s.hard.Bytes {
		s.sad.hardExpire(s, CauseBytes)
		return false
	}
	if st == StateLive && s.soft.Bytes != 0 && total >= s.soft.Bytes {
		s.sad.softExpire(s, CauseBytes)
	}
	return true
}

// Add installs an SA. It fails with ErrExists for an ID already present,
// ErrDirection for a direction other than Inbound or Outbound,
// ErrSPI for an SPI below 256 (RFC 4303 section 2.1: reserved),
// ErrBadAddress for an invalid destination and ErrLifetime for a soft limit
// above its hard limit. An IPv4-mapped IPv6 destination is stored as IPv4.
// For an outbound SA with the same Ref as others, the newest is the one
// Outbound returns (make-before-break rekeying).
func (d *SAD[T]) Add(c Config[T]) (*SA[T], error) {
	id := c.ID
	if !id.Dir.valid() {
		return nil, fmt.Errorf("%w: %v", ErrDirection, id.Dir)
	}
	if id.SPI < 256 {
		return nil, fmt.Errorf("%w: %#x is reserved", ErrSPI, id.SPI)
	}
	if !id.Dst.IsValid() {
		return nil, fmt.Errorf("%w: destination %v", ErrBadAddress, id.Dst)
	}
	id.Dst = id.Dst.Unmap()
	if c.Soft.Bytes != 0 && c.Hard.Bytes != 0 && c.Soft.Bytes > c.Hard.Bytes ||
		c.Soft.Time != 0 && c.Hard.Time != 0 && c.Soft.Time > c.Hard.Time ||
		c.Soft.Time < 0 || c.Hard.Time < 0 {
		return nil, fmt.Errorf("%w: soft %+v, hard %+v", ErrLifetime, c.Soft, c.Hard)
	}
	s := &SA[T]{id: id, ref: c.Ref, soft: c.Soft, hard: c.Hard, added: d.now(), value: c.Value, sad: d}

	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.byID[id]; ok {
		return nil, fmt.Errorf("%w: %v", ErrExists, id)
	}
	d.byID[id] = s
	if id.Dir == Outbound {
		d.byRef[c.Ref] = append(d.byRef[c.Ref], s)
	}
	return s, nil
}

// Get returns the SA named id.
func (d *SAD[T]) Get(id ID) (*SA[T], bool) {
	d.mu.RLock()
	s, ok := d.byID[id]
	d.mu.RUnlock()
	return s, ok
}

// Inbound returns the inbound SA for an arriving packet's SPI and
// destination address.
func (d *SAD[T]) Inbound(spi uint32, dst netip.Addr) (*SA[T], bool) {
	return d.Get(ID{Dir: Inbound, SPI: spi, Dst: dst.Unmap()})
}

// Outbound returns the newest outbound SA installed for the flow ref.
func (d *SAD[T]) Outbound(ref uint64) (*SA[T], bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	l := d.byRef[ref]
	if len(l) == 0 {
		return nil, false
	}
	return l[len(l)-1], true
}

// OutboundFunc returns the newest outbound SA installed for the flow ref
// whose value ok accepts. It does not allocate; ok runs under the SAD's
// read lock and must not call the SAD.
func (d *SAD[T]) OutboundFunc(ref uint64, ok func(T) bool) (*SA[T], bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	l := d.byRef[ref]
	for i := len(l) - 1; i >= 0; i-- {
		if ok(l[i].value) {
			return l[i], true
		}
	}
	return nil, false
}

// Delete removes the SA named id without an event (the caller knows) and
// marks it StateDeleted. It returns ErrNotFound when there is none.
func (d *SAD[T]) Delete(id ID) error {
	id.Dst = id.Dst.Unmap()
	d.mu.Lock()
	s, ok := d.byID[id]
	if ok {
		d.removeLocked(s)
	}
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %v", ErrNotFound, id)
	}
	s.state.Store(uint32(StateDeleted))
	return nil
}

// removeLocked takes s out of both maps. d.mu must be held for writing.
func (d *SAD[T]) removeLocked(s *SA[T]) {
	if d.byID[s.id] != s {
		return
	}
	delete(d.byID, s.id)
	if s.id.Dir != Outbound {
		return
	}
	l := slices.DeleteFunc(d.byRef[s.ref], func(x *SA[T]) bool { return x == s })
	if len(l) == 0 {
		delete(d.byRef, s.ref)
	} else {
		d.byRef[s.ref] = l
	}
}

// Expire applies the time limits at the current clock reading: SAs past
// their hard time are removed with EventHard, SAs past their soft time
// raise EventSoft once. Byte limits are applied by SA.Count instead. The
// owner calls Expire from a timer, for instance at NextDeadline; it costs
// one pass over all SAs.
func (d *SAD[T]) Expire() {
	now := d.now()
	var hard, soft []*SA[T]
	d.mu.RLock()
	for _, s := range d.byID {
		age := now.Sub(s.added)
		switch {
		case s.hard.Time != 0 && age >= s.hard.Time:
			hard = append(hard, s)
		case s.soft.Time != 0 && age >= s.soft.Time && s.State() == StateLive:
			soft = append(soft, s)
		}
	}
	d.mu.RUnlock()
	for _, s := range soft {
		d.softExpire(s, CauseTime)
	}
	for _, s := range hard {
		d.hardExpire(s, CauseTime)
	}
}

// NextDeadline returns the earliest time at which Expire has work: the
// next soft time of a live SA or hard time of any SA. ok is false when no
// SA has a time limit pending.
func (d *SAD[T]) NextDeadline() (t time.Time, ok bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	consider := func(c time.Time) {
		if !ok || c.Before(t) {
			t, ok = c, true
		}
	}
	for _, s := range d.byID {
		if s.soft.Time != 0 && s.State() == StateLive {
			consider(s.added.Add(s.soft.Time))
		}
		if s.hard.Time != 0 {
			consider(s.added.Add(s.hard.Time))
		}
	}
	return t, ok
}

// Len returns the number of SAs installed.
func (d *SAD[T]) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.byID)
}

// All returns the installed SAs ordered by direction, destination and SPI
// (for `show qmsas`).
func (d *SAD[T]) All() []*SA[T] {
	d.mu.RLock()
	out := make([]*SA[T], 0, len(d.byID))
	for _, s := range d.byID {
		out = append(out, s)
	}
	d.mu.RUnlock()
	slices.SortFunc(out, func(a, b *SA[T]) int {
		if c := cmp.Compare(a.id.Dir, b.id.Dir); c != 0 {
			return c
		}
		if c := a.id.Dst.Compare(b.id.Dst); c != 0 {
			return c
		}
		return cmp.Compare(a.id.SPI, b.id.SPI)
	})
	return out
}

// softExpire moves s from live to soft-expired and reports it, once.
func (d *SAD[T]) softExpire(s *SA[T], c Cause) {
	if s.state.CompareAndSwap(uint32(StateLive), uint32(StateSoftExpired)) {
		d.emit(EventSoft, c, s)
	}
}

// hardExpire removes s and reports it, once, unless it is already gone.
func (d *SAD[T]) hardExpire(s *SA[T], c Cause) {
	for {
		st := s.state.Load()
		if State(st) >= StateHardExpired {
			return
		}
		if s.state.CompareAndSwap(st, uint32(StateHardExpired)) {
			break
		}
	}
	d.mu.Lock()
	d.removeLocked(s)
	d.mu.Unlock()
	d.emit(EventHard, c, s)
}

func (d *SAD[T]) emit(k EventKind, c Cause, s *SA[T]) {
	if d.onEvent == nil {
		return
	}
	d.onEvent(Event{Kind: k, Cause: c, ID: s.id, Ref: s.ref, Bytes: s.bytes.Load(), Age: d.now().Sub(s.added)})
}
