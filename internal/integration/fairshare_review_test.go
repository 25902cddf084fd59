package integration_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/broker"
)

// Per-client shares alone do not stop one party from filling the shared
// state: a self-registrant (RFC 7591 §3, initial access token) can mint as
// many clients as it needs, each filling its own share, until the store is
// full and every other client's private_key_jwt assertion fails closed (401)
// and its revocations fail (503, RFC 7009 §2.2.1). Two defences, both proved
// here at a small scale: registrations per initial access token are rate
// limited (429 past the burst), and the in-memory store keeps a floor per
// owner — keys above an owner's floor may take only half the store — so the
// sybils the rate limit lets through take the burst half and the bystanders
// keep their floors.
//
// Scale: store 24 keys (burst half 12), floor 1, 4 revocations per client,
// 8 registrations. Without the floor reserve the 8 sybils' 32 revocations
// fill the store.
func TestReviewSelfRegistrantsFillSharedStateTogether(t *testing.T) {
	const sh, sybils = 4, 8
	replicaState, jtiShare = state.NewMemory(24, state.WithFloor(1)), sh
	e := newEnv(t, func(c *broker.Config, _ *cache.Options) {
		c.MaxRevocationsPerClient = sh
		c.RateLimits.Registrations = broker.Rate{PerSecond: 0.001, Burst: sybils}
	})
	replicaState, jtiShare = nil, 0

	kb := newAssertionKey(t, "b1")
	e.client(&backends.Client{ClientID: "bystander", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKS: kb.jwks()})
	vs := e.client(&backends.Client{ClientID: "victim", Scope: "read"})

	// The attacker: as many self-registered clients as the rate limit lets
	// through, each revoking up to its own share.
	refused := 0
	for i := range sybils {
		resp, b := e.reg("POST", broker.PathRegister, e.regToken, map[string]any{"scope": "read", "client_name": "sybil"})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("register %d: %d %v", i, resp.StatusCode, b)
		}
		id, secret := b["client_id"].(string), b["client_secret"].(string)
		for range sh {
			r, tb := e.post(url.Values{"grant_type": {"client_credentials"}}, basic(id, secret))
			if r.StatusCode != http.StatusOK {
				t.Fatalf("sybil token: %d %v", r.StatusCode, tb)
			}
			r, rb := e.form(broker.PathRevoke, url.Values{"token": {tb["access_token"].(string)}}, basic(id, secret))
			switch r.StatusCode {
			case http.StatusOK:
			case http.StatusServiceUnavailable: // the burst half is taken
				refused++
			default:
				t.Fatalf("sybil %d revocation: %d %v", i, r.StatusCode, rb)
			}
		}
	}
	if want := sybils*sh - (sybils + 12); refused != want {
		t.Errorf("%d sybil revocations refused, want %d (all beyond the floors and the burst half)", refused, want)
	}

	// The next sybil: 429 with Retry-After (RFC 6585 §4), not another client.
	resp, b := e.reg("POST", broker.PathRegister, e.regToken, map[string]any{"scope": "read", "client_name": "sybil"})
	if resp.StatusCode != http.StatusTooManyRequests || b["error"] != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("registration past the burst: %d %v Retry-After=%q; want 429 temporarily_unavailable with Retry-After", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}

	// Bystanders that never misbehaved keep their floors.
	r, b := e.post(assertionForm(kb.sign(t, "bystander", e.issuer, nil)), nil)
	if r.StatusCode != http.StatusOK {
		t.Errorf("bystander's private_key_jwt assertion refused after sybils filled the store: %d %v", r.StatusCode, b)
	}
	r, tb := e.post(url.Values{"grant_type": {"client_credentials"}}, basic("victim", vs))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("victim token: %d %v", r.StatusCode, tb)
	}
	if r, rb := e.form(broker.PathRevoke, url.Values{"token": {tb["access_token"].(string)}}, basic("victim", vs)); r.StatusCode != http.StatusOK {
		t.Errorf("victim cannot revoke its own (e.g. leaked) token after sybils filled the store: %d %v", r.StatusCode, rb)
	}
}
