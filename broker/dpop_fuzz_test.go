package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/authn/dpop/dpoptest"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker"
)

// FuzzTokenEndpointDPoP drives the token endpoint with arbitrary DPoP
// headers beside valid credentials: never a 5xx, and whenever a DPoP header
// was sent, either a refusal or a DPoP-bound token — never a bearer token
// that silently ignored the header.
func FuzzTokenEndpointDPoP(f *testing.F) {
	const iss = "https://broker.example.test"
	srv, secret := newTestBroker(f, broker.Config{Issuer: iss, DefaultAudience: "https://api.example.test"},
		&backends.Client{ClientID: "c", Scope: "read", AllowedResources: []string{"https://api.example.test"}})
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p, _ := dpop.NewProver(k)
	good, _ := p.Proof("POST", iss+"/token", "", "")
	f.Add(good, "")
	f.Add(good, good)
	f.Add(dpoptest.Forge(f, k, map[string]any{"typ": "JWT"}, dpoptest.Claims("POST", iss+"/token", time.Now())), "")
	f.Add("e30.e30.", "")
	f.Add("", "x")
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, v1, v2 string) {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("c", secret)
		for _, v := range []string{v1, v2} {
			if v != "" {
				req.Header.Add("DPoP", v)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q / %q: %s", rec.Code, v1, v2, rec.Body)
		}
		if rec.Code != 200 {
			return
		}
		var b map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &b)
		if sent := v1 != "" || v2 != ""; sent && b["token_type"] != "DPoP" {
			t.Fatalf("a DPoP header was ignored: %q / %q → %v", v1, v2, b)
		}
		if v1 != "" && v2 != "" {
			t.Fatalf("two DPoP headers accepted")
		}
	})
}
