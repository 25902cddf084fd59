package state

import (
	"context"
	"math"
	"sync"
	"time"
)

// Limiter is a set of token buckets, shared across replicas when backed by Redis.
type Limiter interface {
	// Take removes cost tokens from bucket key (capacity burst, refilled at
	// rate tokens per second) if at least max(cost, 1) are there. With cost 0
	// it only checks. When refused, retryAfter says when to come back.
	Take(ctx context.Context, key string, cost, rate, burst float64) (ok bool, retryAfter time.Duration, err error)
}

type bucket struct {
	tokens float64
	ts     time.Time
}

// MemoryLimiter is the single-node Limiter, bounded to max buckets.
type MemoryLimiter struct {
	max int
	mu  sync.Mutex
	b   map[string]*bucket
}

var _ Limiter = (*MemoryLimiter)(nil)

// NewMemoryLimiter returns a limiter holding at most max buckets (full buckets are dropped first).
func NewMemoryLimiter(max int) *MemoryLimiter {
	if max <= 0 {
		max = 100_000
	}
	return &MemoryLimiter{max: max, b: map[string]*bucket{}}
}

// Take implements Limiter.
func (m *MemoryLimiter) Take(_ context.Context, key string, cost, rate, burst float64) (bool, time.Duration, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.b[key]
	if !ok {
		if len(m.b) >= m.max {
			m.evict(now, rate, burst)
		}
		b = &bucket{tokens: burst, ts: now}
		m.b[key] = b
	}
	b.tokens = math.Min(burst, b.tokens+now.Sub(b.ts).Seconds()*rate)
	b.ts = now
	need := math.Max(cost, 1)
	if b.tokens < need {
		return false, time.Duration((need - b.tokens) / rate * float64(time.Second)), nil
	}
	b.tokens -= cost
	return true, 0, nil
}

// evict drops buckets that have refilled (they carry no information).
func (m *MemoryLimiter) evict(now time.Time, rate, burst float64) {
	for k, b := range m.b {
		if b.tokens+now.Sub(b.ts).Seconds()*rate >= burst {
			delete(m.b, k)
		}
	}
	if len(m.b) >= m.max { // all hot: drop an arbitrary one rather than grow
		for k := range m.b {
			delete(m.b, k)
			break
		}
	}
}
