package integration_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
	"github.com/tokenbroker/tokenbroker/broker"
)

// One client cannot fill the shared state (issue 11 item 10): a client that
// floods assertions until its share of live jtis is full gets its own next
// assertion refused — 401 invalid_client, no token — while another client's
// assertion still succeeds; likewise for revocations (503 for the flooder,
// recorded for the other). With the in-memory state and with real Redis.
func TestFairShares(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		// The store's own bound is 5 shares: without per-client shares the
		// flooder would fill it and every client would fail closed.
		testFairShares(t, state.NewMemory(5*share))
	})
	t.Run("redis", func(t *testing.T) {
		addr, _ := statetest.StartRedis(t)
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		testFairShares(t, state.NewRedis(c, "tb:"))
	})
}

const share = 4

func testFairShares(t *testing.T, shared state.Store) {
	replicaState, jtiShare = shared, share
	e := newEnv(t, func(c *broker.Config, _ *cache.Options) { c.MaxRevocationsPerClient = share })
	replicaState, jtiShare = nil, 0

	ka, kb := newAssertionKey(t, "a1"), newAssertionKey(t, "b1")
	e.client(&backends.Client{ClientID: "flooder", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKS: ka.jwks()})
	e.client(&backends.Client{ClientID: "bystander", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKS: kb.jwks()})
	assert := func(k assertionKey, id string, want int) map[string]any {
		t.Helper()
		r, b := e.post(assertionForm(k.sign(t, id, e.issuer, nil)), nil)
		if r.StatusCode != want {
			t.Fatalf("%s: %d %v, want %d", id, r.StatusCode, b, want)
		}
		return b
	}
	for range share {
		assert(ka, "flooder", http.StatusOK)
	}
	for range 3 { // the flooder's share is full: its own assertions fail closed
		b := assert(ka, "flooder", http.StatusUnauthorized)
		if b["error"] != "invalid_client" || b["access_token"] != nil {
			t.Fatalf("flooder past its share: %v", b)
		}
	}
	for range share { // everyone else is unaffected
		if b := assert(kb, "bystander", http.StatusOK); b["access_token"] == nil {
			t.Fatalf("bystander: %v", b)
		}
	}

	// Revocations: the flooder revokes live tokens until its share is full.
	fs := e.client(&backends.Client{ClientID: "revoker", Scope: "read"})
	bs := e.client(&backends.Client{ClientID: "other", Scope: "read"})
	token := func(id, secret string) string {
		t.Helper()
		r, b := e.post(url.Values{"grant_type": {"client_credentials"}}, basic(id, secret))
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s token: %d %v", id, r.StatusCode, b)
		}
		return b["access_token"].(string)
	}
	active := func(tok, id, secret string) bool {
		t.Helper()
		_, b := e.form(broker.PathIntrospect, url.Values{"token": {tok}}, basic(id, secret))
		return b["active"] == true
	}
	var revoked []string
	for range share {
		tok := token("revoker", fs)
		if r, b := e.form(broker.PathRevoke, url.Values{"token": {tok}}, basic("revoker", fs)); r.StatusCode != http.StatusOK {
			t.Fatalf("revocation within the share: %d %v", r.StatusCode, b)
		}
		revoked = append(revoked, tok)
	}
	over := token("revoker", fs)
	r, b := e.form(broker.PathRevoke, url.Values{"token": {over}}, basic("revoker", fs))
	if r.StatusCode != http.StatusServiceUnavailable || b["error"] != "temporarily_unavailable" {
		t.Fatalf("revocation past the share: %d %v, want 503 temporarily_unavailable", r.StatusCode, b)
	}
	if !active(over, "revoker", fs) {
		t.Fatal("a refused revocation took effect")
	}
	for _, tok := range revoked {
		if active(tok, "revoker", fs) {
			t.Fatal("a recorded revocation was forgotten")
		}
	}
	tok := token("other", bs)
	if r, b := e.form(broker.PathRevoke, url.Values{"token": {tok}}, basic("other", bs)); r.StatusCode != http.StatusOK {
		t.Fatalf("another client's revocation: %d %v", r.StatusCode, b)
	}
	if active(tok, "other", bs) {
		t.Fatal("another client's revocation was not recorded")
	}
}
