package broker

import (
	"context"
	"crypto"
	"fmt"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// ownTokenLeeway is how far ahead of this clock a token's nbf may lie: the
// replica that minted it may run a little ahead (accesstoken.Verifier's time
// rule; exp is exact). It matches the minute retired keys stay published and
// revoked ids are kept beyond exp.
const ownTokenLeeway = time.Minute

// ownTokens is the broker's side of authn/accesstoken: its tokens are
// signed with the key ring's active key, verified (introspection,
// revocation) against the keys it publishes, and the keys published.
type ownTokens struct {
	issuer   string
	keys     *signing.Keyring
	verifier *accesstoken.Verifier
}

// openOwnTokens loads the signing keys — from cfg.Signing, else the
// store's own key set — and verifies this broker's tokens against them.
func openOwnTokens(ctx context.Context, cfg Config, store backends.Store) (*ownTokens, error) {
	src := cfg.Signing
	if src == nil {
		src = signing.NewLocal(store, signing.Options{MaxLifetime: cfg.MaxTokenLifetime})
	}
	// RFC 9068 §2.1: typ at+jwt.
	keys, err := signing.NewKeyring(ctx, src, signing.WithRefresh(cfg.KeyRefresh), signing.WithLogger(cfg.Logger), signing.WithType("at+jwt"))
	if err != nil {
		return nil, err
	}
	t, err := newOwnTokens(cfg.Issuer, keys)
	if err != nil {
		keys.Close()
		return nil, err
	}
	return t, nil
}

// newOwnTokens verifies this broker's tokens: typ at+jwt, a published key's
// signature, our issuer, any audience (introspection answers whoever asks
// about any of our tokens).
func newOwnTokens(issuer string, keys *signing.Keyring) (*ownTokens, error) {
	v, err := accesstoken.NewVerifier(publishedKeys{keys}, accesstoken.Expected{Issuer: issuer, AnyAudience: true, Leeway: ownTokenLeeway})
	if err != nil {
		return nil, err
	}
	return &ownTokens{issuer: issuer, keys: keys, verifier: v}, nil
}

// mint signs an access token for g (RFC 9068).
func (t *ownTokens) mint(ctx context.Context, g *accesstoken.Grant, now time.Time) (string, *accesstoken.Claims, error) {
	return accesstoken.Mint(ctx, tokenSigner{t.keys}, t.issuer, g, now)
}

// verify checks that tok is a live access token this broker issued and
// returns its claims.
func (t *ownTokens) verify(ctx context.Context, tok string, now time.Time) (*accesstoken.Claims, error) {
	return t.verifier.Verify(ctx, tok, now)
}

// jwks is the published key set.
func (t *ownTokens) jwks() []byte { return t.keys.JWKS() }

// tokenSigner signs access tokens with the key ring's active key.
type tokenSigner struct{ keys *signing.Keyring }

var _ accesstoken.Signer = tokenSigner{}

// Sign implements accesstoken.Signer.
func (t tokenSigner) Sign(ctx context.Context, payload []byte) (string, error) {
	ak := t.keys.Active()
	jws, err := accesstoken.SignCompact(ctx, ak.Header, payload, ak.Sign)
	if err != nil {
		return "", fmt.Errorf("sign with %s: %w", ak.KeyID(), err)
	}
	return jws, nil
}

// publishedKeys are the keys the broker publishes, for verifying its own tokens.
type publishedKeys struct{ keys *signing.Keyring }

var _ accesstoken.KeySet = publishedKeys{}

// PublicKey implements accesstoken.KeySet.
func (p publishedKeys) PublicKey(_ context.Context, kid string) (crypto.PublicKey, bool) {
	k := p.keys.PublicKey(kid)
	return k, k != nil
}
