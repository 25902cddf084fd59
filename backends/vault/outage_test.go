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

// A known client's request past cache.ttl is answered from the cached entry
// at once while Vault hangs (the reload waits on Vault in the background),
// and while Vault is down; /readyz turns 503 and, once Vault is back,
// 200 again with no token request in between (issue 11 items 13 and 5).
func TestVaultOutageNeverStallsKnownClients(t *testing.T) {
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
		broker.WithCache(cache.Options{TTL: time.Minute, StaleWindow: time.Hour, RetryBackoff: 50 * time.Millisecond, LoadTimeout: time.Minute, Now: clk.Now}))
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
	answered := func(what string) {
		t.Helper()
		got := make(chan int, 1)
		go func() { got <- token("known", known.Secret) }()
		select {
		case c := <-got:
			if c != 200 {
				t.Fatalf("%s: known client got %d", what, c)
			}
		case <-time.After(20 * time.Second): // the hung call would take LoadTimeout (1 min)
			t.Fatalf("%s: the known client's request waited on Vault", what)
		}
	}
	if c := token("known", known.Secret); c != 200 {
		t.Fatalf("before the outage: %d", c)
	}

	v.Hang()
	resumed := false
	defer func() {
		if !resumed {
			v.Resume()
		}
	}()
	clk.Advance(2 * time.Minute) // past TTL: the entry is stale
	answered("Vault hung")
	answered("Vault hung, again")
	v.Resume()
	resumed = true

	v.Kill()
	clk.Advance(2 * time.Minute)
	answered("Vault down")
	testkit.WaitFor(t, "/readyz to report the outage", func() bool { return ready() == 503 })
	if err := v.Restart(); err != nil {
		t.Fatal(err)
	}
	// No token request from here on: the cache's probe finds Vault back.
	testkit.WaitFor(t, "/readyz to turn 200 after Vault came back, with no request to trigger a load", func() bool { return ready() == 200 })
}
