package authn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/authn"
)

// jwksOf returns a JWK Set of n fresh P-256 public keys; kid(i) names key i ("" for none).
func jwksOf(t testing.TB, n int, kid func(int) string) []byte {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for i := range n {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: kid(i), Algorithm: "ES256", Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckClientJWKS(t *testing.T) {
	t.Parallel()
	named := func(i int) string { return fmt.Sprintf("k%d", i) }
	none := func(int) string { return "" }
	for _, tc := range []struct {
		name string
		jwks []byte
		ok   bool
	}{
		{"one key without kid", jwksOf(t, 1, none), true},
		{"one key with kid", jwksOf(t, 1, named), true},
		{"ten keys with kids", jwksOf(t, 10, named), true},
		{"eleven keys", jwksOf(t, 11, named), false},
		{"two keys, one without kid", jwksOf(t, 2, func(i int) string { return named(i)[:2*i] }), false},
		{"two keys, kids spelt KID", []byte(strings.ReplaceAll(string(jwksOf(t, 2, named)), `"kid"`, `"KID"`)), false},
		{"two keys without kids", jwksOf(t, 2, none), false},
		{"no keys", []byte(`{"keys":[]}`), false},
		{"not a set", []byte(`[1,2]`), false},
		{"kid not a string", []byte(`{"keys":[{"kty":"EC","kid":1},{"kty":"EC","kid":"b"}]}`), false},
		{"empty kid", []byte(`{"keys":[{"kty":"EC","kid":""},{"kty":"EC","kid":"b"}]}`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := authn.CheckClientJWKS(tc.jwks)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckClientJWKS: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, authn.ErrClientJWKS) {
				t.Fatalf("refusal %v does not wrap ErrClientJWKS", err)
			}
			// Authentication applies the same rule to every set it parses.
			if _, perr := authn.ParsePublicJWKS(tc.jwks); !tc.ok && perr == nil {
				t.Fatal("ParsePublicJWKS accepted a set CheckClientJWKS refuses")
			}
		})
	}
}

// FuzzParsePublicJWKS: a client's JWK Set is untrusted input (registration,
// jwks_uri). Whatever it parses to respects the key-count and kid rules and
// holds only public asymmetric keys.
func FuzzParsePublicJWKS(f *testing.F) {
	f.Add(jwksOf(f, 1, func(int) string { return "" }))
	f.Add(jwksOf(f, 2, func(i int) string { return fmt.Sprint(i) }))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"AAAA"}]}`))
	f.Add([]byte(strings.ReplaceAll(string(jwksOf(f, 2, func(i int) string { return fmt.Sprint(i) })), `"kid"`, `"KID"`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := authn.ParsePublicJWKS(b)
		if err != nil {
			return
		}
		if authn.CheckClientJWKS(b) != nil {
			t.Fatal("parsed a set CheckClientJWKS refuses")
		}
		if len(keys) == 0 || len(keys) > authn.MaxClientKeys {
			t.Fatalf("%d keys", len(keys))
		}
		for _, k := range keys {
			if !k.IsPublic() {
				t.Fatal("a non-public key survived")
			}
			if len(keys) > 1 && k.KeyID == "" {
				t.Fatal("a key without kid in a multi-key set")
			}
		}
	})
}
