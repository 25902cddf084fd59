package backends

import (
	"context"
	"crypto"
)

// Signer produces JWS signatures (RFC 7515) with one key: in memory for the
// local key set, remote for Vault Transit.
type Signer interface {
	// KeyID is the JWS "kid".
	KeyID() string
	// Alg is the JWS "alg".
	Alg() string
	// Sign returns the JWS signature over signingInput (RFC 7515 §5.1).
	Sign(ctx context.Context, signingInput []byte) ([]byte, error)
}

// PublicKey is one key published in the JWKS.
type PublicKey struct {
	KID, Alg string
	Key      crypto.PublicKey
}

// SigningSet is what the broker signs with now and what it publishes:
// every key that has signed a token not yet expired, and the key that will
// sign next (publish before use).
type SigningSet struct {
	Active    Signer
	Published []PublicKey
}

// SigningSource provides the current SigningSet; the broker re-reads it periodically.
type SigningSource interface {
	SigningSet(ctx context.Context) (*SigningSet, error)
}
