package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/internal/es256"
)

// algorithm is one access-token signing algorithm: how to make a key for it
// and how a key held in memory signs with it. This table is the one list of
// what the broker signs with (tokens.signing_alg, the JWKS, verification of
// its own tokens); remote sources (Vault Transit) map these names to their
// own key types.
type algorithm struct {
	name     string
	jose     jose.SignatureAlgorithm
	generate func() (crypto.Signer, error)
	// signer returns the signing function for key, or an error when key
	// does not fit the algorithm.
	signer func(key crypto.Signer) (func(in []byte) ([]byte, error), error)
}

var algorithms = []algorithm{
	{name: "ES256", jose: jose.ES256, // RFC 7518 §3.4
		generate: func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
		signer: func(key crypto.Signer) (func([]byte) ([]byte, error), error) {
			k, ok := key.(*ecdsa.PrivateKey)
			if !ok || k.Curve != elliptic.P256() {
				return nil, errNoFit
			}
			// es256 signs with crypto/ecdsa by itself in FIPS 140-3 mode.
			fast, err := es256.New(k)
			if err != nil {
				return nil, err
			}
			return func(in []byte) ([]byte, error) {
				// R and S as fixed-width big-endian, concatenated: the form es256 returns.
				d := sha256.Sum256(in)
				return fast.Sign(d[:])
			}, nil
		}},
	{name: "EdDSA", jose: jose.EdDSA, // RFC 8037 §3.1
		generate: func() (crypto.Signer, error) {
			_, k, err := ed25519.GenerateKey(rand.Reader)
			return k, err
		},
		signer: func(key crypto.Signer) (func([]byte) ([]byte, error), error) {
			k, ok := key.(ed25519.PrivateKey)
			if !ok {
				return nil, errNoFit
			}
			return func(in []byte) ([]byte, error) { return ed25519.Sign(k, in), nil }, nil
		}},
	{name: "RS256", jose: jose.RS256, generate: generateRSA, signer: rsaSigner(nil)}, // RFC 7518 §3.3
	// RFC 7518 §3.5: salt as long as the hash.
	{name: "PS256", jose: jose.PS256, generate: generateRSA, signer: rsaSigner(&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})},
}

var errNoFit = errors.New("key does not fit")

func generateRSA() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }

// rsaSigner signs PKCS #1 v1.5 with pss nil, else PSS.
func rsaSigner(pss *rsa.PSSOptions) func(crypto.Signer) (func([]byte) ([]byte, error), error) {
	return func(key crypto.Signer) (func([]byte) ([]byte, error), error) {
		k, ok := key.(*rsa.PrivateKey)
		if !ok || k.N.BitLen() < 2048 {
			return nil, errNoFit
		}
		return func(in []byte) ([]byte, error) {
			d := sha256.Sum256(in)
			if pss != nil {
				return rsa.SignPSS(rand.Reader, k, crypto.SHA256, d[:], pss)
			}
			return rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
		}, nil
	}
}

func lookup(alg string) (*algorithm, error) {
	for i := range algorithms {
		if algorithms[i].name == alg {
			return &algorithms[i], nil
		}
	}
	return nil, fmt.Errorf("unsupported signing alg %q (want one of %v)", alg, Algs())
}

// Algs are the supported access-token signing algorithms (RFC 7518 §3,
// RFC 8037), the default (ES256) first.
func Algs() []string {
	out := make([]string, len(algorithms))
	for i, a := range algorithms {
		out[i] = a.name
	}
	return out
}

// JOSEAlgs are Algs for go-jose: the allow-list for parsing the broker's
// own access tokens.
func JOSEAlgs() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(algorithms))
	for i, a := range algorithms {
		out[i] = a.jose
	}
	return out
}
