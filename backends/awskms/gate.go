package awskms

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// gate bounds the Sign calls toward KMS. Each signature is its own call —
// KMS signs one digest per request, so concurrent tokens cannot share one —
// so what concurrency buys is bounded: at most `slots` calls in flight, at
// most maxQueue waiting, each waiting no longer than its deadline. A
// ThrottlingException opens a backoff window (doubling from 50ms to 2s,
// with jitter, reset by the next success) during which no call is made;
// a signature whose deadline falls inside it is refused at once with
// Retry-After at the window's end. Nothing waits without a deadline.
type gate struct {
	slots    chan struct{}
	waiting  atomic.Int64
	maxQueue int64

	mu      sync.Mutex
	until   time.Time     // no call before this (throttled)
	backoff time.Duration // the last window's length
}

func newGate(slots, maxQueue int) *gate {
	return &gate{slots: make(chan struct{}, slots), maxQueue: int64(maxQueue)}
}

// Limiter is the bound toward KMS (Settings.Concurrency, MaxQueue) and its
// throttling backoff, to share between the sources one process opens: a
// configuration reload opens a new source, and the bound and a backoff in
// progress must outlive it (two instances side by side would otherwise
// each have the whole bound, and the new one would hit a throttled KMS
// again at once).
type Limiter struct {
	g                     *gate
	concurrency, maxQueue int
}

// NewLimiter bounds Sign calls: concurrency in flight (default 8),
// maxQueue waiting (default 1024).
func NewLimiter(concurrency, maxQueue int) *Limiter {
	concurrency, maxQueue = bounds(concurrency, maxQueue)
	return &Limiter{g: newGate(concurrency, maxQueue), concurrency: concurrency, maxQueue: maxQueue}
}

// Fits reports whether l has the bounds NewLimiter(concurrency, maxQueue)
// would give, so a reload that keeps them keeps l.
func (l *Limiter) Fits(concurrency, maxQueue int) bool {
	c, q := bounds(concurrency, maxQueue)
	return l != nil && l.concurrency == c && l.maxQueue == q
}

// bounds fills the defaults.
func bounds(concurrency, maxQueue int) (int, int) {
	if concurrency <= 0 {
		concurrency = 8
	}
	if maxQueue <= 0 {
		maxQueue = 1024
	}
	return concurrency, maxQueue
}

const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// throttled opens (or doubles) the backoff window.
func (g *gate) throttled() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.backoff = min(max(2*g.backoff, minBackoff), maxBackoff)
	// Full jitter on the upper half, so replicas throttled together do not
	// come back together.
	d := g.backoff/2 + rand.N(g.backoff/2+1)
	if u := time.Now().Add(d); u.After(g.until) {
		g.until = u
	}
}

// succeeded closes the backoff: KMS answered.
func (g *gate) succeeded() {
	g.mu.Lock()
	g.backoff = 0
	g.mu.Unlock()
}

func (g *gate) backoffUntil() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until
}

// unavailable is the refusal a caller sees: retry after d (at least a second).
func unavailable(d time.Duration, reason string) error {
	return &signing.UnavailableError{RetryAfter: max(d, time.Second), Err: errors.New("awskms: " + reason)}
}

// acquire waits for a slot until deadline and returns its release.
func (g *gate) acquire(ctx context.Context, deadline time.Time, obs signing.Observer) (func(), error) {
	if g.waiting.Add(1) > g.maxQueue {
		g.waiting.Add(-1)
		obs.Refused(SigningSource, "queue_full")
		return nil, unavailable(time.Second, "signing queue full")
	}
	obs.Queued(SigningSource, 1)
	defer func() { g.waiting.Add(-1); obs.Queued(SigningSource, -1) }()
	now := time.Now()
	if until := g.backoffUntil(); now.Before(until) {
		if !until.Before(deadline) {
			obs.Refused(SigningSource, "backoff")
			return nil, unavailable(until.Sub(now), "KMS throttled; backing off")
		}
		t := time.NewTimer(until.Sub(now))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, &signing.UnavailableError{RetryAfter: time.Second, Err: ctx.Err()}
		}
	}
	t := time.NewTimer(max(deadline.Sub(time.Now()), 0))
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	case <-t.C:
		obs.Refused(SigningSource, "deadline")
		return nil, unavailable(time.Second, "no KMS signing slot within the queue wait")
	case <-ctx.Done():
		return nil, &signing.UnavailableError{RetryAfter: time.Second, Err: ctx.Err()}
	}
}
