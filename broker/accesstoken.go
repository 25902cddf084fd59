package broker

import (
	"context"
	"crypto"
	"fmt"

	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// The broker's side of authn/accesstoken: its tokens are signed with the key
// ring's active key and verified (introspection, revocation) against the
// keys it publishes.

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
