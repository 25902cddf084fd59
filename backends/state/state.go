package state

import (
	"container/heap"
	"context"
	"errors"
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

// Memory is the single-node Store.
type Memory struct {
	max int
	now func() time.Time

	mu        sync.Mutex
	m         map[slot]time.Time
	shares    map[string]*ownerShare
	nextSweep time.Time
}

var _ Store = (*Memory)(nil)

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

// NewMemory returns an in-memory store holding at most max live keys in all.
func NewMemory(max int) *Memory {
	if max <= 0 {
		max = 1_000_000
	}
	return &Memory{max: max, now: time.Now, m: map[slot]time.Time{}, shares: map[string]*ownerShare{}}
}

// Once implements Store.
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
	if len(s.m) >= s.max || now.After(s.nextSweep) {
		s.sweep(now)
	}
	o := s.shares[share.Owner]
	if o != nil && share.Max > 0 && o.n >= share.Max {
		s.expire(share.Owner, o, now)
		if o.n >= share.Max {
			return false, ErrShareFull
		}
	}
	if len(s.m) >= s.max {
		return false, ErrFull
	}
	if o == nil {
		o = &ownerShare{}
		s.shares[share.Owner] = o
	}
	s.m[k] = exp
	o.n++
	heap.Push(&o.exps, expiry{exp.UnixNano(), key})
	return true, nil
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
	s.nextSweep = now.Add(time.Minute)
}
