package broker_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker"
)

func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"grant_type=client_credentials", "a=1&a=2", "resource=x&resource=y", "%zz", "a=%ff", "a=&b=1", ";;", strings.Repeat("a=1&", 70)} {
		f.Add("application/x-www-form-urlencoded", s)
	}
	f.Add("application/x-www-form-urlencoded; charset=UTF-8", "x=1")
	f.Add("text/plain", "x=1")
	f.Fuzz(func(t *testing.T, ct, body string) {
		form, err := broker.ParseForm(ct, []byte(body), "resource")
		if err != nil {
			var oe *broker.Error
			if !errors.As(err, &oe) || oe.Status != 400 || oe.Code != "invalid_request" {
				t.Fatalf("error outside the vocabulary: %#v", err)
			}
			return
		}
		for k, vs := range form {
			if len(vs) == 0 || (len(vs) > 1 && k != "resource") {
				t.Fatalf("parameter %q has %d values", k, len(vs))
			}
			for _, v := range vs {
				if v == "" {
					t.Fatalf("empty value kept for %q", k)
				}
			}
		}
	})
}

// FuzzTokenEndpoint drives the whole token endpoint with arbitrary bodies and
// Authorization headers: never a 5xx, never a token without the real secret.
func FuzzTokenEndpoint(f *testing.F) {
	srv, secret := newTestBroker(f, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test"},
		&backends.Client{ClientID: "c", Scope: "read", AllowedResources: []string{"https://api.example.test"}})
	h := srv.Handler()
	f.Add("grant_type=client_credentials", "Basic Yzp4")
	f.Add("grant_type=client_credentials&client_id=c&client_secret=x", "")
	f.Add("grant_type=client_credentials&scope=read&resource=https%3A%2F%2Fapi.example.test", "Basic Yzp5")
	f.Add("grant_type=client_credentials&client_assertion_type=x&client_assertion=y", "Bearer z")
	f.Fuzz(func(t *testing.T, body, auth string) {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q / %q: %s", rec.Code, body, auth, rec.Body)
		}
		_, basicSecret, _, _ := authn.ParseBasic(auth)
		if rec.Code == 200 && !strings.Contains(body, secret) && basicSecret != secret {
			t.Fatalf("token issued without the secret: %q / %q", body, auth)
		}
	})
}
