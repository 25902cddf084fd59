package state

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrFull is returned when a bounded store cannot record more keys; callers
// fail closed (refuse the assertion) rather than forget a jti.
var ErrFull = errors.New("state: store full")

// ErrShareFull is returned when an owner already holds its Share's maximum
// of live keys: that owner is refused (fail closed) until some of its keys
// expire, and every other owner keeps its own share.
var ErrShareFull = errors.New("state: owner's share full")

// Share is the part of a Store one owner may fill, so that one client cannot
// fill the shared state and make everyone else fail closed.
type Share struct {
	// Owner names whose keys these are, e.g. "jti:" + client_id. Keys are
	// scoped by owner: the same key under two owners is two keys.
	Owner string
	// Max bounds Owner's live keys (≤ 0: only the store's own bound).
	Max int
}

// Store is shared state with expiry.
type Store interface {
	// Once records key for share.Owner until exp and reports whether it was
	// not recorded before. Used for single-use assertion jti values (RFC 7523
	// §3 item 7) and revocations. A replay is (false, nil) even when the
	// share is full; a new key beyond share.Max is ErrShareFull.
	Once(ctx context.Context, share Share, key string, exp time.Time) (bool, error)
	// Has reports whether owner's key is recorded and not expired (revocation lookups).
	Has(ctx context.Context, owner, key string) (bool, error)
}

// Memory is the single-node Store. Its capacity is split so that owners who
// are many (self-registered sybil clients, RFC 7591 §3 with an initial access
// token) cannot together make everyone else fail closed: each owner's first
// floor keys are admitted while the store is below its hard cap, but keys
// beyond an owner's floor ("burst" keys) only while all owners' burst keys
// together stay under half the capacity. Sybils can take the burst half; an
// honest owner loses its floor only when hundreds of sybils (capacity / 2 /
// floor) each fill their own floor — which registration rate limits bound.
type Memory struct {
	max      int
	floor    int // keys per owner admitted up to the hard cap
	burstMax int // bound on the sum of keys above owners' floors: max / 2
	now      func() time.Time

	mu         sync.Mutex
	m          map[slot]time.Time
	shares     map[string]*ownerShare
	burst      int       // Σ max(0, owner's keys − floor)
	nextSweep  time.Time // the scheduled sweep
	lastRelief time.Time // the last sweep forced by pressure
}

var _ Store = (*Memory)(nil)

// MemoryOption configures NewMemory.
type MemoryOption func(*Memory)

// WithFloor sets the keys per owner guaranteed while the store is below its
// hard cap (default 1,000; n ≤ 0 keeps the default).
func WithFloor(n int) MemoryOption {
	return func(s *Memory) {
		if n > 0 {
			s.floor = n
		}
	}
}

// WithClock sets the clock (tests; default time.Now).
func WithClock(now func() time.Time) MemoryOption {
	return func(s *Memory) {
		if now != nil {
			s.now = now
		}
	}
}

// Sweep intervals: the whole store is walked (under its lock) once a minute,
// and at most once a second while it is under pressure — never on every
// call, which a full store would otherwise cost.
const (
	sweepEvery    = time.Minute
	sweepPressure = time.Second
)

// slot is a key within its owner's share.
type slot struct{ owner, key string }

// ownerShare counts an owner's keys and orders them by expiry, so a full
// share finds its expired keys without a sweep of the whole store.
type ownerShare struct {
	n    int     // keys held in Memory.m (expired ones until dropped)
	exps expHeap // the owner's keys by expiry; may hold stale items, see expire
}

type expiry struct {
	at  int64 // exp in Unix nanoseconds: 8 bytes rather than time.Time's 24
	key string
}

type expHeap []expiry

func (h expHeap) Len() int           { return len(h) }
func (h expHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// NewMemory returns an in-memory store holding at most max live keys in all
// (≤ 0: 1,000,000), of which at most half above owners' floors.
func NewMemory(max int, opts ...MemoryOption) *Memory {
	if max <= 0 {
		max = 1_000_000
	}
	s := &Memory{max: max, floor: 1_000, burstMax: max / 2, now: time.Now, m: map[slot]time.Time{}, shares: map[string]*ownerShare{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Once implements Store. A new key beyond share.Max is ErrShareFull; a new
// key the store cannot take (hard cap, or burst half taken while the owner
// is above its floor) is ErrFull.
func (s *Memory) Once(ctx context.Context, share Share, key string, exp time.Time) (bool, error) {
	now := s.now()
	k := slot{share.Owner, key}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[k]; ok {
		if now.Before(e) {
			return false, nil
		}
		s.drop(k) // expired: its place is free
	}
	if now.After(s.nextSweep) {
		s.sweep(now)
	}
	o := s.shares[share.Owner]
	if o != nil && share.Max > 0 && o.n >= share.Max {
		s.expire(share.Owner, o, now)
		if o.n >= share.Max {
			return false, ErrShareFull
		}
	}
	if o != nil && o.n >= s.floor && s.burst >= s.burstMax {
		s.expire(share.Owner, o, now)
		if o.n >= s.floor && s.burst >= s.burstMax && !s.relieve(now, func() bool { return s.burst < s.burstMax }) {
			return false, fmt.Errorf("%w: keys above the per-owner floor hold half the store", ErrFull)
		}
	}
	if len(s.m) >= s.max && !s.relieve(now, func() bool { return len(s.m) < s.max }) {
		return false, ErrFull
	}
	o = s.shares[share.Owner] // a sweep drops owners left without keys
	if o == nil {
		o = &ownerShare{}
		s.shares[share.Owner] = o
	}
	s.m[k] = exp
	if o.n >= s.floor {
		s.burst++
	}
	o.n++
	heap.Push(&o.exps, expiry{exp.UnixNano(), key})
	return true, nil
}

// relieve sweeps a store under pressure, at most once per sweepPressure,
// and reports whether ok() holds afterwards.
func (s *Memory) relieve(now time.Time, ok func() bool) bool {
	if now.Sub(s.lastRelief) >= sweepPressure {
		s.lastRelief = now
		s.sweep(now)
	}
	return ok()
}

// Has implements Store.
func (s *Memory) Has(ctx context.Context, owner, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[slot{owner, key}]
	return ok && s.now().Before(e), nil
}

// Len returns the number of keys held, expired ones included until the next sweep.
func (s *Memory) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// drop forgets k and its place in its owner's share.
func (s *Memory) drop(k slot) {
	delete(s.m, k)
	if o := s.shares[k.owner]; o != nil {
		o.n--
		if o.n >= s.floor {
			s.burst--
		}
	}
}

// expire drops owner's expired keys, earliest first. A heap item is stale
// when its key was dropped and recorded again: the item then is not after
// the time its key was dropped, so it is popped here without a second drop.
func (s *Memory) expire(owner string, o *ownerShare, now time.Time) {
	for len(o.exps) > 0 && o.exps[0].at <= now.UnixNano() {
		it := heap.Pop(&o.exps).(expiry)
		k := slot{owner, it.key}
		if e, ok := s.m[k]; ok && !now.Before(e) {
			s.drop(k)
		}
	}
}

func (s *Memory) sweep(now time.Time) {
	for k, e := range s.m {
		if !now.Before(e) {
			s.drop(k)
		}
	}
	for owner, o := range s.shares {
		if o.n == 0 {
			delete(s.shares, owner)
			continue
		}
		s.expire(owner, o, now) // only stale items remain to pop
	}
	s.nextSweep = now.Add(sweepEvery)
}
