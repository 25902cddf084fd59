package authn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/state"
)

// TestAssertionRefusalsCostTheSame: until the signature verifies, every
// refusal ends up having spent one table verification and one crypto/ecdsa
// verification (docs/security.md: unknown client and bad credential look alike,
// timing included) — whether the client is unknown, the alg or kid wrong, or
// the signature bad with or without a table for the client's key. A genuine
// assertion spends nothing extra.
func TestAssertionRefusalsCostTheSame(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k", Algorithm: "ES256"}}})
	src := source{"jwt": {Client: &backends.Client{ClientID: "jwt", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, JWKS: jwks, Revision: "1"}, Secrets: &backends.SecretSet{}}}
	pk, err := authn.PrivateKeyJWT(authn.AssertionConfig{Issuer: "https://as.example", Replay: state.NewMemory(1 << 20), Keys: authn.NewKeySource(nil)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := authn.New(src, []authn.Method{pk})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	assertion := func(k *ecdsa.PrivateKey, kid, sub string) string {
		n++
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithHeader("kid", kid))
		now := time.Now()
		tok, err := jwt.Signed(s).Claims(jwt.Claims{Issuer: sub, Subject: sub, Audience: jwt.Audience{"https://as.example"},
			Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: string(rune('a' + n))}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	try := func(tok string) (spent [2]bool, calls int, err error) {
		authn.ObserveParity(func(table, std bool) { calls++; spent = [2]bool{table, std} })
		defer authn.ObserveParity(nil)
		_, err = a.Authenticate(t.Context(), &authn.Request{Form: url.Values{"client_assertion_type": {authn.AssertionType}, "client_assertion": {tok}}})
		return spent, calls, err
	}
	check := func(name, tok string, want [2]bool) {
		t.Helper()
		spent, calls, err := try(tok)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if calls != 1 || spent != want {
			t.Errorf("%s: parity spend %v in %d calls, want %v once", name, spent, calls, want)
		}
	}
	check("unknown client", assertion(key, "k", "nobody"), [2]bool{true, true})
	check("unknown kid", assertion(forger, "other", "jwt"), [2]bool{true, true})
	// The key has no table yet: go-jose spent the crypto/ecdsa verification.
	check("forged, key without a table", assertion(forger, "k", "jwt"), [2]bool{true, false})
	if _, calls, err := try(assertion(key, "k", "jwt")); err != nil || calls != 0 {
		t.Fatalf("genuine assertion: err=%v, parity calls %d", err, calls)
	}
	// The genuine signature admitted the key: now the table path spent its share.
	check("forged, key with a table", assertion(forger, "k", "jwt"), [2]bool{false, true})
}
