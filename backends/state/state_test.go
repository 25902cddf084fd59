package state_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	statetest.Conformance(t, func(*testing.T) state.Store { return state.NewMemory(10_000) })
}

// The store's own bound still holds across owners: full of live keys, it
// fails closed, never forgets.
func TestMemoryGlobalBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := state.NewMemory(2)
	exp := time.Now().Add(time.Minute)
	a, b := state.Share{Owner: "a", Max: 10}, state.Share{Owner: "b", Max: 10}
	if ok, err := s.Once(ctx, a, "1", exp); !ok || err != nil {
		t.Fatalf("first Once = %v, %v", ok, err)
	}
	if ok, _ := s.Once(ctx, b, "1", exp); !ok {
		t.Fatal("second key refused")
	}
	if _, err := s.Once(ctx, a, "2", exp); !errors.Is(err, state.ErrFull) {
		t.Fatalf("Once on a full store = %v, want ErrFull", err)
	}
	s2 := state.NewMemory(1)
	s2.Once(ctx, a, "x", time.Now().Add(-time.Second))
	if ok, err := s2.Once(ctx, b, "y", exp); !ok || err != nil {
		t.Fatalf("expired key not swept: %v, %v", ok, err)
	}
	if ok, _ := s2.Has(ctx, "a", "x"); ok {
		t.Fatal("expired key reported")
	}
}

// A flooding owner's expired keys leave its share without a full sweep, and
// the per-owner bookkeeping does not grow with churn.
func TestMemoryShareChurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	s := state.NewMemory(1000, state.WithClock(clk.Now))
	sh := state.Share{Owner: "jti:churn", Max: 3}
	for i := range 300 {
		if i%3 == 0 {
			clk.Add(2 * time.Millisecond) // the previous three have expired
		}
		exp := clk.Now().Add(time.Millisecond)
		if ok, err := s.Once(ctx, sh, fmt.Sprint(i), exp); !ok || err != nil {
			t.Fatalf("key %d: %v, %v", i, ok, err)
		}
	}
	if n := s.Len(); n > 3 {
		t.Fatalf("%d keys held for a share of 3", n)
	}
}

// Many owners (self-registered sybils) can take the burst half of the store
// but not the floor each other owner keeps: keys above an owner's floor are
// admitted only while all burst keys stay under half the capacity.
func TestMemoryFloorReserve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := state.NewMemory(10, state.WithFloor(1)) // burst half: 5 keys
	exp := time.Now().Add(time.Minute)
	tests := []struct {
		owner string
		keys  int
		fresh int // keys admitted; the rest ErrFull
	}{
		{"jti:sybil-0", 4, 4}, // floor 1 + burst 3
		{"jti:sybil-1", 4, 3}, // floor 1 + burst 2: the burst half is taken
		{"jti:sybil-2", 4, 1}, // its floor only
		{"jti:honest", 2, 1},  // its floor, though sybils hold the burst half
	}
	for _, tc := range tests {
		t.Run(tc.owner, func(t *testing.T) {
			sh := state.Share{Owner: tc.owner, Max: 100}
			for i := range tc.keys {
				ok, err := s.Once(ctx, sh, fmt.Sprint(i), exp)
				switch {
				case i < tc.fresh && (!ok || err != nil):
					t.Fatalf("key %d within floor/burst: %v, %v", i, ok, err)
				case i >= tc.fresh && (ok || !errors.Is(err, state.ErrFull)):
					t.Fatalf("key %d beyond the burst half = %v, %v; want ErrFull", i, ok, err)
				}
			}
		})
	}
	if n := s.Len(); n != 9 {
		t.Fatalf("%d keys held, want 9", n)
	}
}

// A full store is swept (under its lock) at most once a second, not on every
// call: an expired key frees its place at the next relief sweep.
func TestMemoryFullSweepsRarely(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	s := state.NewMemory(2, state.WithClock(clk.Now))
	long := clk.Now().Add(time.Minute)
	s.Once(ctx, state.Share{Owner: "a"}, "short", clk.Now().Add(50*time.Millisecond))
	s.Once(ctx, state.Share{Owner: "b"}, "long", long)
	c := state.Share{Owner: "c"}
	if _, err := s.Once(ctx, c, "1", long); !errors.Is(err, state.ErrFull) { // sweeps: nothing expired
		t.Fatalf("full store = %v, want ErrFull", err)
	}
	clk.Add(100 * time.Millisecond) // "short" expired, but the last sweep was moments ago
	if _, err := s.Once(ctx, c, "1", long); !errors.Is(err, state.ErrFull) {
		t.Fatalf("full store swept again within a second: %v", err)
	}
	clk.Add(time.Second)
	if ok, err := s.Once(ctx, c, "1", long); !ok || err != nil {
		t.Fatalf("expired key not swept after a second: %v, %v", ok, err)
	}
}

// An owner's own expired keys leave the burst half at once (its expiry heap,
// no sweep); other owners' expired burst keys at the next relief sweep, at
// most a second after the last.
func TestMemoryBurstFreedByExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	s := state.NewMemory(20, state.WithFloor(1), state.WithClock(clk.Now)) // burst half: 10 keys
	a, b, c := state.Share{Owner: "a"}, state.Share{Owner: "b"}, state.Share{Owner: "c"}
	long, short := clk.Now().Add(time.Minute), clk.Now().Add(50*time.Millisecond)
	for _, sh := range []state.Share{a, b, c} {
		s.Once(ctx, sh, "floor", long)
	}
	for i := range 5 {
		s.Once(ctx, a, fmt.Sprint(i), short)
		s.Once(ctx, b, fmt.Sprint(i), short)
	}
	if _, err := s.Once(ctx, c, "0", long); !errors.Is(err, state.ErrFull) { // relief sweep: nothing expired yet
		t.Fatalf("burst key with the burst half taken = %v, want ErrFull", err)
	}
	clk.Add(100 * time.Millisecond)
	if ok, err := s.Once(ctx, a, "again", long); !ok || err != nil {
		t.Fatalf("owner's own expired burst keys not freed: %v, %v", ok, err)
	}
	// b's expired burst keys stay counted: b is not refused, so nothing
	// looks at them until a relief sweep, at most one a second.
	if ok, err := s.Once(ctx, b, "again", long); !ok || err != nil {
		t.Fatalf("b: %v, %v", ok, err)
	}
	for i := range 4 {
		ok, err := s.Once(ctx, c, fmt.Sprint(i), long)
		if i < 3 && (!ok || err != nil) || i == 3 && !errors.Is(err, state.ErrFull) {
			t.Fatalf("burst key %d before the next relief sweep: %v, %v", i, ok, err)
		}
	}
	clk.Add(time.Second)
	for i := 3; i < 9; i++ {
		ok, err := s.Once(ctx, c, fmt.Sprint(i), long)
		if i < 8 && (!ok || err != nil) || i == 8 && !errors.Is(err, state.ErrFull) {
			t.Fatalf("burst key %d after the relief sweep: %v, %v", i, ok, err)
		}
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
