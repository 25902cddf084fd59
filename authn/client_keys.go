package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/tokenbroker/tokenbroker/backends"
)

// KeySource returns a client's public keys from its registered jwks (parsed
// once per record revision) or its jwks_uri (through the fetcher).
type KeySource struct {
	fetcher *JWKSFetcher
	max     int

	mu     sync.Mutex
	parsed map[string][]jose.JSONWebKey // client_id + "\x00" + revision
}

// NewKeySource returns a KeySource; fetcher may be nil to refuse jwks_uri.
func NewKeySource(fetcher *JWKSFetcher) *KeySource {
	return &KeySource{fetcher: fetcher, max: 10_000, parsed: map[string][]jose.JSONWebKey{}}
}

// Keys returns the client's asymmetric public keys. With a non-empty kid the
// keys with that kid come back; a jwks_uri is refetched (throttled) when the
// kid is unknown.
func (k *KeySource) Keys(ctx context.Context, c *backends.Client, kid string) ([]jose.JSONWebKey, error) {
	var all []jose.JSONWebKey
	var err error
	switch {
	case len(c.JWKS) > 0:
		all, err = k.inline(c)
	case c.JWKSURI != "":
		if k.fetcher == nil {
			return nil, errors.New("jwks_uri is not enabled")
		}
		all, err = k.fetcher.Get(ctx, c.ClientID, c.JWKSURI, kid)
	default:
		return nil, errors.New("client has no registered keys")
	}
	if err != nil {
		return nil, err
	}
	out := KeysWithID(all, kid)
	if len(out) == 0 && kid != "" {
		return nil, fmt.Errorf("no registered key with kid %q", kid)
	}
	return out, nil
}

// KeysWithID returns the keys of set whose "kid" is kid, or all of set when
// kid is empty: a JWS without a kid may be verified by any key of the set
// (RFC 7515 §4.1.4 makes "kid" optional, RFC 7517 §4.5 a hint to choose a key).
// The result is empty when no key matches (or set is).
func KeysWithID(set []jose.JSONWebKey, kid string) []jose.JSONWebKey {
	if kid == "" {
		return set
	}
	var out []jose.JSONWebKey
	for _, key := range set {
		if key.KeyID == kid {
			out = append(out, key)
		}
	}
	return out
}

func (k *KeySource) inline(c *backends.Client) ([]jose.JSONWebKey, error) {
	id := c.ClientID + "\x00" + c.Revision
	k.mu.Lock()
	keys, ok := k.parsed[id]
	k.mu.Unlock()
	if ok {
		return keys, nil
	}
	keys, err := ParsePublicJWKS(c.JWKS)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	if len(k.parsed) >= k.max {
		clear(k.parsed) // bounded; entries are cheap to rebuild
	}
	k.parsed[id] = keys
	k.mu.Unlock()
	return keys, nil
}

// MaxClientKeys bounds a client's JWK Set: every key without a matching kid
// may cost a signature verification, so the set's size is the cost of a
// forged assertion.
const MaxClientKeys = 10

// ErrClientJWKS is wrapped by CheckClientJWKS's refusals.
var ErrClientJWKS = errors.New("client jwks")

// CheckClientJWKS applies the rules a client's JWK Set (jwks, or the document
// at jwks_uri) must meet before any key in it is used: a JSON object whose
// "keys" array holds 1 to MaxClientKeys keys and, when it holds more than one,
// a non-empty "kid" string on every key (RFC 7517 §4.5), so that an assertion's
// kid selects the key to verify with instead of the broker trying them all.
// Registration checks it on write, authentication on every parse.
func CheckClientJWKS(b []byte) error {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := josejson.Unmarshal(b, &set); err != nil { // case-sensitive, as go-jose reads the set
		return fmt.Errorf("%w: not a JWK Set: %w", ErrClientJWKS, err)
	}
	switch n := len(set.Keys); {
	case n == 0:
		return fmt.Errorf("%w: no keys", ErrClientJWKS)
	case n > MaxClientKeys:
		return fmt.Errorf("%w: %d keys, at most %d allowed", ErrClientJWKS, n, MaxClientKeys)
	case n == 1:
		return nil
	}
	for i, raw := range set.Keys {
		var k struct {
			Kid any `json:"kid"`
		}
		// go-jose's json, as the key parser uses: "KID" is not "kid".
		if err := josejson.Unmarshal(raw, &k); err != nil {
			return fmt.Errorf("%w: key %d: %w", ErrClientJWKS, i, err)
		}
		if kid, ok := k.Kid.(string); !ok || kid == "" {
			return fmt.Errorf("%w: key %d has no kid; every key needs one when the set holds more than one", ErrClientJWKS, i)
		}
	}
	return nil
}

// ParsePublicJWKS checks a client's JWK Set (CheckClientJWKS), parses it and
// keeps only asymmetric keys, reduced to their public part: a symmetric
// ("oct") key can never verify anything, which makes HMAC-with-the-public-key
// impossible by construction.
func ParsePublicJWKS(b []byte) ([]jose.JSONWebKey, error) {
	if err := CheckClientJWKS(b); err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	out := make([]jose.JSONWebKey, 0, len(set.Keys))
	for _, key := range set.Keys {
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		switch key.Key.(type) {
		case *ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey:
		case *ecdsa.PrivateKey, ed25519.PrivateKey, *rsa.PrivateKey:
			key = key.Public()
		default:
			continue
		}
		if rk, ok := key.Key.(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
			continue
		}
		out = append(out, key)
	}
	if len(out) == 0 {
		return nil, errors.New("jwks: no usable asymmetric signing key")
	}
	return out, nil
}
