package vault_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/backends/vault"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// Review 2, end to end against a real Vault: while Vault hangs (the
// common outage: a partition, a frozen node), /readyz says 503 — until
// anyone sends one token request whose client_id is not a valid id
// ("bad id!"). vault.Store.GetClient answers such an id ErrNotFound without
// asking Vault, and the cache takes that as "the backend answered" and
// clears Degraded: /readyz turns 200 while Vault is still hung, and a load
// balancer routes traffic to a replica that cannot serve uncached clients.
func TestReview2InvalidIDMakesReadyzLieDuringVaultOutage(t *testing.T) {
	v := server(t)
	ctx := context.Background()
	store, err := vault.New(ctx, vault.Config{Address: v.URL(), Prefix: uniquePrefix(), Auth: vault.Token(v.RootToken()), Logger: quiet(), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	clk := testkit.NewClock(time.Now())
	srv, err := broker.New(ctx, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test", Logger: quiet(), KeyRefresh: time.Hour}, store,
		broker.WithCache(cache.Options{TTL: time.Minute, StaleWindow: time.Hour, RetryBackoff: 50 * time.Millisecond, LoadTimeout: 3 * time.Second, Now: clk.Now}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	known, err := srv.Registry().Create(ctx, &backends.Client{ClientID: "known", Scope: "read"})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	token := func(id, secret string) int {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	ready := func() int {
		rec := httptest.NewRecorder()
		srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code
	}
	if c := token("known", known.Secret); c != 200 {
		t.Fatalf("before the outage: %d", c)
	}

	v.Hang()
	defer v.Resume()
	clk.Advance(2 * time.Minute) // stale: the background reload hangs on Vault and fails after LoadTimeout
	if c := token("known", known.Secret); c != 200 {
		t.Fatalf("stale known client: %d", c)
	}
	deadline := time.Now().Add(30 * time.Second)
	for ready() != 503 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz never reported the outage")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// One second later (the fail-fast window is RetryBackoff; the probe's
	// own load hangs for LoadTimeout, so real outages spend most of their
	// time here).
	clk.Advance(time.Second)
	if c := token("bad%20id%21", "x"); c != http.StatusUnauthorized {
		t.Fatalf("bad id: %d", c)
	}
	if c := ready(); c != 503 {
		t.Fatalf("/readyz = %d while Vault is still hung: one request with an invalid client_id cleared the outage", c)
	}
}
