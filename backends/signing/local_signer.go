package signing

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/backends"
)

type localSigner struct {
	kid, alg string
	sign     func(in []byte) ([]byte, error)
}

var _ Signer = (*localSigner)(nil)

// NewLocalSigner returns a Signer over a private key held in memory; the key
// must fit alg (ES256: P-256; RS256, PS256: RSA of at least 2048 bits).
func NewLocalSigner(kid, alg string, key crypto.Signer) (Signer, error) {
	a, err := lookup(alg)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", kid, err)
	}
	sign, err := a.signer(key)
	if err == errNoFit {
		return nil, fmt.Errorf("signing key %s: %T cannot sign %s", kid, key, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", kid, err)
	}
	return &localSigner{kid: kid, alg: alg, sign: sign}, nil
}

func (s *localSigner) KeyID() string { return s.kid }
func (s *localSigner) Alg() string   { return s.alg }

func (s *localSigner) Sign(_ context.Context, in []byte) ([]byte, error) { return s.sign(in) }

// GenerateKey makes a new private key for alg.
func GenerateKey(alg string) (crypto.Signer, error) {
	a, err := lookup(alg)
	if err != nil {
		return nil, err
	}
	return a.generate()
}

// NewSigningKey generates a key for alg in state "next", with its private JWK.
func NewSigningKey(alg string, now time.Time) (backends.SigningKey, error) {
	key, err := GenerateKey(alg)
	if err != nil {
		return backends.SigningKey{}, err
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	kid := base64.RawURLEncoding.EncodeToString(id[:])
	priv, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg, Use: "sig"})
	if err != nil {
		return backends.SigningKey{}, err
	}
	return backends.SigningKey{KID: kid, Alg: alg, State: backends.KeyNext, Private: priv, CreatedAt: now.UTC()}, nil
}

// ParseSigningKey returns the Signer and public key of a stored signing key.
func ParseSigningKey(sk backends.SigningKey) (Signer, crypto.PublicKey, error) {
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(sk.Private, &jwk); err != nil {
		return nil, nil, fmt.Errorf("signing key %s: %w", sk.KID, err)
	}
	signer, ok := jwk.Key.(crypto.Signer)
	if !ok || jwk.IsPublic() {
		return nil, nil, fmt.Errorf("signing key %s: not a private key", sk.KID)
	}
	ls, err := NewLocalSigner(sk.KID, sk.Alg, signer)
	if err != nil {
		return nil, nil, err
	}
	return ls, signer.Public(), nil
}
