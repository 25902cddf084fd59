package state_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/state"
)

func TestMemoryOnce(t *testing.T) {
	ctx := context.Background()
	s := state.NewMemory(2)
	exp := time.Now().Add(time.Minute)
	if ok, err := s.Once(ctx, "a", exp); !ok || err != nil {
		t.Fatalf("first Once = %v, %v", ok, err)
	}
	if ok, _ := s.Once(ctx, "a", exp); ok {
		t.Fatal("replay accepted")
	}
	if ok, _ := s.Has(ctx, "a"); !ok {
		t.Fatal("Has = false for a recorded key")
	}
	if ok, _ := s.Once(ctx, "b", exp); !ok {
		t.Fatal("second key refused")
	}
	// Full of live keys: fail closed, never forget.
	if _, err := s.Once(ctx, "c", exp); !errors.Is(err, state.ErrFull) {
		t.Fatalf("Once on a full store = %v, want ErrFull", err)
	}
	// Expired keys make room.
	if ok, _ := s.Once(ctx, "old", time.Now().Add(-time.Second)); ok {
		t.Fatal("full store accepted a key")
	}
	s2 := state.NewMemory(1)
	s2.Once(ctx, "x", time.Now().Add(-time.Second))
	if ok, err := s2.Once(ctx, "y", exp); !ok || err != nil {
		t.Fatalf("expired key not swept: %v, %v", ok, err)
	}
	if ok, _ := s2.Has(ctx, "x"); ok {
		t.Fatal("expired key reported")
	}
}
