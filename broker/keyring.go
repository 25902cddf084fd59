package broker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/backends"
)

// keyView is one immutable snapshot of the key ring.
type keyView struct {
	active *activeKey
	jwks   []byte // the published JWK Set
	kids   []string
	public map[string]any // kid → public key, for verifying our own tokens
}

type activeKey struct {
	signer Signer
	// header is base64url of the JOSE header, computed once (RFC 9068 §2.1: typ at+jwt).
	header string
}

// Keyring holds the current signing set and refreshes it.
type Keyring struct {
	src  backends.SigningSource
	log  *slog.Logger
	view atomic.Pointer[keyView]
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// NewKeyring loads the signing set; it fails when no key is active.
func NewKeyring(ctx context.Context, src backends.SigningSource, refresh time.Duration, log *slog.Logger) (*Keyring, error) {
	k := &Keyring{src: src, log: log, stop: make(chan struct{})}
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	if refresh > 0 {
		k.wg.Go(func() { k.loop(refresh) })
	}
	return k, nil
}

func (k *Keyring) loop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := k.Reload(ctx); err != nil {
				k.log.Warn("signing keys: reload failed; keeping the last good set", "err", err)
			}
			cancel()
		}
	}
}

// Reload reads the signing set from its source.
func (k *Keyring) Reload(ctx context.Context) error {
	set, err := k.src.SigningSet(ctx)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if set.Active == nil {
		return errors.New("signing keys: no active key")
	}
	v := &keyView{active: &activeKey{signer: set.Active, header: joseHeader(set.Active)}, public: map[string]any{}}
	var pub jose.JSONWebKeySet
	for _, p := range set.Published {
		pub.Keys = append(pub.Keys, jose.JSONWebKey{Key: p.Key, KeyID: p.KID, Algorithm: p.Alg, Use: "sig"})
		v.kids = append(v.kids, p.KID)
		v.public[p.KID] = p.Key
	}
	if _, ok := v.public[set.Active.KeyID()]; !ok {
		return fmt.Errorf("signing keys: active key %s is not published", set.Active.KeyID())
	}
	if v.jwks, err = json.Marshal(pub); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if old := k.view.Load(); old == nil || old.active.signer.KeyID() != v.active.signer.KeyID() {
		k.log.Info("signing key active", "kid", v.active.signer.KeyID(), "alg", v.active.signer.Alg(), "published", v.kids)
	}
	k.view.Store(v)
	return nil
}

// LocalKeys is the SigningSource over a backend's key set: private keys held
// by the broker, states next → active → retired.
func LocalKeys(store backends.KeyStore, maxLifetime time.Duration) backends.SigningSource {
	return localKeys{store: store, maxLifetime: maxLifetime}
}

type localKeys struct {
	store       backends.KeyStore
	maxLifetime time.Duration
}

func (l localKeys) SigningSet(ctx context.Context) (*backends.SigningSet, error) {
	ks, err := l.store.GetKeySet(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	set := &backends.SigningSet{}
	for _, sk := range ks.Keys {
		if !published(sk, now, l.maxLifetime) {
			continue
		}
		signer, pub, err := backends.ParseSigningKey(sk)
		if err != nil {
			return nil, err
		}
		if sk.State == backends.KeyActive {
			if set.Active != nil {
				return nil, fmt.Errorf("more than one active key (%s, %s)", set.Active.KeyID(), sk.KID)
			}
			set.Active = signer
		}
		set.Published = append(set.Published, backends.PublicKey{KID: sk.KID, Alg: sk.Alg, Key: pub})
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

func joseHeader(s Signer) string {
	h, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{s.Alg(), s.KeyID(), "at+jwt"})
	return base64.RawURLEncoding.EncodeToString(h)
}

// JWKS returns the published JWK Set (RFC 7517 §5).
func (k *Keyring) JWKS() []byte { return k.view.Load().jwks }

func (k *Keyring) active() *activeKey { return k.view.Load().active }

// publicKey returns the published key with kid, or nil.
func (k *Keyring) publicKey(kid string) any { return k.view.Load().public[kid] }

// Close stops the refresh loop; safe to call twice.
func (k *Keyring) Close() error {
	k.once.Do(func() { close(k.stop) })
	k.wg.Wait()
	return nil
}

// NewSigningKey generates a key for alg in state "next".
func NewSigningKey(alg string, now time.Time) (backends.SigningKey, error) {
	return backends.NewSigningKey(alg, now)
}

// EnsureKeySet creates a key set with an active and a next key when the store has none.
func EnsureKeySet(ctx context.Context, store backends.KeyStore, alg string) (created bool, err error) {
	_, err = store.GetKeySet(ctx)
	if err == nil || !errors.Is(err, backends.ErrNotFound) {
		return false, err
	}
	now := time.Now()
	active, err := NewSigningKey(alg, now)
	if err != nil {
		return false, err
	}
	active.State = backends.KeyActive
	active.ActivatedAt = &now
	next, err := NewSigningKey(alg, now)
	if err != nil {
		return false, err
	}
	if err := store.PutKeySet(ctx, &backends.KeySet{Keys: []backends.SigningKey{active, next}}); err != nil {
		return false, err
	}
	return true, nil
}

// ErrTooSoon is returned by RotateKeys when the next key has not been
// published long enough for relying parties to have fetched it.
var ErrTooSoon = errors.New("next key not yet published long enough")

// RotateKeys promotes the next key to active, retires the active key, creates
// a new next key (alg), and drops retired keys whose tokens have all expired.
// Publish-before-use: the promoted key must have been in the JWKS for at
// least minPublished (the JWKS cache lifetime) unless force is set.
func RotateKeys(ctx context.Context, store backends.KeyStore, alg string, minPublished, maxLifetime time.Duration, force bool) (*backends.KeySet, error) {
	ks, err := store.GetKeySet(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	ni := slices.IndexFunc(ks.Keys, func(k backends.SigningKey) bool { return k.State == backends.KeyNext })
	if ni < 0 {
		return nil, errors.New("no next key to promote")
	}
	if age := now.Sub(ks.Keys[ni].CreatedAt); age < minPublished && !force {
		return nil, fmt.Errorf("%w: key %s published %s ago, needs %s (or force)", ErrTooSoon, ks.Keys[ni].KID, age.Round(time.Second), minPublished)
	}
	next, err := NewSigningKey(alg, now)
	if err != nil {
		return nil, err
	}
	var keys []backends.SigningKey
	for _, k := range ks.Keys {
		switch k.State {
		case backends.KeyActive:
			k.State, k.RetiredAt = backends.KeyRetired, &now
		case backends.KeyNext:
			k.State, k.ActivatedAt = backends.KeyActive, &now
		}
		if published(k, now, maxLifetime) {
			keys = append(keys, k)
		}
	}
	ks.Keys = append(keys, next)
	if err := store.PutKeySet(ctx, ks); err != nil {
		return nil, err
	}
	return ks, nil
}
