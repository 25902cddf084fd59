package echoresource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/labstack/echo/v4"

	"github.com/tokenbroker/tokenbroker/authn/resource"
	"github.com/tokenbroker/tokenbroker/authn/resource/echoresource"
)

const api = "https://api.example.test"

// issuer is an authorization server reduced to what the middleware reads:
// RFC 8414 metadata and a JWKS, and a key to sign tokens with.
type issuer struct {
	url    string
	signer jose.Signer
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": is.url, "jwks_uri": is.url + "/jwks.json"})
	})
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	is.url = srv.URL
	if is.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1")); err != nil {
		t.Fatal(err)
	}
	return is
}

func (is *issuer) token(t *testing.T, scope, x5t string) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{"iss": is.url, "sub": "svc", "client_id": "svc", "aud": api, "scope": scope, "jti": "j1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	if x5t != "" {
		c["cnf"] = map[string]string{"x5t#S256": x5t}
	}
	tok, err := jwt.Signed(is.signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestMiddleware(t *testing.T) {
	is := newIssuer(t)
	v, err := resource.New(context.Background(), resource.Config{Issuer: is.url, Audience: api, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.GET("/orders", func(c echo.Context) error {
		claims, ok := echoresource.Claims(c)
		fromCtx, ok2 := resource.FromContext(c.Request().Context())
		if !ok || !ok2 || claims != fromCtx {
			return c.String(http.StatusInternalServerError, "claims not stored")
		}
		return c.String(http.StatusOK, claims.ClientID)
	}, echoresource.Middleware(v, resource.Scopes("orders:read")))
	for _, tc := range []struct {
		name, auth string
		status     int
		challenge  string // in WWW-Authenticate
	}{
		{"valid", "Bearer " + is.token(t, "orders:read", ""), http.StatusOK, ""},
		{"no token", "", http.StatusUnauthorized, `Bearer realm=`},
		{"missing scope", "Bearer " + is.token(t, "orders:write", ""), http.StatusForbidden, `error="insufficient_scope"`},
		{"bound, no certificate", "Bearer " + is.token(t, "orders:read", "x5t"), http.StatusUnauthorized, `error="invalid_token"`},
		{"garbage", "Bearer a.b.c", http.StatusUnauthorized, `error="invalid_token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/orders", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tc.status || !strings.Contains(rec.Header().Get("WWW-Authenticate"), tc.challenge) {
				t.Fatalf("%d %q %s, want %d with %q", rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body, tc.status, tc.challenge)
			}
			if tc.status == http.StatusOK && rec.Body.String() != "svc" {
				t.Fatalf("handler saw %q", rec.Body)
			}
		})
	}
}
