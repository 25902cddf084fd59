package backends

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/internal/es256"
)

// SigningAlgs are the supported access-token signing algorithms (RFC 7518 §3, RFC 8037).
var SigningAlgs = []string{"ES256", "EdDSA", "RS256", "PS256"}

type localSigner struct {
	kid, alg string
	key      crypto.Signer
	es256    *es256.Key // ES256: the faster signer (crypto/ecdsa in FIPS 140-3 mode)
}

var _ Signer = (*localSigner)(nil)

// NewLocalSigner returns a Signer over a private key held in memory; the key must fit alg.
func NewLocalSigner(kid, alg string, key crypto.Signer) (Signer, error) {
	ok := false
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		ok = alg == "ES256" && k.Curve == elliptic.P256()
	case ed25519.PrivateKey:
		ok = alg == "EdDSA"
	case *rsa.PrivateKey:
		ok = (alg == "RS256" || alg == "PS256") && k.N.BitLen() >= 2048
	}
	if !ok {
		return nil, fmt.Errorf("signing key %s: %T cannot sign %s", kid, key, alg)
	}
	ls := &localSigner{kid: kid, alg: alg, key: key}
	if k, isEC := key.(*ecdsa.PrivateKey); isEC {
		// es256 signs with crypto/ecdsa by itself in FIPS 140-3 mode.
		fast, err := es256.New(k)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", kid, err)
		}
		ls.es256 = fast
	}
	return ls, nil
}

func (s *localSigner) KeyID() string { return s.kid }
func (s *localSigner) Alg() string   { return s.alg }

func (s *localSigner) Sign(_ context.Context, in []byte) ([]byte, error) {
	switch k := s.key.(type) {
	case *ecdsa.PrivateKey:
		// RFC 7518 §3.4: R and S as fixed-width big-endian, concatenated:
		// the form es256 returns.
		d := sha256.Sum256(in)
		return s.es256.Sign(d[:])
	case ed25519.PrivateKey:
		return ed25519.Sign(k, in), nil
	case *rsa.PrivateKey:
		d := sha256.Sum256(in)
		if s.alg == "PS256" {
			return rsa.SignPSS(rand.Reader, k, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
	}
	return nil, fmt.Errorf("unsupported key %T", s.key)
}

// GenerateSigningKey makes a new private key for alg.
func GenerateSigningKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case "RS256", "PS256":
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("unsupported signing alg %q (want one of %v)", alg, SigningAlgs)
}

// NewSigningKey generates a key for alg in state "next", with its private JWK.
func NewSigningKey(alg string, now time.Time) (SigningKey, error) {
	key, err := GenerateSigningKey(alg)
	if err != nil {
		return SigningKey{}, err
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	kid := base64.RawURLEncoding.EncodeToString(id[:])
	priv, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg, Use: "sig"})
	if err != nil {
		return SigningKey{}, err
	}
	return SigningKey{KID: kid, Alg: alg, State: KeyNext, Private: priv, CreatedAt: now.UTC()}, nil
}

// ParseSigningKey returns the Signer and public key of a stored signing key.
func ParseSigningKey(sk SigningKey) (Signer, crypto.PublicKey, error) {
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
