package broker

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"

	"github.com/tokenbroker/tokenbroker/backends"
)

// Signer is the signing seam: a local key here, Vault Transit in backends/vault.
type Signer = backends.Signer

// Supported access-token signing algorithms (RFC 7518 §3, RFC 8037).
var signingAlgs = []string{"ES256", "EdDSA", "RS256", "PS256"}

type localSigner struct {
	kid, alg string
	key      crypto.Signer
}

var _ Signer = (*localSigner)(nil)

func newLocalSigner(kid, alg string, key crypto.Signer) (*localSigner, error) {
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
	return &localSigner{kid: kid, alg: alg, key: key}, nil
}

func (s *localSigner) KeyID() string { return s.kid }
func (s *localSigner) Alg() string   { return s.alg }

func (s *localSigner) Sign(_ context.Context, in []byte) ([]byte, error) {
	switch k := s.key.(type) {
	case *ecdsa.PrivateKey:
		// RFC 7518 §3.4: R and S as fixed-width big-endian, concatenated.
		d := sha256.Sum256(in)
		r, ss, err := ecdsa.Sign(rand.Reader, k, d[:])
		if err != nil {
			return nil, err
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		ss.FillBytes(out[32:])
		return out, nil
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

// generateKey makes a new private key for alg.
func generateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case "RS256", "PS256":
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("unsupported signing alg %q (want one of %v)", alg, signingAlgs)
}
