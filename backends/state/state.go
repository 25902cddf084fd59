package state

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrFull is returned when a bounded store cannot record more keys; callers
// fail closed (refuse the assertion) rather than forget a jti.
var ErrFull = errors.New("state: store full")

// Store is shared state with expiry.
type Store interface {
	// Once records key until exp and reports whether it was not recorded
	// before. Used for single-use assertion jti values (RFC 7523 §3 item 7).
	Once(ctx context.Context, key string, exp time.Time) (bool, error)
	// Has reports whether key is recorded and not expired (revocation lookups).
	Has(ctx context.Context, key string) (bool, error)
}

// Memory is the single-node Store.
type Memory struct {
	max int
	now func() time.Time

	mu        sync.Mutex
	m         map[string]time.Time
	nextSweep time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an in-memory store holding at most max live keys.
func NewMemory(max int) *Memory {
	if max <= 0 {
		max = 1_000_000
	}
	return &Memory{max: max, now: time.Now, m: map[string]time.Time{}}
}

// Once implements Store.
func (s *Memory) Once(ctx context.Context, key string, exp time.Time) (bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok && now.Before(e) {
		return false, nil
	}
	if len(s.m) >= s.max || now.After(s.nextSweep) {
		s.sweep(now)
	}
	if len(s.m) >= s.max {
		return false, ErrFull
	}
	s.m[key] = exp
	return true, nil
}

// Has implements Store.
func (s *Memory) Has(ctx context.Context, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	return ok && s.now().Before(e), nil
}

// Len returns the number of keys held, expired ones included until the next sweep.
func (s *Memory) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *Memory) sweep(now time.Time) {
	for k, e := range s.m {
		if !now.Before(e) {
			delete(s.m, k)
		}
	}
	s.nextSweep = now.Add(time.Minute)
}
