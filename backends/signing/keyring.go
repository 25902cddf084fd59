package signing

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// keyView is one immutable snapshot of the key ring.
type keyView struct {
	active *Active
	jwks   []byte // the published JWK Set
	kids   []string
	public map[string]crypto.PublicKey // kid → public key, for verifying our own tokens
}

// Active is the key that signs now.
type Active struct {
	Signer
	// Header is base64url of the JOSE header (alg, kid and the Keyring's
	// typ), computed once per key.
	Header string
}

// Keyring holds the current Set of a Source — the active signer with its
// JOSE header, the published keys and their JWK Set — and re-reads it in the
// background, keeping the last good set when a read fails.
type Keyring struct {
	src     Source
	log     *slog.Logger
	typ     string
	refresh time.Duration
	view    atomic.Pointer[keyView]
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// KeyringOption configures a Keyring.
type KeyringOption func(*Keyring)

// WithRefresh re-reads the source every d (0: never).
func WithRefresh(d time.Duration) KeyringOption { return func(k *Keyring) { k.refresh = d } }

// WithLogger logs key changes and failed reloads to log.
func WithLogger(log *slog.Logger) KeyringOption { return func(k *Keyring) { k.log = log } }

// WithType sets the JOSE "typ" of the headers (RFC 9068 §2.1: at+jwt).
func WithType(typ string) KeyringOption { return func(k *Keyring) { k.typ = typ } }

// NewKeyring loads the signing set; it fails when no key is active.
func NewKeyring(ctx context.Context, src Source, opts ...KeyringOption) (*Keyring, error) {
	k := &Keyring{src: src, log: slog.New(slog.DiscardHandler), stop: make(chan struct{})}
	for _, o := range opts {
		o(k)
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	if k.refresh > 0 {
		k.wg.Go(func() { k.loop(k.refresh) })
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
	v := &keyView{active: &Active{Signer: set.Active, Header: k.joseHeader(set.Active)}, public: map[string]crypto.PublicKey{}}
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
	if old := k.view.Load(); old == nil || old.active.KeyID() != v.active.KeyID() {
		k.log.Info("signing key active", "kid", v.active.KeyID(), "alg", v.active.Alg(), "published", v.kids)
	}
	k.view.Store(v)
	return nil
}

func (k *Keyring) joseHeader(s Signer) string {
	h, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ,omitempty"`
	}{s.Alg(), s.KeyID(), k.typ})
	return base64.RawURLEncoding.EncodeToString(h)
}

// JWKS returns the published JWK Set (RFC 7517 §5).
func (k *Keyring) JWKS() []byte { return k.view.Load().jwks }

// Active returns the key that signs now.
func (k *Keyring) Active() *Active { return k.view.Load().active }

// PublicKey returns the published key with kid, or nil.
func (k *Keyring) PublicKey(kid string) crypto.PublicKey { return k.view.Load().public[kid] }

// Close stops the refresh loop; safe to call twice.
func (k *Keyring) Close() error {
	k.once.Do(func() { close(k.stop) })
	k.wg.Wait()
	return nil
}
