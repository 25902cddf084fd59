package signing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
)

// Local is the Manager over a backend's key set (backends.KeySet): private
// keys held by the broker, states next → active → retired.
type Local struct {
	store backends.KeyStore
	o     Options
}

var _ Manager = (*Local)(nil)

// NewLocal returns the Manager over store's key set. It uses o.Alg (checked
// when a key is made), o.PublishDelay and o.MaxLifetime; zero durations are
// zero (no wait).
func NewLocal(store backends.KeyStore, o Options) *Local { return &Local{store: store, o: o} }

// SigningSet implements Source: next and active keys, and retired keys
// until their tokens have expired.
func (l *Local) SigningSet(ctx context.Context) (*Set, error) {
	ks, err := l.store.GetKeySet(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	set := &Set{}
	for _, sk := range ks.Keys {
		if !published(sk, now, l.o.MaxLifetime) {
			continue
		}
		signer, pub, err := ParseSigningKey(sk)
		if err != nil {
			return nil, err
		}
		if sk.State == backends.KeyActive {
			if set.Active != nil {
				return nil, fmt.Errorf("more than one active key (%s, %s)", set.Active.KeyID(), sk.KID)
			}
			set.Active = signer
		}
		set.Published = append(set.Published, PublicKey{KID: sk.KID, Alg: sk.Alg, Key: pub})
	}
	return set, nil
}

// published: next and active keys always; a retired key until every token it
// can have signed has expired (retirement + max lifetime + a minute of skew).
func published(sk backends.SigningKey, now time.Time, maxLifetime time.Duration) bool {
	switch sk.State {
	case backends.KeyNext, backends.KeyActive:
		return true
	case backends.KeyRetired:
		return sk.RetiredAt != nil && now.Before(sk.RetiredAt.Add(maxLifetime+time.Minute))
	}
	return false
}

// Ensure creates a key set with an active and a next key when the store has none.
func (l *Local) Ensure(ctx context.Context) (created bool, err error) {
	_, err = l.store.GetKeySet(ctx)
	if err == nil || !errors.Is(err, backends.ErrNotFound) {
		return false, err
	}
	now := time.Now()
	active, err := NewSigningKey(l.o.Alg, now)
	if err != nil {
		return false, err
	}
	active.State = backends.KeyActive
	active.ActivatedAt = &now
	next, err := NewSigningKey(l.o.Alg, now)
	if err != nil {
		return false, err
	}
	if err := l.store.PutKeySet(ctx, &backends.KeySet{Keys: []backends.SigningKey{active, next}}); err != nil {
		return false, err
	}
	return true, nil
}

// Rotate promotes the next key to active, retires the active key, creates a
// new next key (o.Alg), and drops retired keys whose tokens have all expired.
// Publish-before-use: the promoted key must have been in the JWKS for at
// least o.PublishDelay (the JWKS cache lifetime) unless force is set.
func (l *Local) Rotate(ctx context.Context, force bool) error {
	ks, err := l.store.GetKeySet(ctx)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	ni := slices.IndexFunc(ks.Keys, func(k backends.SigningKey) bool { return k.State == backends.KeyNext })
	if ni < 0 {
		return errors.New("no next key to promote")
	}
	if age := now.Sub(ks.Keys[ni].CreatedAt); age < l.o.PublishDelay && !force {
		return fmt.Errorf("%w: next key %s published %s ago, needs %s (or force)", ErrTooSoon, ks.Keys[ni].KID, age.Round(time.Second), l.o.PublishDelay)
	}
	next, err := NewSigningKey(l.o.Alg, now)
	if err != nil {
		return err
	}
	var keys []backends.SigningKey
	for _, k := range ks.Keys {
		switch k.State {
		case backends.KeyActive:
			k.State, k.RetiredAt = backends.KeyRetired, &now
		case backends.KeyNext:
			k.State, k.ActivatedAt = backends.KeyActive, &now
		}
		if published(k, now, l.o.MaxLifetime) {
			keys = append(keys, k)
		}
	}
	ks.Keys = append(keys, next)
	return l.store.PutKeySet(ctx, ks)
}

// List describes the stored keys in their stored order.
func (l *Local) List(ctx context.Context) ([]KeyInfo, error) {
	ks, err := l.store.GetKeySet(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, 0, len(ks.Keys))
	for _, k := range ks.Keys {
		out = append(out, KeyInfo{KID: k.KID, Alg: k.Alg, State: k.State, Created: k.CreatedAt, Activated: k.ActivatedAt, Retired: k.RetiredAt})
	}
	return out, nil
}

// Close implements Manager; the store is the caller's.
func (l *Local) Close() error { return nil }
