package signing

import (
	"context"
	"crypto"
	"errors"
	"time"
)

// Signer produces JWS signatures (RFC 7515) with one key: in memory for a
// local key, remote for Vault Transit.
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

// Set is what the broker signs with now and what it publishes: every key
// that has signed a token not yet expired, and the key that will sign next
// (publish before use).
type Set struct {
	Active    Signer
	Published []PublicKey
}

// Source provides the current Set; a Keyring re-reads it periodically.
type Source interface {
	SigningSet(ctx context.Context) (*Set, error)
}

// Manager is a place signing keys live — a key set in a backend's KeyStore
// (Local), Vault Transit versions, Secrets Manager version stages — with
// what the broker and the operator do to it. Keys move next → active →
// retired whatever holds them: published before they sign, published until
// the tokens they signed have expired.
type Manager interface {
	Source
	// Ensure creates the keys when there are none yet; created says it did.
	Ensure(ctx context.Context) (created bool, err error)
	// Rotate makes the next key active and prepares a new next key. A source
	// that must wait before promoting (publish before use, tokens of the key
	// it drops still valid) returns ErrTooSoon unless force is set.
	Rotate(ctx context.Context, force bool) error
	// List describes every key the source holds, oldest first.
	List(ctx context.Context) ([]KeyInfo, error)
	// Close releases what the source holds (workers, connections); safe to call twice.
	Close() error
}

// KeyInfo describes one key for "tokenbroker keys list".
type KeyInfo struct {
	KID, Alg string
	// State is next, active or retired (backends.KeyNext …), or unpublished.
	State string
	// Version is where the source keeps the key, when it says more than the
	// kid: a Secrets Manager version stage ("AWSCURRENT"); empty otherwise.
	Version            string
	Created            time.Time
	Activated, Retired *time.Time
}

// ErrTooSoon: rotating now would sign with a key relying parties may not
// have fetched yet, or drop a key whose tokens are still valid. Rotate
// with force to do it anyway.
var ErrTooSoon = errors.New("too soon to rotate")

// TargetRotator is a Manager that can also rotate to a key the operator
// made elsewhere (AWS KMS: a key created with the organisation's own
// tooling) instead of creating one; "tokenbroker keys rotate --to KEY".
type TargetRotator interface {
	// RotateTo is Rotate with key as the next key.
	RotateTo(ctx context.Context, key string, force bool) error
}
