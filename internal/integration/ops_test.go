package integration_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/broker/audit"
)

func TestAuditTrail(t *testing.T) {
	var trail syncBuffer
	e := newEnv(t, withAudit(&trail))
	secret := e.client(&backends.Client{ClientID: "aud", Scope: "read"})
	_, b := e.post(url.Values{"grant_type": {"client_credentials"}}, basic("aud", secret))
	tok := b["access_token"].(string)
	e.post(url.Values{"grant_type": {"client_credentials"}}, basic("aud", "guess-7f3a9c"))
	e.form(broker.PathRevoke, url.Values{"token": {tok}}, basic("aud", secret))
	lines := strings.Split(strings.TrimSpace(trail.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d audit events, want 3:\n%s", len(lines), trail.String())
	}
	for i, want := range []string{`"event":"token_issued"`, `"event":"token_refused"`, `"event":"token_revoked"`} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], `"client_id":"aud"`) || !strings.Contains(lines[i], `"request_id":"`) || !strings.Contains(lines[i], `"source":"127.0.0.1"`) {
			t.Errorf("event %d: %s", i, lines[i])
		}
	}
	if !strings.Contains(lines[0], `"jti":"`) || !strings.Contains(lines[0], `"auth_method":"client_secret_basic"`) || !strings.Contains(lines[1], `"outcome":"invalid_client"`) {
		t.Errorf("fields: %s", lines[:2])
	}
	for _, s := range []string{secret, tok, "guess-7f3a9c"} {
		if strings.Contains(trail.String(), s) {
			t.Fatalf("the audit trail contains a secret or token: %.10s…", s)
		}
	}
	if n, broken, err := audit.VerifyChain(strings.NewReader(trail.String()), "", nil); n != 3 || broken != 0 || err != nil {
		t.Fatalf("intact chain: %d lines, broken at %d, %v", n, broken, err)
	}
	tampered := strings.Replace(trail.String(), `"outcome":"invalid_client"`, `"outcome":"success"`, 1)
	if _, broken, _ := audit.VerifyChain(strings.NewReader(tampered), "", nil); broken != 3 {
		// Editing line 2 changes its hash: line 3's link no longer matches.
		t.Fatalf("tampered line not detected: broken at %d", broken)
	}
	dropped := strings.Join([]string{lines[0], lines[2]}, "\n")
	if _, broken, _ := audit.VerifyChain(strings.NewReader(dropped), "", nil); broken != 2 {
		t.Fatalf("deleted line not detected: broken at %d", broken)
	}
}

func TestRateLimits(t *testing.T) {
	e := newEnv(t, func(c *broker.Config, _ *cache.Options) {
		c.RateLimits.FailedPerAddress = broker.Rate{PerSecond: 0.01, Burst: 3}
		c.RateLimits.IssuancePerClient = broker.Rate{PerSecond: 0.01, Burst: 2}
	})
	secret := e.client(&backends.Client{ClientID: "rl", Scope: "read"})
	other := e.client(&backends.Client{ClientID: "rl2", Scope: "read"})
	cc := url.Values{"grant_type": {"client_credentials"}}
	for range 2 {
		if r, _ := e.post(cc, basic("rl", secret)); r.StatusCode != 200 {
			t.Fatal("within quota refused")
		}
	}
	if r, b := e.post(cc, basic("rl", secret)); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" || b["access_token"] != nil {
		t.Fatalf("issuance quota: %d %v %q", r.StatusCode, b, r.Header.Get("Retry-After"))
	}
	for range 3 {
		if r, _ := e.post(cc, basic("rl2", "wrong")); r.StatusCode != 401 {
			t.Fatal("failure not 401")
		}
	}
	// The address's failure bucket is empty: its next failure waits …
	r, b := e.post(cc, basic("rl2", "wrong"))
	if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" || b["error"] != "temporarily_unavailable" || b["access_token"] != nil {
		t.Fatalf("failed-auth limit per address: %d %v", r.StatusCode, b)
	}
	// … but the right secret is never refused by a failure limit.
	if r, b := e.post(cc, basic("rl2", other)); r.StatusCode != 200 || b["access_token"] == nil {
		t.Fatalf("verified request refused by a failure limit: %d %v", r.StatusCode, b)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	secret := e.client(&backends.Client{ClientID: "m", Scope: "read"})
	e.post(url.Values{"grant_type": {"client_credentials"}}, basic("m", secret))
	e.post(url.Values{"grant_type": {"client_credentials"}}, basic("m", "nope"))
	rec := httptest.NewRecorder()
	e.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`tokenbroker_tokens_issued_total{client_id="m",method="client_secret_basic"} 1`,
		`tokenbroker_token_failures_total{method="client_secret_basic",reason="invalid_client"} 1`,
		`tokenbroker_token_request_duration_seconds_bucket`, `tokenbroker_backend_cache_hits_total`, `tokenbroker_shared_state_keys`, `process_cpu_seconds_total`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		rec := httptest.NewRecorder()
		e.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != 200 {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
}

// Two broker replicas on one real Redis, one issuer: a jti accepted by one
// is refused by the other, a revocation on one is seen by the other, and a
// Redis outage fails closed for assertions and shows on readiness.
func TestTwoReplicasOnRedis(t *testing.T) {
	addr, stopRedis := statetest.StartRedis(t)
	shared := state.NewRedis(redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1}), "tb:")
	replicaState = shared
	e1 := newEnv(t)
	replicaDir, replicaIssuer = e1.store.Dir(), e1.issuer
	e2 := newEnv(t)
	replicaDir, replicaState, replicaIssuer = "", nil, ""

	key := newAssertionKey(t, "k1")
	e1.client(&backends.Client{ClientID: "jwt", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKS: key.jwks()})
	a := key.sign(t, "jwt", e1.issuer, map[string]any{"jti": "shared-jti"})
	if r, b := e1.post(assertionForm(a), nil); r.StatusCode != 200 {
		t.Fatalf("replica 1: %d %v", r.StatusCode, b)
	}
	if r, _ := e2.post(assertionForm(a), nil); r.StatusCode != 401 {
		t.Fatalf("replica 2 accepted an assertion replica 1 already used: %d", r.StatusCode)
	}
	secret := e1.client(&backends.Client{ClientID: "s", Scope: "read"})
	_, b := e1.post(url.Values{"grant_type": {"client_credentials"}}, basic("s", secret))
	tok := b["access_token"].(string)
	if _, got := e2.form(broker.PathIntrospect, url.Values{"token": {tok}}, basic("s", secret)); got["active"] != true {
		t.Fatalf("replica 2 does not recognise replica 1's token: %v", got)
	}
	if r, _ := e2.form(broker.PathRevoke, url.Values{"token": {tok}}, basic("s", secret)); r.StatusCode != 200 {
		t.Fatal("revoke on replica 2")
	}
	if _, got := e1.form(broker.PathIntrospect, url.Values{"token": {tok}}, basic("s", secret)); got["active"] != false {
		t.Fatalf("replica 1 does not see replica 2's revocation: %v", got)
	}
	// Redis down: assertions fail closed; readiness says so.
	stopRedis()
	before := len(e1.logs.String())
	if r, _ := e1.post(assertionForm(key.sign(t, "jwt", e1.issuer, nil)), nil); r.StatusCode != 401 {
		t.Fatalf("assertion accepted with the replay cache down: %d", r.StatusCode)
	}
	if !strings.Contains(e1.logs.String()[before:], "fail closed") {
		t.Error("refusal reason not logged")
	}
	if err := e1.srv.Ready(context.Background()); !errors.Is(err, broker.ErrSharedStateDown) {
		t.Fatalf("readiness with Redis down: %v", err)
	}
}

// Profiling is opt-in: without Config.Pprof the admin handler has no
// /debug/pprof/ (profiles reveal code paths and cost CPU while they run).
func TestAdminPprofOptIn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pprof bool
		want  int
	}{
		{"default off", false, http.StatusNotFound},
		{"admin.pprof: true", true, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *broker.Config, _ *cache.Options) { c.Pprof = tc.pprof })
			for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap"} {
				rec := httptest.NewRecorder()
				e.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
				if rec.Code != tc.want {
					t.Errorf("%s: %d, want %d", p, rec.Code, tc.want)
				}
			}
		})
	}
}
