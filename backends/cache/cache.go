package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
)

// Options tune a Cache. Zero values take the defaults noted.
type Options struct {
	// RefreshAfter: age after which a hit also starts a background refresh (default TTL/2).
	RefreshAfter time.Duration
	// TTL: age after which a value is reloaded before use (default 30s).
	TTL time.Duration
	// StaleWindow: how long past TTL the last good value is served while the backend fails (default 10m).
	StaleWindow time.Duration
	// NegativeTTL: how long "not found" is remembered (default 2s).
	NegativeTTL time.Duration
	// RetryBackoff: after a failed load, how long requests are served stale (or fail fast) before the next try (default 1s).
	RetryBackoff time.Duration
	// LoadTimeout bounds each backend call (default 5s).
	LoadTimeout time.Duration
	// MaxEntries bounds memory (default 100000).
	MaxEntries int
	// Logger receives stale-serving and refresh-failure events (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

func (o *Options) fill() {
	if o.TTL <= 0 {
		o.TTL = 30 * time.Second
	}
	if o.RefreshAfter <= 0 || o.RefreshAfter > o.TTL {
		o.RefreshAfter = o.TTL / 2
	}
	if o.StaleWindow < 0 {
		o.StaleWindow = 0
	} else if o.StaleWindow == 0 {
		o.StaleWindow = 10 * time.Minute
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = 2 * time.Second
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = time.Second
	}
	if o.LoadTimeout <= 0 {
		o.LoadTimeout = 5 * time.Second
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 100_000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Loader loads one value from the backend.
type Loader[V any] func(ctx context.Context, key string) (V, error)

type entry[V any] struct {
	val      V
	negative bool
	loadedAt time.Time
	failedAt time.Time // last failed refresh, zero if none since loadedAt
}

type call[V any] struct {
	done chan struct{}
	e    *entry[V]
	err  error
}

// Stats are cumulative counters, for metrics.
type Stats struct {
	Hits, Misses, Stale, LoadErrors uint64
	Entries                         int
}

// Cache is a bounded, refresh-ahead, single-flight cache with a stale window.
type Cache[V any] struct {
	load Loader[V]
	opt  Options

	mu       sync.RWMutex
	entries  map[string]*entry[V]
	inflight map[string]*call[V]

	downUntil                       atomic.Int64 // unix nanos: fail misses fast until then
	degraded                        atomic.Bool
	hits, misses, stale, loadErrors atomic.Uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

// New returns a cache in front of load.
func New[V any](load Loader[V], opt Options) *Cache[V] {
	opt.fill()
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache[V]{load: load, opt: opt, entries: map[string]*entry[V]{}, inflight: map[string]*call[V]{}, ctx: ctx, cancel: cancel}
}

// Get returns the value for key. Errors are backends.ErrNotFound (cached
// briefly) or a backends.ErrUnavailable wrap when no usable value exists.
func (c *Cache[V]) Get(ctx context.Context, key string) (V, error) {
	now := c.opt.Now()
	c.mu.RLock()
	e := c.entries[key]
	c.mu.RUnlock()
	if e != nil {
		age := now.Sub(e.loadedAt)
		switch {
		case e.negative && age < c.opt.NegativeTTL:
			c.hits.Add(1)
			var zero V
			return zero, backends.ErrNotFound
		case !e.negative && age < c.opt.RefreshAfter:
			c.hits.Add(1)
			return e.val, nil
		case !e.negative && age < c.opt.TTL:
			c.hits.Add(1)
			c.refreshAsync(key)
			return e.val, nil
		case !e.negative && age < c.opt.TTL+c.opt.StaleWindow && now.Sub(e.failedAt) < c.opt.RetryBackoff:
			// The backend failed moments ago: serve stale without waiting on it again.
			c.stale.Add(1)
			return e.val, nil
		}
	}
	c.misses.Add(1)
	if e == nil && now.UnixNano() < c.downUntil.Load() {
		var zero V
		return zero, fmt.Errorf("cache: backend down, %q not cached: %w", key, backends.ErrUnavailable)
	}
	ne, err := c.fetch(ctx, key)
	if err == nil {
		if ne.negative {
			var zero V
			return zero, backends.ErrNotFound
		}
		return ne.val, nil
	}
	if e != nil && !e.negative && now.Sub(e.loadedAt) < c.opt.TTL+c.opt.StaleWindow {
		c.stale.Add(1)
		return e.val, nil
	}
	var zero V
	return zero, err
}

// fetch loads key once for all concurrent callers and stores the result.
func (c *Cache[V]) fetch(ctx context.Context, key string) (*entry[V], error) {
	c.mu.Lock()
	if cl, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		select {
		case <-cl.done:
			return cl.e, cl.err
		case <-ctx.Done():
			return nil, fmt.Errorf("cache: %w: %w", backends.ErrUnavailable, ctx.Err())
		}
	}
	cl := &call[V]{done: make(chan struct{})}
	c.inflight[key] = cl
	c.mu.Unlock()

	// The load is shared: it must not die with the first caller's request.
	lctx, cancel := context.WithTimeout(c.ctx, c.opt.LoadTimeout)
	v, err := c.load(lctx, key)
	cancel()
	now := c.opt.Now()

	c.mu.Lock()
	delete(c.inflight, key)
	switch {
	case err == nil:
		cl.e = &entry[V]{val: v, loadedAt: now}
		c.put(key, cl.e)
		c.degraded.Store(false)
	case errors.Is(err, backends.ErrNotFound):
		cl.e = &entry[V]{negative: true, loadedAt: now}
		c.put(key, cl.e)
	default:
		c.loadErrors.Add(1)
		c.degraded.Store(true)
		c.downUntil.Store(now.Add(c.opt.RetryBackoff).UnixNano())
		if old := c.entries[key]; old != nil && !old.negative {
			upd := *old
			upd.failedAt = now
			c.entries[key] = &upd
			c.opt.Logger.Warn("backend load failed; serving last good value", "key", key, "age", now.Sub(old.loadedAt).Round(time.Millisecond), "err", err)
		} else {
			c.opt.Logger.Warn("backend load failed", "key", key, "err", err)
		}
		cl.err = fmt.Errorf("cache: load %q: %w: %w", key, backends.ErrUnavailable, err)
	}
	c.mu.Unlock()
	close(cl.done)
	return cl.e, cl.err
}

// put stores e; the caller holds c.mu. When full, an arbitrary entry goes:
// map iteration order is random, which makes this random eviction.
func (c *Cache[V]) put(key string, e *entry[V]) {
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.opt.MaxEntries {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = e
}

func (c *Cache[V]) refreshAsync(key string) {
	c.mu.RLock()
	_, busy := c.inflight[key]
	c.mu.RUnlock()
	if busy || c.closed.Load() {
		return
	}
	c.wg.Go(func() { _, _ = c.fetch(c.ctx, key) })
}

// Prime stores a value loaded elsewhere (a warm start), as if just loaded.
func (c *Cache[V]) Prime(key string, v V) {
	c.mu.Lock()
	c.put(key, &entry[V]{val: v, loadedAt: c.opt.Now()})
	c.mu.Unlock()
}

// Invalidate drops key, so the next Get reloads it (after a local write).
func (c *Cache[V]) Invalidate(key string) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// Degraded reports whether the last backend load failed (stale values may be served).
func (c *Cache[V]) Degraded() bool { return c.degraded.Load() }

// Stats returns the counters.
func (c *Cache[V]) Stats() Stats {
	c.mu.RLock()
	n := len(c.entries)
	c.mu.RUnlock()
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Stale: c.stale.Load(), LoadErrors: c.loadErrors.Load(), Entries: n}
}

// Close stops background refreshes and waits for them; safe to call twice.
func (c *Cache[V]) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.cancel()
	c.wg.Wait()
	return nil
}
