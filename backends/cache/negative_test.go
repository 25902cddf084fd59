package cache_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
)

// An unknown id is remembered as long as a known one, so the backend's
// latency does not tell which ids exist (issue 11 item 11).
func TestNegativeTTLDefaultsToTTL(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	b := &backend{val: map[string]string{"known": "v"}}
	c := cache.New(b.load, cache.Options{TTL: 30 * time.Second, Logger: quiet(), Now: clk.Now})
	defer c.Close()
	ctx := context.Background()
	c.Get(ctx, "known")
	c.Get(ctx, "unknown")
	clk.Add(10 * time.Second) // well past the old 2 s, before refresh-ahead
	if _, err := c.Get(ctx, "unknown"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("unknown = %v", err)
	}
	if v, err := c.Get(ctx, "known"); v != "v" || err != nil {
		t.Fatalf("known = %q, %v", v, err)
	}
	if s := c.Stats(); s.Misses != 2 || s.Stale != 0 || s.Hits != 2 {
		t.Fatalf("%+v: an unknown id expired before a known one would", s)
	}
	if n := b.loads.Load(); n != 2 {
		t.Fatalf("%d loads, want 2: an unknown id went back to the backend before a known one would", n)
	}
}

// Random unknown ids (an attacker's) fill only the negative entries: they
// never evict a cached client, and they stay bounded.
func TestNegativeEntriesNeverEvictValues(t *testing.T) {
	t.Parallel()
	b := &backend{val: map[string]string{}}
	for i := range 10 {
		b.val[fmt.Sprintf("client-%d", i)] = "v"
	}
	c := cache.New(b.load, cache.Options{MaxEntries: 10, Logger: quiet()})
	defer c.Close()
	ctx := context.Background()
	for k := range b.val {
		c.Get(ctx, k)
	}
	for i := range 1000 {
		c.Get(ctx, fmt.Sprintf("random-%d", i))
	}
	loads := b.loads.Load()
	for k := range b.val {
		if v, err := c.Get(ctx, k); v != "v" || err != nil {
			t.Fatalf("%s = %q, %v", k, v, err)
		}
	}
	if n := b.loads.Load(); n != loads {
		t.Fatalf("%d known clients were evicted by unknown ids", n-loads)
	}
	if s := c.Stats(); s.Entries != 10 || s.Negative > 10 {
		t.Fatalf("entries %d (want 10), negative %d (bound 10)", s.Entries, s.Negative)
	}
}
