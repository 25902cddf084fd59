package state_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
)

func TestRedisConformance(t *testing.T) {
	t.Parallel()
	addr, _ := statetest.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	n := 0
	statetest.Conformance(t, func(*testing.T) state.Store {
		n++ // a fresh namespace per case: an empty store
		return state.NewRedis(c, fmt.Sprintf("tb%d:", n))
	})
}

// Two replicas (two clients) on one Redis: a jti accepted by one is refused by the other.
func TestRedisSharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	addr, stop := statetest.StartRedis(t)
	ctx := context.Background()
	a := state.NewRedis(redis.NewClient(&redis.Options{Addr: addr}), "tb:")
	b := state.NewRedis(redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1}), "tb:")
	exp := time.Now().Add(time.Minute)
	sh := state.Share{Owner: "jti:c", Max: 2}
	if ok, err := a.Once(ctx, sh, "1", exp); !ok || err != nil {
		t.Fatalf("replica A: %v %v", ok, err)
	}
	if ok, err := b.Once(ctx, sh, "1", exp); ok || err != nil {
		t.Fatalf("replica B accepted a replay: %v %v", ok, err)
	}
	if ok, _ := b.Has(ctx, sh.Owner, "1"); !ok {
		t.Fatal("replica B does not see A's key")
	}
	// The share is counted across replicas.
	if ok, err := b.Once(ctx, sh, "2", exp); !ok || err != nil {
		t.Fatalf("replica B: %v %v", ok, err)
	}
	if _, err := a.Once(ctx, sh, "3", exp); !errors.Is(err, state.ErrShareFull) {
		t.Fatalf("replica A past the share filled on both: %v", err)
	}
	// Limits are shared: 3 tokens in the bucket, whoever takes them.
	for i, l := range []state.Limiter{a, b, a} {
		if ok, _, err := l.Take(ctx, "ip:10.0.0.1", 1, 0.1, 3); !ok || err != nil {
			t.Fatalf("take %d: %v %v", i, ok, err)
		}
	}
	ok, retry, err := b.Take(ctx, "ip:10.0.0.1", 1, 0.1, 3)
	if ok || err != nil || retry <= 0 || retry > 11*time.Second {
		t.Fatalf("4th take across replicas: %v %s %v", ok, retry, err)
	}
	// Outage: errors, never a silent "fresh".
	stop()
	if ok, err := b.Once(ctx, state.Share{Owner: "jti:d", Max: 2}, "1", exp); ok || err == nil {
		t.Fatalf("Once during a Redis outage: %v %v (must fail closed)", ok, err)
	}
	if err := b.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with Redis down")
	}
}

func TestMemoryLimiter(t *testing.T) {
	t.Parallel()
	l := state.NewMemoryLimiter(2)
	ctx := context.Background()
	for range 2 {
		if ok, _, _ := l.Take(ctx, "k", 1, 1, 2); !ok {
			t.Fatal("refused within burst")
		}
	}
	if ok, retry, _ := l.Take(ctx, "k", 1, 1, 2); ok || retry <= 0 {
		t.Fatal("burst exceeded")
	}
	if ok, _, _ := l.Take(ctx, "k", 0, 1, 2); ok {
		t.Fatal("check (cost 0) on an empty bucket allowed")
	}
	l.Take(ctx, "a", 1, 1, 2)
	l.Take(ctx, "b", 1, 1, 2)
	l.Take(ctx, "c", 1, 1, 2) // bounded: evicts
}

// Concurrent Once calls are sent together in pipelines; each script still
// runs atomically in order, so of many callers racing with the same jti
// exactly one wins, and every distinct jti is recorded once. A script cache
// flushed under load (a Redis restart, SCRIPT FLUSH) is reloaded, and Close
// makes later calls fail rather than hang.
func TestRedisOnceBatched(t *testing.T) {
	addr, _ := statetest.StartRedis(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64})
	t.Cleanup(func() { c.Close() })
	r := state.NewRedis(c, "batch:")
	exp := time.Now().Add(time.Minute)
	for round := range 3 {
		if round == 1 {
			if err := c.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		var wins, distinct atomic.Int64
		for i := range 200 {
			wg.Go(func() {
				sh := state.Share{Owner: "jti:c", Max: 1 << 20}
				if ok, err := r.Once(ctx, sh, fmt.Sprint("same-", round), exp); err != nil {
					t.Error(err)
				} else if ok {
					wins.Add(1)
				}
				if ok, err := r.Once(ctx, sh, fmt.Sprint(round, "-", i), exp); !ok || err != nil {
					t.Errorf("distinct jti %d: %v %v", i, ok, err)
				} else {
					distinct.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || distinct.Load() != 200 {
			t.Fatalf("round %d: %d callers won the same jti (want 1), %d of 200 distinct recorded", round, wins.Load(), distinct.Load())
		}
	}
	r.Close()
	r.Close()
	if _, err := r.Once(ctx, state.Share{Owner: "jti:c"}, "after-close", exp); err == nil {
		t.Fatal("Once after Close succeeded")
	}
}
