package integration_test

import (
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// TestDPoPReplayAcrossProofMaxAge: a proof's jti stays recorded as long as
// any replica could accept the proof, whatever proof_max_age the replica
// that spent it runs with (RFC 9449 §11.1). Two replicas on one shared
// state differ in dpop.proof_max_age — a rolling configuration change, or
// one replica reloaded before the other: a proof spent at the 1-minute
// replica is refused at the 5-minute one two minutes later.
func TestDPoPReplayAcrossProofMaxAge(t *testing.T) {
	clk := testkit.NewClock(time.Now())
	replicaState = state.NewMemory(1000, state.WithClock(clk.Now))
	e1 := newEnv(t, func(c *broker.Config, _ *cache.Options) { c.DPoP.MaxAge = time.Minute })
	replicaDir, replicaIssuer = e1.store.Dir(), e1.issuer
	e2 := newEnv(t, func(c *broker.Config, _ *cache.Options) { c.DPoP.MaxAge = 5 * time.Minute })
	replicaDir, replicaState, replicaIssuer = "", nil, ""

	secret := e1.client(&backends.Client{ClientID: "c", Scope: "read"})
	proof := e1.proof(prover(t, dpopKey(t)), e1.issuer+broker.PathToken, "")
	e2.handedOut = append(e2.handedOut, proof)
	if resp, b := e1.post(ccForm, proofHeader(basic("c", secret), proof)); resp.StatusCode != 200 || b["token_type"] != "DPoP" {
		t.Fatalf("first use at replica 1: %d %v", resp.StatusCode, b)
	}
	// Two minutes on (the shared state's clock; the proof's iat is still
	// within replica 2's five minutes by any clock).
	clk.Advance(2 * time.Minute)
	mark := len(e2.logs.String())
	resp, b := e2.post(ccForm, proofHeader(basic("c", secret), proof))
	e2.refused(resp, b, "invalid_dpop_proof", mark, "replayed")
}
