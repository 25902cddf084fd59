package integration_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
)

func (e *env) form(path string, form url.Values, header http.Header) (*http.Response, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return e.do(req)
}

func TestIntrospectionAndRevocation(t *testing.T) {
	e := newEnv(t)
	aSecret := e.client(&backends.Client{ClientID: "a", Scope: "read write", TLSClientCertificateBoundAccessTokens: true})
	bSecret := e.client(&backends.Client{ClientID: "b", Scope: "read"})
	rs := e.client(&backends.Client{ClientID: "rs", Scope: "read"})
	cert, leaf := e.leafCert(nil, certs.Leaf{CommonName: "a", Client: true})
	_, tb := e.postVia(e.withCert(&cert), e.issuer, url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, basic("a", aSecret))
	tok := tb["access_token"].(string)

	introspect := func(token string) map[string]any {
		t.Helper()
		resp, b := e.form(broker.PathIntrospect, url.Values{"token": {token}}, basic("rs", rs))
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("introspect: %d %v", resp.StatusCode, b)
		}
		return b
	}
	got := introspect(tok)
	cnf, _ := got["cnf"].(map[string]any)
	if got["active"] != true || got["client_id"] != "a" || got["sub"] != "a" || got["scope"] != "read" || got["iss"] != e.issuer ||
		got["aud"] != audience || got["token_type"] != "Bearer" || got["jti"] == nil || got["exp"] == nil || got["iat"] == nil ||
		cnf["x5t#S256"] != certs.Thumbprint(leaf) {
		t.Fatalf("active introspection: %v", got)
	}

	// Inactive: nothing but active=false.
	other := newEnv(t)
	osec := other.client(&backends.Client{ClientID: "x", Scope: "read"})
	_, ob := other.post(url.Values{"grant_type": {"client_credentials"}}, basic("x", osec))
	forged := forgeWithKid(t, tok)
	short := e.client(&backends.Client{ClientID: "short", Scope: "read", AccessTokenLifetime: 1})
	_, sb := e.post(url.Values{"grant_type": {"client_credentials"}}, basic("short", short))
	// Expired: that token's claims dated an hour back, signed with the
	// broker's own active key (no waiting for its one second to pass).
	expired := redate(t, e, sb["access_token"].(string), -time.Hour)
	if introspect(redate(t, e, tok, 0))["active"] != true {
		t.Fatal("a re-signed current token is inactive: the expired case would prove nothing")
	}
	for name, token := range map[string]string{
		"garbage": "not-a-token", "foreign issuer": ob["access_token"].(string), "forged signature": forged,
		"expired": expired, "oversize": strings.Repeat("a", 9000),
	} {
		if got := introspect(token); len(got) != 1 || got["active"] != false {
			t.Errorf("%s: %v, want only active=false", name, got)
		}
	}

	// Revocation: another client's attempt changes nothing; the owner's sticks.
	if resp, _ := e.form(broker.PathRevoke, url.Values{"token": {tok}}, basic("b", bSecret)); resp.StatusCode != 200 {
		t.Fatalf("revoke by another client: %d, want 200", resp.StatusCode)
	}
	if introspect(tok)["active"] != true {
		t.Fatal("another client revoked a token it does not own")
	}
	if resp, _ := e.form(broker.PathRevoke, url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, basic("a", aSecret)); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if got := introspect(tok); len(got) != 1 || got["active"] != false {
		t.Fatalf("revoked token still active: %v", got)
	}
	if resp, _ := e.form(broker.PathRevoke, url.Values{"token": {"garbage"}}, basic("a", aSecret)); resp.StatusCode != 200 {
		t.Fatalf("revoke garbage: %d, want 200 (RFC 7009 §2.2)", resp.StatusCode)
	}
	// Both endpoints need client authentication.
	for _, p := range []string{broker.PathIntrospect, broker.PathRevoke} {
		if resp, b := e.form(p, url.Values{"token": {tok}}, nil); resp.StatusCode != 401 || b["error"] != "invalid_client" {
			t.Fatalf("%s without client authentication: %d %v", p, resp.StatusCode, b)
		}
		if resp, b := e.form(p, url.Values{}, basic("a", aSecret)); resp.StatusCode != 400 || b["error"] != "invalid_request" {
			t.Fatalf("%s without token: %d %v", p, resp.StatusCode, b)
		}
	}
	_, md := e.do(mustReq(t, e.issuer+broker.PathMetadata))
	if md["introspection_endpoint"] != e.issuer+broker.PathIntrospect || md["revocation_endpoint"] != e.issuer+broker.PathRevoke {
		t.Fatalf("metadata: %v", md)
	}
}

// forgeWithKid re-signs tok's claims with a fresh key under the same kid.
// redate re-signs tok with the broker's active key after moving its iat,
// nbf and exp by d: a token the broker could have issued at another time.
func redate(t *testing.T, e *env, tok string, d time.Duration) string {
	t.Helper()
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"iat", "nbf", "exp"} {
		if v, ok := claims[c].(float64); ok {
			claims[c] = v + d.Seconds()
		}
	}
	ks, err := e.store.GetKeySet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	kid := parsed.Headers[0].KeyID
	for _, k := range ks.Keys {
		if k.KID != kid {
			continue
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(k.Private); err != nil {
			t.Fatal(err)
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jwk.Key}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(claims)
		jws, err := s.Sign(b)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := jws.CompactSerialize()
		return out
	}
	t.Fatalf("no key %q in the broker's key set", kid)
	return ""
}

func forgeWithKid(t *testing.T, tok string) string {
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	parsed.UnsafeClaimsWithoutVerification(&claims)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", parsed.Headers[0].KeyID))
	b, _ := json.Marshal(claims)
	jws, _ := s.Sign(b)
	out, _ := jws.CompactSerialize()
	return out
}
