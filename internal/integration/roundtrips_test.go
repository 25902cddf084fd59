package integration_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
)

// roundTrips counts what a go-redis client sends to the server: one per
// command, one per pipeline.
type roundTrips struct {
	mu   sync.Mutex
	sent []string
}

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.add(cmd.Name())
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.add("pipeline")
		return next(ctx, cmds)
	}
}

func (h *roundTrips) add(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sent = append(h.sent, name)
}

// take returns what was sent since the last call.
func (h *roundTrips) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sent
	h.sent = nil
	return s
}

// A production-shaped broker — shared state and rate limits in a real
// Redis, the hash-chained audit trail on — answers a successful secret or
// certificate request without a Redis round trip, and a successful
// assertion with one (its jti). Failures still reach the shared buckets.
func TestRedisRoundTripsOfSuccessfulRequests(t *testing.T) {
	addr, _ := statetest.StartRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rc.Close() })
	sent := &roundTrips{}
	rc.AddHook(sent)
	shared := state.NewRedis(rc, "tb:")
	replicaState = shared
	var trail syncBuffer
	e := newEnv(t, withLimits(10, 30), withAudit(&trail), func(c *broker.Config, _ *cache.Options) { c.RateLimits.Limiter = shared })
	replicaState = nil

	secret := e.client(&backends.Client{ClientID: "s", Scope: "read"})
	e.client(mtlsClient("m", func(c *backends.Client) { c.TLSClientAuthSANURI = spiffeID }))
	cert, _ := e.leafCert(nil, certs.Leaf{CommonName: "m", URIs: []string{spiffeID}, Client: true})
	key := newAssertionKey(t, "k1")
	e.client(&backends.Client{ClientID: "j", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKS: key.jwks()})
	cc := url.Values{"grant_type": {"client_credentials"}}
	mtls := e.withCert(&cert)
	for _, m := range []struct {
		name string
		max  int
		req  func() map[string]any
	}{
		{"client_secret_basic", 0, func() map[string]any { _, b := e.post(cc, basic("s", secret)); return b }},
		{"tls_client_auth", 0, func() map[string]any {
			_, b := e.postVia(mtls, e.issuer, url.Values{"grant_type": {"client_credentials"}, "client_id": {"m"}}, nil)
			return b
		}},
		{"private_key_jwt", 1, func() map[string]any { _, b := e.post(assertionForm(key.sign(t, "j", e.issuer, nil)), nil); return b }},
	} {
		m.req() // load the client into the cache, open connections
		sent.take()
		const n = 5
		for range n {
			if b := m.req(); b["access_token"] == nil {
				t.Fatalf("%s refused: %v", m.name, b)
			}
		}
		if got := sent.take(); len(got) > m.max*n {
			t.Errorf("%s: %d Redis round trips for %d successful requests, want at most %d each: %v", m.name, len(got), n, m.max, got)
		}
	}
	if b := func() map[string]any { _, b := e.post(cc, basic("s", "wrong")); return b }(); b["error"] != "invalid_client" {
		t.Fatalf("wrong secret: %v", b)
	}
	if got := sent.take(); len(got) == 0 || !strings.Contains(strings.Join(got, " "), "evalsha") {
		t.Fatalf("a failure did not reach the shared buckets in Redis: %v", got)
	}
	// A flood of failures: once a bucket is empty this replica remembers it
	// until it refills, instead of asking Redis again for every failure.
	// 60 failures, buckets of 10 (client and source) and 30 (source): 2 round
	// trips for each of the first 11, 1 until the source bucket is empty, then none.
	for range 60 {
		r, b := e.post(cc, basic("s", "wrong"))
		refused(t, "flood", r, b)
	}
	if got := sent.take(); len(got) > 45 {
		t.Errorf("%d Redis round trips for 60 failures, want at most 45", len(got))
	}
}
