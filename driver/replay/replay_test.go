package replay

import "testing"

// op is one step of a table test: Check the sequence number, and Commit it
// when commit is set (as a receiver does once the ICV verified).
type op struct {
	seq    uint64
	accept bool // expected Check result (and Commit result when committed)
	commit bool
}

func run(t *testing.T, w *Window, ops []op) {
	t.Helper()
	for i, o := range ops {
		if got := w.Check(o.seq); got != o.accept {
			t.Fatalf("step %d: Check(%d) = %v, want %v (last %d)", i, o.seq, got, o.accept, w.last)
		}
		if o.commit {
			if got := w.Commit(o.seq); got != o.accept {
				t.Fatalf("step %d: Commit(%d) = %v, want %v", i, o.seq, got, o.accept)
			}
		}
	}
}

func acc(seq uint64) op { return op{seq, true, true} }
func rej(seq uint64) op { return op{seq, false, true} }

func TestWindow(t *testing.T) {
	const S = Size
	tests := []struct {
		name string
		ops  []op
	}{
		{"zero is never valid", []op{rej(0), acc(1), rej(0)}},
		{"in order", []op{acc(1), acc(2), acc(3), acc(4), acc(5)}},
		{"duplicate", []op{acc(1), rej(1), acc(2), rej(2), rej(1)}},
		{"out of order within window", []op{acc(10), acc(5), acc(9), acc(1), rej(5), acc(11), rej(10)}},
		{"gap then fill", []op{acc(1), acc(100), acc(50), acc(99), rej(50), acc(2)}},
		{"oldest in window", []op{acc(S + 10), acc(11), rej(11)}},
		{"just too old", []op{acc(S + 10), rej(10), rej(1)}},
		{"big jump clears ring", []op{
			acc(1), acc(2), acc(3),
			acc(1 << 40), rej(1), rej(3),
			acc(1<<40 - 1), acc(1<<40 - S + 1), rej(1<<40 - S),
			rej(1 << 40),
			acc(1<<40 + 3), acc(1<<40 + 2), acc(1<<40 + 1), // the ring slots of 3, 2, 1
		}},
		{"jump exactly one ring", []op{
			acc(64), acc(64 + totalBits), acc(64 + totalBits - 1), rej(64),
			rej(64 + totalBits),
		}},
		{"slide across block boundaries", []op{
			acc(63), acc(64), acc(65), acc(127), acc(128), rej(63), rej(64), rej(128),
			acc(62), acc(129),
		}},
		{"wrap of the ring index", func() []op {
			// Advance one block at a time past several full turns of the
			// ring; every number stays unique and old ones stay rejected.
			var ops []op
			for s := uint64(1); s < 5*totalBits; s += 61 {
				ops = append(ops, acc(s))
				if s > 61 {
					ops = append(ops, rej(s-61))
				}
				if s > S {
					ops = append(ops, rej(s-S))
				}
			}
			return ops
		}()},
		{"window edge after wrap", []op{
			acc(3 * totalBits), acc(3*totalBits - S + 1), rej(3*totalBits - S),
			rej(3*totalBits - S + 1), acc(3*totalBits - 1),
		}},
		{"near 2^64", []op{acc(^uint64(0) - 1), acc(^uint64(0)), rej(^uint64(0) - 1), acc(^uint64(0) - 2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w Window
			run(t, &w, tt.ops)
		})
	}
}

// TestCheckDoesNotCommit pins the verify/commit split: Check alone never
// moves the window, which is what keeps forged packets from advancing it.
func TestCheckDoesNotCommit(t *testing.T) {
	var w Window
	w.Commit(5)
	for _, s := range []uint64{6, 1 << 30, 4} {
		if !w.Check(s) {
			t.Fatalf("Check(%d) = false", s)
		}
	}
	if w.Last() != 5 {
		t.Fatalf("Last = %d after Checks, want 5", w.Last())
	}
	if !w.Check(4) || !w.Check(6) {
		t.Fatal("Check had side effects")
	}
	if w.Commit(5) {
		t.Fatal("Commit(5) twice succeeded")
	}
}

func TestReset(t *testing.T) {
	var w Window
	w.Commit(7)
	w.Reset()
	if w.Last() != 0 || !w.Check(7) {
		t.Fatal("Reset did not empty the window")
	}
}

// TestExhaustiveSmall compares the window with a map model over a
// pseudo-random walk that keeps most numbers near the right edge.
func TestExhaustiveModel(t *testing.T) {
	var w Window
	seen := map[uint64]bool{}
	var last uint64
	x := uint64(88172645463325252)
	for i := 0; i < 200000; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		var s uint64
		switch x % 8 {
		case 0:
			s = last + 1 + x>>40%3000
		default:
			d := x >> 20 % (Size + 200)
			if d >= last {
				s = 1 + d%5
			} else {
				s = last - d
			}
		}
		want := s != 0 && !seen[s] && (s > last || last-s < Size)
		if got := w.Check(s); got != want {
			t.Fatalf("iter %d: Check(%d) = %v, want %v (last %d)", i, s, got, want, last)
		}
		if want {
			w.Commit(s)
			seen[s] = true
			if s > last {
				last = s
			}
		}
	}
}

func TestInfer(t *testing.T) {
	const S = Size
	tests := []struct {
		name string
		last uint64
		low  uint32
		want uint64
	}{
		{"empty window", 0, 1, 1},
		{"empty window, huge low is below 1", 0, ^uint32(0), 0},
		{"case A, same subspace ahead", 1<<32 + 100000, 100001, 1<<32 + 100001},
		{"case A, same subspace behind in window", 1<<32 + 100000, 100000 - S + 1, 1<<32 + 100000 - S + 1},
		{"case A, next subspace", 1<<32 + 100000, 5, 2<<32 + 5},
		{"case A, last at top of subspace, wrap to next", 1<<32 | 0xffffffff, 3, 2<<32 + 3},
		{"case B, previous subspace", 2<<32 + 10, 0xffffffff, 1<<32 | 0xffffffff},
		{"case B, same subspace", 2<<32 + 10, 11, 2<<32 + 11},
		{"case B, same subspace far ahead", 2<<32 + 10, 0x80000000, 2<<32 + 0x80000000},
		{"case B, oldest in window", 2<<32 + 10, 0xffffffff - S + 12, 1<<32 + 0xffffffff - S + 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w Window
			if tt.last != 0 && !w.Commit(tt.last) {
				t.Fatal("commit failed")
			}
			if got := w.Infer(tt.low); got != tt.want {
				t.Fatalf("Infer(%#x) with last %#x = %#x, want %#x", tt.low, tt.last, got, tt.want)
			}
		})
	}
}

func TestZeroAllocs(t *testing.T) {
	var w Window
	s := uint64(0)
	if n := testing.AllocsPerRun(100, func() {
		s++
		if w.Check(s) {
			w.Commit(s)
		}
	}); n != 0 {
		t.Fatalf("allocs = %v", n)
	}
}

func BenchmarkCommitInOrder(b *testing.B) {
	var w Window
	for i := 1; i <= b.N; i++ {
		if w.Check(uint64(i)) {
			w.Commit(uint64(i))
		}
	}
}
