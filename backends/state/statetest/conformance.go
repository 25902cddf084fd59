package statetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/state"
)

// Conformance runs the state.Store contract against the stores newStore
// returns, a fresh and empty one per call, whose global bound is at least
// 1,000 keys: single use, expiry, keys scoped by owner, and per-owner shares
// — an owner at its maximum is refused with state.ErrShareFull while others
// keep recording, and gets its share back as its keys expire.
func Conformance(t *testing.T, newStore func(t *testing.T) state.Store) {
	ctx := context.Background()
	t.Run("Once", func(t *testing.T) {
		s := newStore(t)
		sh := state.Share{Owner: "jti:a", Max: 10}
		exp := time.Now().Add(time.Minute)
		if ok, err := s.Once(ctx, sh, "1", exp); !ok || err != nil {
			t.Fatalf("first Once = %v, %v", ok, err)
		}
		if ok, err := s.Once(ctx, sh, "1", exp); ok || err != nil {
			t.Fatalf("replay = %v, %v", ok, err)
		}
		if ok, err := s.Has(ctx, sh.Owner, "1"); !ok || err != nil {
			t.Fatalf("Has = %v, %v for a recorded key", ok, err)
		}
		if ok, _ := s.Has(ctx, sh.Owner, "2"); ok {
			t.Fatal("Has = true for a key never recorded")
		}
	})
	t.Run("OwnersScopeKeys", func(t *testing.T) {
		s := newStore(t)
		exp := time.Now().Add(time.Minute)
		a, b := state.Share{Owner: "jti:a", Max: 10}, state.Share{Owner: "jti:b", Max: 10}
		if ok, _ := s.Once(ctx, a, "same", exp); !ok {
			t.Fatal("a refused")
		}
		if ok, err := s.Once(ctx, b, "same", exp); !ok || err != nil {
			t.Fatalf("b's key was taken by a's: %v, %v", ok, err)
		}
		if ok, _ := s.Has(ctx, "jti:c", "same"); ok {
			t.Fatal("Has under another owner")
		}
	})
	t.Run("Expiry", func(t *testing.T) {
		s := newStore(t)
		sh := state.Share{Owner: "rev:a", Max: 1}
		if ok, _ := s.Once(ctx, sh, "short", time.Now().Add(50*time.Millisecond)); !ok {
			t.Fatal("short key refused")
		}
		time.Sleep(100 * time.Millisecond)
		if ok, _ := s.Has(ctx, sh.Owner, "short"); ok {
			t.Fatal("expired key still present")
		}
		// An expired key neither counts against the share nor blocks its reuse.
		if ok, err := s.Once(ctx, sh, "short", time.Now().Add(time.Minute)); !ok || err != nil {
			t.Fatalf("expired key not reusable: %v, %v", ok, err)
		}
	})
	t.Run("ShareBound", func(t *testing.T) {
		s := newStore(t)
		const max = 5
		a := state.Share{Owner: "jti:flooder", Max: max}
		b := state.Share{Owner: "jti:bystander", Max: max}
		short := time.Now().Add(300 * time.Millisecond)
		long := time.Now().Add(time.Minute)
		for i := range max {
			exp := long
			if i < 2 {
				exp = short
			}
			if ok, err := s.Once(ctx, a, fmt.Sprint(i), exp); !ok || err != nil {
				t.Fatalf("key %d within the share: %v, %v", i, ok, err)
			}
		}
		if ok, err := s.Once(ctx, a, "over", long); ok || !errors.Is(err, state.ErrShareFull) {
			t.Fatalf("key beyond the share = %v, %v; want ErrShareFull", ok, err)
		}
		if ok, err := s.Once(ctx, a, "0", long); ok || err != nil {
			t.Fatalf("replay with the share full = %v, %v; want (false, nil)", ok, err)
		}
		for i := range max {
			if ok, err := s.Once(ctx, b, fmt.Sprint(i), long); !ok || err != nil {
				t.Fatalf("another owner refused while the first is full: %v, %v", ok, err)
			}
		}
		// Same owner name, other kind: a separate share.
		if ok, err := s.Once(ctx, state.Share{Owner: "rev:flooder", Max: max}, "x", long); !ok || err != nil {
			t.Fatalf("the flooder's other share: %v, %v", ok, err)
		}
		time.Sleep(400 * time.Millisecond) // two of a's keys expire: room for two
		for _, k := range []string{"n1", "n2"} {
			if ok, err := s.Once(ctx, a, k, long); !ok || err != nil {
				t.Fatalf("share not freed by expiry: %v, %v", ok, err)
			}
		}
		if _, err := s.Once(ctx, a, "n3", long); !errors.Is(err, state.ErrShareFull) {
			t.Fatalf("share over its bound after expiry: %v", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		const max, workers, each = 20, 8, 10
		sh := state.Share{Owner: "jti:racer", Max: max}
		exp := time.Now().Add(time.Minute)
		var fresh, full, replays atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					// Every worker also tries key "same": exactly one may win it.
					for _, k := range []string{"same", fmt.Sprintf("%d-%d", w, i)} {
						ok, err := s.Once(ctx, sh, k, exp)
						switch {
						case errors.Is(err, state.ErrShareFull):
							full.Add(1)
						case err != nil:
							t.Error(err)
						case ok:
							fresh.Add(1)
						default:
							replays.Add(1)
						}
					}
				}
			})
		}
		wg.Wait()
		if fresh.Load() != max {
			t.Fatalf("%d keys recorded under a share of %d (full %d, replays %d)", fresh.Load(), max, full.Load(), replays.Load())
		}
		if ok, _ := s.Has(ctx, sh.Owner, "same"); !ok {
			t.Fatal("the contested key was not recorded")
		}
	})
}
