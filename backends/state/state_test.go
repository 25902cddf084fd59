package state_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
)

func TestMemoryConformance(t *testing.T) {
	statetest.Conformance(t, func(*testing.T) state.Store { return state.NewMemory(10_000) })
}

// The store's own bound still holds across owners: full of live keys, it
// fails closed, never forgets.
func TestMemoryGlobalBound(t *testing.T) {
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
	ctx := context.Background()
	s := state.NewMemory(1000)
	sh := state.Share{Owner: "jti:churn", Max: 3}
	for i := range 300 {
		exp := time.Now().Add(time.Millisecond)
		if i%3 == 0 {
			time.Sleep(2 * time.Millisecond) // the previous three have expired
		}
		if ok, err := s.Once(ctx, sh, fmt.Sprint(i), exp); !ok || err != nil {
			t.Fatalf("key %d: %v, %v", i, ok, err)
		}
	}
	if n := s.Len(); n > 3 {
		t.Fatalf("%d keys held for a share of 3", n)
	}
}
