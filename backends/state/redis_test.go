package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
)

// Two replicas (two clients) on one Redis: a jti accepted by one is refused by the other.
func TestRedisSharedAcrossReplicas(t *testing.T) {
	addr, stop := statetest.StartRedis(t)
	ctx := context.Background()
	a := state.NewRedis(redis.NewClient(&redis.Options{Addr: addr}), "tb:")
	b := state.NewRedis(redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1}), "tb:")
	exp := time.Now().Add(time.Minute)
	if ok, err := a.Once(ctx, "jti:c:1", exp); !ok || err != nil {
		t.Fatalf("replica A: %v %v", ok, err)
	}
	if ok, err := b.Once(ctx, "jti:c:1", exp); ok || err != nil {
		t.Fatalf("replica B accepted a replay: %v %v", ok, err)
	}
	if ok, _ := b.Has(ctx, "jti:c:1"); !ok {
		t.Fatal("replica B does not see A's key")
	}
	if ok, _ := a.Once(ctx, "short", time.Now().Add(50*time.Millisecond)); !ok {
		t.Fatal("short key refused")
	}
	time.Sleep(100 * time.Millisecond)
	if ok, _ := a.Has(ctx, "short"); ok {
		t.Fatal("expired key still present")
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
	if ok, err := b.Once(ctx, "jti:c:2", exp); ok || err == nil {
		t.Fatalf("Once during a Redis outage: %v %v (must fail closed)", ok, err)
	}
	if err := b.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with Redis down")
	}
}

func TestMemoryLimiter(t *testing.T) {
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
