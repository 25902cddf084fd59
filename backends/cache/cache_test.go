package cache_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func quiet() *slog.Logger            { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func opts(c *clock) cache.Options {
	return cache.Options{RefreshAfter: 10 * time.Second, TTL: 30 * time.Second, StaleWindow: time.Minute, NegativeTTL: 2 * time.Second, RetryBackoff: time.Second, Logger: quiet(), Now: c.Now}
}

// backend is a loader whose answers the test controls.
type backend struct {
	loads   atomic.Int64
	done    atomic.Int64 // loads that returned
	mu      sync.Mutex
	val     map[string]string
	invalid map[string]bool
	down    bool
	gate    chan struct{} // when set, loads wait for it to close (a hung backend)
	started chan string   // when set, receives each key as its load starts
}

func (b *backend) load(ctx context.Context, k string) (string, error) {
	b.loads.Add(1)
	defer b.done.Add(1)
	b.mu.Lock()
	gate, started := b.gate, b.started
	b.mu.Unlock()
	if started != nil {
		started <- k
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return "", errors.New("connection refused")
	}
	if b.invalid[k] {
		return "", fmt.Errorf("decode %s: %w", k, backends.ErrInvalidRecord)
	}
	v, ok := b.val[k]
	if !ok {
		return "", backends.ErrNotFound
	}
	return v, nil
}

// hang makes the next loads block until the returned function is called.
func (b *backend) hang() (started <-chan string, release func()) {
	gate, st := make(chan struct{}), make(chan string, 100)
	b.mu.Lock()
	b.gate, b.started = gate, st
	b.mu.Unlock()
	var once sync.Once
	return st, func() {
		once.Do(func() {
			b.mu.Lock()
			b.gate, b.started = nil, nil
			b.mu.Unlock()
			close(gate)
		})
	}
}

func (b *backend) set(k, v string, down bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if v != "" {
		b.val[k] = v
	}
	b.down = down
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	b := &backend{val: map[string]string{"a": "v1"}}
	c := cache.New(b.load, opts(clk))
	defer c.Close()
	ctx := context.Background()

	get := func(key string) (string, error) { return c.Get(ctx, key) }
	if v, err := get("a"); v != "v1" || err != nil {
		t.Fatalf("first get = %q, %v", v, err)
	}
	get("a")
	if n := b.loads.Load(); n != 1 {
		t.Fatalf("hit loaded again: %d loads", n)
	}

	// Refresh-ahead: served at once, refreshed in the background.
	b.set("a", "v2", false)
	clk.Add(15 * time.Second)
	if v, _ := get("a"); v != "v1" {
		t.Fatalf("refresh-ahead served %q, want the cached v1", v)
	}
	waitFor(t, func() bool { v, _ := get("a"); return v == "v2" })

	// Backend down past TTL: stale value within the window (answered at once,
	// reloaded in the background), flagged degraded once that reload failed.
	b.set("", "", true)
	clk.Add(31 * time.Second)
	if v, err := get("a"); v != "v2" || err != nil {
		t.Fatalf("stale get = %q, %v", v, err)
	}
	waitFor(t, c.Degraded)
	// A client never seen before: unavailable, not "not found".
	if _, err := get("new"); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("unknown key while down = %v, want ErrUnavailable", err)
	}
	// Past the stale window: unavailable.
	clk.Add(2 * time.Minute)
	if _, err := get("a"); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("past stale window = %v, want ErrUnavailable", err)
	}
	// Recovery without restart.
	b.set("a", "v3", false)
	clk.Add(2 * time.Second)
	if v, err := get("a"); v != "v3" || err != nil {
		t.Fatalf("after recovery = %q, %v", v, err)
	}
	if c.Degraded() {
		t.Error("still degraded after recovery")
	}
	if s := c.Stats(); s.Stale == 0 || s.Hits == 0 || s.Misses == 0 || s.LoadErrors == 0 {
		t.Errorf("stats not counted: %+v", s)
	}
}

func TestNegativeCaching(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	b := &backend{val: map[string]string{}}
	c := cache.New(b.load, opts(clk))
	defer c.Close()
	for range 5 {
		if _, err := c.Get(context.Background(), "x"); !errors.Is(err, backends.ErrNotFound) {
			t.Fatalf("get = %v", err)
		}
	}
	if b.loads.Load() != 1 {
		t.Fatalf("negative result not cached: %d loads", b.loads.Load())
	}
	b.set("x", "now", false)
	clk.Add(3 * time.Second)
	// Past NegativeTTL: answered from the entry at once, like a stale value,
	// and reloaded in the background.
	if _, err := c.Get(context.Background(), "x"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("stale negative entry = %v, want ErrNotFound at once", err)
	}
	waitFor(t, func() bool { v, err := c.Get(context.Background(), "x"); return v == "now" && err == nil })
}

// Not parallel: it counts the process's goroutines waiting in the cache.
func TestSingleFlight(t *testing.T) {
	b := &backend{val: map[string]string{"k": "v"}, gate: make(chan struct{})}
	c := cache.New(b.load, cache.Options{Logger: quiet()})
	defer c.Close()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if v, err := c.Get(context.Background(), "k"); v != "v" || err != nil {
				t.Errorf("get = %q, %v", v, err)
			}
		})
	}
	// Every goroutine waits on the one load (blocked in the cache's fetch)
	// before it may finish: a goroutine that had missed but not yet joined
	// would start a second load.
	testkit.WaitFor(t, "50 callers waiting on the load", func() bool { return waitingInFetch() == 50 })
	close(b.gate)
	wg.Wait()
	if n := b.loads.Load(); n != 1 {
		t.Fatalf("%d loads for 50 concurrent misses, want 1", n)
	}
}

func TestBounded(t *testing.T) {
	t.Parallel()
	b := &backend{val: map[string]string{}}
	for i := range 100 {
		b.val[string(rune('A'+i))] = "v"
	}
	c := cache.New(b.load, cache.Options{MaxEntries: 10, Logger: quiet()})
	for k := range b.val {
		c.Get(context.Background(), k)
	}
	if n := c.Stats().Entries; n > 10 {
		t.Fatalf("%d entries, bound is 10", n)
	}
	c.Close()
	c.Close()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, "the condition", cond)
}

// waitingInFetch counts goroutines blocked in the cache's single-flight wait
// (the only way to see, from outside, that a caller has joined a load).
func waitingInFetch() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, " [select") && strings.Contains(g, "backends/cache.(*Cache[...]).fetch(") {
			count++
		}
	}
	return count
}
