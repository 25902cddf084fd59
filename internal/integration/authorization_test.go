package integration_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/broker"
)

// The registration endpoint reads its initial access token with the one
// Authorization parser (accesstoken.ParseAuthorization): RFC 9110 §11.4
// "Bearer" 1*SP b64token (RFC 6750 §2.1), the scheme in any case. Anything
// else — a second token, auth-params, a separator glued to the token — is
// no token at all: 401 invalid_token, never a registration.
func TestRegistrationAuthorizationSyntax(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"bearer", "Bearer " + e.regToken, http.StatusCreated},
		{"scheme in lower case", "bearer " + e.regToken, http.StatusCreated},
		{"several spaces", "BEARER   " + e.regToken, http.StatusCreated},
		{"a second token", "Bearer " + e.regToken + " x", http.StatusUnauthorized},
		{"auth-param", `Bearer token="` + e.regToken + `"`, http.StatusUnauthorized},
		{"comma after", "Bearer " + e.regToken + ",", http.StatusUnauthorized},
		{"tab", "Bearer\t" + e.regToken, http.StatusUnauthorized},
		{"other scheme", "Basic " + e.regToken, http.StatusUnauthorized},
		{"no token", "Bearer", http.StatusUnauthorized},
		{"too long", "Bearer " + e.regToken + strings.Repeat("a", 1024), http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(http.MethodPost, e.issuer+broker.PathRegister, strings.NewReader(`{"client_name":"syntax"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", tc.header)
		resp, b := e.do(req)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d (%v)", tc.name, resp.StatusCode, tc.want, b)
			continue
		}
		if tc.want == http.StatusUnauthorized && (b["error"] != "invalid_token" || b["client_id"] != nil) {
			t.Errorf("%s: %v, want invalid_token and no client", tc.name, b)
		}
		if s, ok := b["client_secret"].(string); ok {
			e.handedOut = append(e.handedOut, s)
		}
	}
}
