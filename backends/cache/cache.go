package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/tokenbroker/tokenbroker/backends"
)

// Options tune a Cache. Zero values take the defaults noted.
type Options struct {
	// RefreshAfter: age after which a hit also starts a background refresh (default TTL/2).
	RefreshAfter time.Duration
	// TTL: age after which a value is stale: it is still served at once while
	// a background reload runs, until TTL+StaleWindow (default 30s).
	TTL time.Duration
	// StaleWindow: how long past TTL the last good value is served while it
	// is reloaded or the backend fails (default 10m).
	StaleWindow time.Duration
	// NegativeTTL: how long "not found" (and an invalid record) is remembered
	// (default TTL: an unknown id is cached as long as a known one, so
	// repeated lookups of either take no backend call).
	NegativeTTL time.Duration
	// RetryBackoff: after a failed load, how long requests are served stale
	// (or misses fail fast) before the next try; also the interval of the
	// background probe while the backend is down (default 1s).
	RetryBackoff time.Duration
	// LoadTimeout bounds each backend call (default 5s).
	LoadTimeout time.Duration
	// MaxEntries bounds memory (default 100000). Negative entries have their
	// own bound of the same size, so unknown ids cannot evict known ones.
	MaxEntries int
	// Logger receives stale-serving and refresh-failure events (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
	// After waits between probes of a failed backend (tests; default time.After).
	After func(time.Duration) <-chan time.Time
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
		o.NegativeTTL = o.TTL
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
	if o.After == nil {
		o.After = time.After
	}
}

// Loader loads one value from the backend.
type Loader[V any] func(ctx context.Context, key string) (V, error)

type entry[V any] struct {
	val      V
	err      error // negative entries: backends.ErrNotFound or an ErrInvalidRecord wrap
	loadedAt time.Time
	failedAt time.Time // last failed refresh, zero if none since loadedAt
	// refreshing is set by the one request that starts this entry's
	// background refresh; the reload replaces the entry, so it is never reset.
	refreshing atomic.Bool
}

func (e *entry[V]) negative() bool { return e.err != nil }

// Stats are cumulative counters, for metrics.
type Stats struct {
	Hits, Misses, Stale, LoadErrors uint64
	// Entries counts cached values, Negative cached "not found" and invalid records.
	Entries, Negative int
}

// Cache is a bounded, refresh-ahead, single-flight cache with a stale
// window, keyed by client id.
type Cache[V any] struct {
	load Loader[V]
	opt  Options

	mu       sync.RWMutex
	entries  map[string]*entry[V] // values
	negative map[string]*entry[V] // not found or invalid: bounded apart, never evicting values
	flight   singleflight.Group   // one backend load per key at a time

	downUntil                       atomic.Int64 // unix nanos: fail misses fast until then
	degraded                        atomic.Bool
	probing                         atomic.Bool
	lastFailed                      atomic.Pointer[string]
	hits, misses, stale, loadErrors atomic.Uint64

	ctx    context.Context
	cancel context.CancelFunc
	bgMu   sync.Mutex // orders background starts against Close
	wg     sync.WaitGroup
	closed bool
}

// New returns a cache in front of load.
func New[V any](load Loader[V], opt Options) *Cache[V] {
	opt.fill()
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache[V]{load: load, opt: opt, entries: map[string]*entry[V]{}, negative: map[string]*entry[V]{}, ctx: ctx, cancel: cancel}
}

// Get returns the value for key, a client id. Errors are
// backends.ErrNotFound, backends.ErrInvalidRecord (both cached like a
// value) or a backends.ErrUnavailable wrap when no usable value exists. A
// key that fails backends.ValidClientID is ErrNotFound at once: the backend
// is not asked, the degraded state is not touched and nothing is stored.
//
// Only a true miss waits on the backend (at most LoadTimeout): a cached
// value, fresh or stale, is answered at once and reloaded in the background.
func (c *Cache[V]) Get(ctx context.Context, key string) (V, error) {
	if !backends.ValidClientID(key) {
		// No backend can hold this id, and each one says so without I/O:
		// answered here, it never counts as "the backend answered", so it
		// cannot clear Degraded during an outage (or stop the probe).
		var zero V
		return zero, fmt.Errorf("cache: %q is not a valid client id: %w", key, backends.ErrNotFound)
	}
	now := c.opt.Now()
	c.mu.RLock()
	e := c.entries[key]
	if e == nil {
		e = c.negative[key]
	}
	c.mu.RUnlock()
	if e != nil {
		refreshAfter, ttl := c.opt.RefreshAfter, c.opt.TTL
		if e.negative() {
			refreshAfter, ttl = c.negativeRefreshAfter(), c.opt.NegativeTTL
		}
		switch age := now.Sub(e.loadedAt); {
		case age < refreshAfter:
			c.hits.Add(1)
			return e.val, e.err
		case age < ttl:
			c.hits.Add(1)
			c.refreshAsync(key, e, now)
			return e.val, e.err
		case age < ttl+c.opt.StaleWindow:
			// Stale-while-revalidate: the request never waits on the backend
			// (it may be down); the reload runs in the background.
			c.stale.Add(1)
			c.refreshAsync(key, e, now)
			return e.val, e.err
		}
	}
	c.misses.Add(1)
	if e == nil && now.UnixNano() < c.downUntil.Load() {
		var zero V
		return zero, fmt.Errorf("cache: backend down, %q not cached: %w", key, backends.ErrUnavailable)
	}
	ne, err := c.fetch(ctx, key)
	if err != nil {
		var zero V
		return zero, err
	}
	return ne.val, ne.err
}

// negativeRefreshAfter keeps the refresh-ahead point of negative entries at
// the same fraction of their lifetime as for values.
func (c *Cache[V]) negativeRefreshAfter() time.Duration {
	if c.opt.NegativeTTL == c.opt.TTL {
		return c.opt.RefreshAfter
	}
	return c.opt.NegativeTTL / 2
}

// fetch loads key once for all concurrent callers (single-flight) and
// stores the result; a caller whose context ends stops waiting, the load
// goes on for the others.
func (c *Cache[V]) fetch(ctx context.Context, key string) (*entry[V], error) {
	ch := c.flight.DoChan(key, func() (any, error) {
		// Close waits for the load like for any background work.
		if !c.enter() {
			return nil, fmt.Errorf("cache: closed: %w", backends.ErrUnavailable)
		}
		defer c.wg.Done()
		return c.loadAndStore(key)
	})
	select {
	case r := <-ch:
		e, _ := r.Val.(*entry[V])
		return e, r.Err
	case <-ctx.Done():
		return nil, fmt.Errorf("cache: %w: %w", backends.ErrUnavailable, ctx.Err())
	}
}

// loadAndStore is the one load of key in flight: it asks the backend and
// stores what it answered.
func (c *Cache[V]) loadAndStore(key string) (*entry[V], error) {
	// The load is shared: it must not die with the first caller's request.
	lctx, cancel := context.WithTimeout(c.ctx, c.opt.LoadTimeout)
	v, err := c.load(lctx, key)
	cancel()
	now := c.opt.Now()

	var (
		e    *entry[V]
		lerr error
	)
	c.mu.Lock()
	switch {
	case err == nil:
		e = &entry[V]{val: v, loadedAt: now}
		c.put(key, e)
		c.degraded.Store(false)
	case errors.Is(err, backends.ErrNotFound):
		// Get let only valid ids through: this answer came from the backend.
		e = &entry[V]{err: backends.ErrNotFound, loadedAt: now}
		c.put(key, e)
		c.degraded.Store(false)
	case errors.Is(err, backends.ErrInvalidRecord):
		// The backend answered: one bad record refuses its client, it is
		// not an outage (no degraded flag, no fail-fast window).
		if old, _ := c.lookup(key); old == nil || old.err == nil || !errors.Is(old.err, backends.ErrInvalidRecord) {
			c.opt.Logger.Warn("invalid client record; refusing that client", "key", key, "err", err)
		}
		e = &entry[V]{err: fmt.Errorf("cache: %q: %w", key, err), loadedAt: now}
		c.put(key, e)
		c.degraded.Store(false)
	default:
		c.loadErrors.Add(1)
		c.downUntil.Store(now.Add(c.opt.RetryBackoff).UnixNano())
		c.lastFailed.Store(&key)
		old, m := c.lookup(key)
		if old != nil {
			m[key] = &entry[V]{val: old.val, err: old.err, loadedAt: old.loadedAt, failedAt: now}
			c.opt.Logger.Warn("backend load failed; serving last good value", "key", key, "age", now.Sub(old.loadedAt).Round(time.Millisecond), "err", err)
		} else {
			c.opt.Logger.Warn("backend load failed", "key", key, "err", err)
		}
		lerr = fmt.Errorf("cache: load %q: %w: %w", key, backends.ErrUnavailable, err)
	}
	c.mu.Unlock()
	if lerr != nil && !c.degraded.Swap(true) {
		c.startProbe()
	}
	return e, lerr
}

// lookup returns key's entry and the map holding it; the caller holds c.mu.
func (c *Cache[V]) lookup(key string) (*entry[V], map[string]*entry[V]) {
	if e := c.entries[key]; e != nil {
		return e, c.entries
	}
	if e := c.negative[key]; e != nil {
		return e, c.negative
	}
	return nil, nil
}

// put stores e; the caller holds c.mu. Values and negative entries are
// bounded apart, so ids that do not exist (an attacker's random ones) only
// ever evict each other. When full, an arbitrary entry goes: map iteration
// order is random, which makes this random eviction.
func (c *Cache[V]) put(key string, e *entry[V]) {
	m, other := c.entries, c.negative
	if e.negative() {
		m, other = other, m
	}
	delete(other, key)
	if _, ok := m[key]; !ok && len(m) >= c.opt.MaxEntries {
		for k := range m {
			delete(m, k)
			break
		}
	}
	m[key] = e
}

// refreshAsync reloads key in the background unless this entry's reload
// was started already or its last one failed less than RetryBackoff ago.
// Only the first request to see the entry due starts the goroutine; a load
// of key already in flight (a miss, the probe) is joined, not repeated.
func (c *Cache[V]) refreshAsync(key string, e *entry[V], now time.Time) {
	if !e.failedAt.IsZero() && now.Sub(e.failedAt) < c.opt.RetryBackoff {
		return
	}
	if !e.refreshing.CompareAndSwap(false, true) {
		return
	}
	c.background(func() { _, _ = c.fetch(c.ctx, key) })
}

// background runs f on the cache's wait group unless the cache is closed.
func (c *Cache[V]) background(f func()) bool {
	if !c.enter() {
		return false
	}
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// enter adds one to the wait group Close waits for, unless the cache is
// closed; the caller calls c.wg.Done when its work ends.
func (c *Cache[V]) enter() bool {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	return true
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
	delete(c.negative, key)
	c.mu.Unlock()
}

// Degraded reports whether the last backend load failed (stale values may
// be served). While it is set, a background probe retries the backend every
// RetryBackoff, so it clears by itself when the backend returns — without
// waiting for a request.
func (c *Cache[V]) Degraded() bool { return c.degraded.Load() }

// Stats returns the counters.
func (c *Cache[V]) Stats() Stats {
	c.mu.RLock()
	n, neg := len(c.entries), len(c.negative)
	c.mu.RUnlock()
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Stale: c.stale.Load(), LoadErrors: c.loadErrors.Load(), Entries: n, Negative: neg}
}

// Close stops background refreshes and the probe, and waits for them; safe
// to call twice.
func (c *Cache[V]) Close() error {
	c.bgMu.Lock()
	was := c.closed
	c.closed = true
	c.bgMu.Unlock()
	if was {
		return nil
	}
	c.cancel()
	c.wg.Wait()
	return nil
}
