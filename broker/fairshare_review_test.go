package broker_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/broker"
)

// REVIEW: per-client shares do not stop one party from filling the shared
// state, because a self-registrant (initial access token) can mint as many
// clients as it needs. With the production ratios — store 1,000,000 keys,
// 10,000 revocations per client — 100 self-registered clients that each
// revoke 10,000 of their own live tokens fill the in-memory store; then
// every other client's private_key_jwt assertion fails closed (401) and its
// revocations fail (503) for up to the token lifetime + 1 minute. Scaled
// down here: store 5 shares, 4 revocations per client, 5 registrations.
func TestReviewSelfRegistrantsFillSharedStateTogether(t *testing.T) {
	const sh = 4
	replicaState, jtiShare = state.NewMemory(5*sh), sh
	e := newEnv(t, func(c *broker.Config, _ *cache.Options) { c.MaxRevocationsPerClient = sh })
	replicaState, jtiShare = nil, 0

	kb := newAssertionKey(t, "b1")
	e.client(&backends.Client{ClientID: "bystander", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKS: kb.jwks()})
	vs := e.client(&backends.Client{ClientID: "victim", Scope: "read"})

	// The attacker: five self-registered clients, each within its own share.
	for i := range 5 {
		resp, b := e.reg("POST", broker.PathRegister, e.regToken, map[string]any{"scope": "read", "client_name": "sybil"})
		if resp.StatusCode != 201 {
			t.Fatalf("register %d: %d %v", i, resp.StatusCode, b)
		}
		id, secret := b["client_id"].(string), b["client_secret"].(string)
		for range sh {
			r, tb := e.post(url.Values{"grant_type": {"client_credentials"}}, basic(id, secret))
			if r.StatusCode != 200 {
				t.Fatalf("sybil token: %d %v", r.StatusCode, tb)
			}
			if r, rb := e.form(broker.PathRevoke, url.Values{"token": {tb["access_token"].(string)}}, basic(id, secret)); r.StatusCode != 200 {
				t.Fatalf("sybil %d revocation within its share: %d %v", i, r.StatusCode, rb)
			}
		}
	}

	// Bystanders that never misbehaved.
	r, b := e.post(assertionForm(kb.sign(t, "bystander", e.issuer, nil)), nil)
	if r.StatusCode != http.StatusOK {
		t.Errorf("bystander's private_key_jwt assertion refused after sybils filled the store: %d %v", r.StatusCode, b)
	}
	r, tb := e.post(url.Values{"grant_type": {"client_credentials"}}, basic("victim", vs))
	if r.StatusCode != 200 {
		t.Fatalf("victim token: %d %v", r.StatusCode, tb)
	}
	if r, rb := e.form(broker.PathRevoke, url.Values{"token": {tb["access_token"].(string)}}, basic("victim", vs)); r.StatusCode != http.StatusOK {
		t.Errorf("victim cannot revoke its own (e.g. leaked) token after sybils filled the store: %d %v", r.StatusCode, rb)
	}
}
