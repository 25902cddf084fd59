package broker_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/authn/spiffe/spiffetest"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker"
)

// FuzzSPIFFETokenEndpoint: any body at a token endpoint with the SPIFFE
// methods is answered below 500, and a token is issued only for the
// genuine JWT-SVID the seed carries.
func FuzzSPIFFETokenEndpoint(f *testing.F) {
	ctx := context.Background()
	dir := f.TempDir()
	store, err := file.New(filepath.Join(dir, "data"))
	if err != nil {
		f.Fatal(err)
	}
	if _, err := signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx); err != nil {
		f.Fatal(err)
	}
	ca, _ := spiffetest.NewCA("a.test")
	bj, _ := ca.BundleJSON()
	bf := filepath.Join(dir, "a.json")
	if err := os.WriteFile(bf, bj, 0o600); err != nil {
		f.Fatal(err)
	}
	tds, err := spiffe.New(ctx, []spiffe.Domain{{TrustDomain: ca.TD, BundleFile: bf}})
	if err != nil {
		f.Fatal(err)
	}
	defer tds.Close()
	const issuer = "https://broker.example.test"
	jwtm, _ := spiffe.JWTSVID(tds, spiffe.JWTConfig{Issuer: issuer})
	srv, err := broker.New(ctx, broker.Config{Issuer: issuer, DefaultAudience: "https://api.example.test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Methods:     []authn.Method{authn.ClientSecretBasic(), spiffe.X509SVID(tds), jwtm},
		WrapClients: func(s authn.ClientSource) authn.ClientSource { return spiffe.Clients(s) }}, store)
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	id := spiffeid.RequireFromString("spiffe://a.test/w")
	key, _ := spiffe.ClientKey(id)
	if _, err := srv.Registry().Create(ctx, &backends.Client{ClientID: key, TokenEndpointAuthMethod: backends.AuthSPIFFEJWT, Scope: "read", AllowedResources: []string{"https://api.example.test"}}); err != nil {
		f.Fatal(err)
	}
	genuine, _ := ca.JWTSVID(id, []string{issuer}, time.Hour)
	form := func(a string) string {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {spiffe.AssertionType}, "client_assertion": {a}}.Encode()
	}
	f.Add(form(genuine))
	f.Add(form(genuine) + "&client_id=spiffe%3A%2F%2Fa.test%2Fw")
	f.Add(form(genuine) + "&client_id=spiffe~a.test~w")
	f.Add("grant_type=client_credentials&client_id=spiffe%3A%2F%2Fa.test%2Fw")
	f.Add(form("e30.e30.e30"))
	h := srv.Handler()
	{ // the seed is genuine: the property below is not vacuous
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(form(genuine)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			f.Fatalf("the genuine JWT-SVID: %d %s", rec.Code, rec.Body)
		}
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code == 200 {
			v, _ := url.ParseQuery(body)
			if v.Get("client_assertion") != genuine {
				t.Fatalf("token issued without the genuine JWT-SVID: %q", body)
			}
		}
	})
}
