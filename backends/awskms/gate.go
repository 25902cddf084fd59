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
	now      func() time.Time
	obs      signing.Observer

	mu      sync.Mutex
	until   time.Time     // no call before this (throttled)
	backoff time.Duration // the last window's length
}

func newGate(slots, maxQueue int, now func() time.Time, obs signing.Observer) *gate {
	return &gate{slots: make(chan struct{}, slots), maxQueue: int64(maxQueue), now: now, obs: obs}
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
	if u := g.now().Add(d); u.After(g.until) {
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
func (g *gate) acquire(ctx context.Context, deadline time.Time) (func(), error) {
	if g.waiting.Add(1) > g.maxQueue {
		g.waiting.Add(-1)
		g.obs.Refused(SigningSource, "queue_full")
		return nil, unavailable(time.Second, "signing queue full")
	}
	g.obs.Queued(SigningSource, 1)
	defer func() { g.waiting.Add(-1); g.obs.Queued(SigningSource, -1) }()
	now := g.now()
	if until := g.backoffUntil(); now.Before(until) {
		if !until.Before(deadline) {
			g.obs.Refused(SigningSource, "backoff")
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
	t := time.NewTimer(max(deadline.Sub(g.now()), 0))
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	case <-t.C:
		g.obs.Refused(SigningSource, "deadline")
		return nil, unavailable(time.Second, "no KMS signing slot within the queue wait")
	case <-ctx.Done():
		return nil, &signing.UnavailableError{RetryAfter: time.Second, Err: ctx.Err()}
	}
}
