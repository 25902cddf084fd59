package integration_test

import (
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/backends"
)

// signTyped signs a valid assertion with the given JOSE typ header ("" omits it).
func (k assertionKey) signTyped(t *testing.T, clientID, aud string, typ any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", k.kid)
	if typ != "" {
		opts = opts.WithHeader(jose.HeaderType, typ)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(s).Claims(map[string]any{"iss": clientID, "sub": clientID, "aud": aud,
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": randID()}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// draft-ietf-oauth-rfc7523bis: a client assertion is untyped, "JWT" or
// "client-authentication+jwt"; a JWT typed as anything else (an access token
// the client holds, at+jwt, is the obvious one) is not a client assertion,
// even when its signature and claims are otherwise perfect.
func TestAssertionTyp(t *testing.T) {
	e := newEnv(t)
	key := newAssertionKey(t, "k1")
	e.client(&backends.Client{ClientID: "jwt", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKS: key.jwks()})
	for _, tc := range []struct {
		typ any
		ok  bool
	}{
		{"", true},
		{"JWT", true},
		{"jwt", true},
		{"application/jwt", true},
		{"Application/JWT", true},
		{"client-authentication+jwt", true},
		{"application/client-authentication+JWT", true},
		{"at+jwt", false},
		{"application/at+jwt", false},
		{"logout+jwt", false},
		{"dpop+jwt", false},
		{"JOSE", false},
		{"text/jwt", false},
		{"jwt; charset=utf-8", false},
		{"application/client-authentication+jwt/x", false},
		{" JWT", false},
		{42, false},
		{[]string{"JWT"}, false},
	} {
		t.Run(func() string { s, _ := tc.typ.(string); return "typ=" + s }(), func(t *testing.T) {
			before := len(e.logs.String())
			resp, b := e.post(assertionForm(key.signTyped(t, "jwt", e.issuer, tc.typ)), nil)
			if tc.ok {
				if resp.StatusCode != 200 || b["access_token"] == nil {
					t.Fatalf("typ %v refused: %d %v\n%s", tc.typ, resp.StatusCode, b, e.logs.String()[before:])
				}
				return
			}
			if resp.StatusCode != 401 || b["error"] != "invalid_client" || b["access_token"] != nil {
				t.Fatalf("typ %v: got %d %v, want 401 invalid_client and no token", tc.typ, resp.StatusCode, b)
			}
			if logged := e.logs.String()[before:]; !strings.Contains(logged, "is not a client assertion") {
				t.Fatalf("refused, but not for its typ:\n%s", logged)
			}
		})
	}
}
