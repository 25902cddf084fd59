package resource_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/authn/resource"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
)

// mintFor signs a DPoP-bound token for the API as the broker would for
// client, bound to jkt.
func (w *world) mintFor(client, jkt string) string {
	w.t.Helper()
	return w.mintGrant(&accesstoken.Grant{ClientID: client, Scopes: []string{"read"},
		Audience: []string{apiAudience}, Lifetime: 5 * time.Minute, JKT: jkt})
}

// A DPoP key costs a client nothing — one token request each, and the
// broker never limits a request whose credentials verify — so the replay
// store's share cannot be per key: one registered client making its own
// keys would hold as many shares as it likes, fill the store (in memory:
// its hard cap, past every other client's floor; on Redis: without bound)
// and have every other client's proofs refused. The share is the client's
// (the token's client_id), like the broker's per-client share of proof
// jtis: the greedy client is refused, the other is not.
func TestRevrsReplayShareIsPerClient(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	store := state.NewMemory(40, state.WithFloor(2)) // the defaults' proportions, scaled down
	w.startDPoPAPI(resource.DPoPConfig{BaseURL: w.api, Replay: store, MaxProofsPerClient: 4})
	read := w.api + "/read"
	// The greedy client: ten keys, each with a token bound to it, each
	// spending its share.
	accepted := 0
	for range 10 {
		p := newProver(t)
		tok := w.mintFor("greedy", p.JKT())
		for range 4 {
			if resp := w.send("GET", read, "DPoP "+tok, proof(t, p, "GET", read, tok, "")); resp.StatusCode == 200 {
				accepted++
			}
		}
	}
	if accepted > 4 {
		t.Errorf("one client held %d live proofs, more than its share of 4", accepted)
	}
	p := newProver(t)
	tok := w.mintFor("honest", p.JKT())
	for i := range 3 {
		if resp := w.send("GET", read, "DPoP "+tok, proof(t, p, "GET", read, tok, "")); resp.StatusCode != 200 {
			t.Fatalf("another client's proof %d after the greedy one made keys: %d %q", i, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// The same on two replicas sharing Redis, where nothing else bounds the
// store: one client's proofs, whatever their keys and replicas, hold at
// most its share; another client is unaffected.
func TestRevrsReplayShareIsPerClientOnRedis(t *testing.T) {
	t.Parallel()
	addr, _ := statetest.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	w := newWorld(t)
	const base = "https://api.example.test"
	var apis []string
	for range 2 {
		apis = append(apis, w.startDPoPAPI(resource.DPoPConfig{BaseURL: base, Replay: state.NewRedis(c, "rs:"), MaxProofsPerClient: 4}))
	}
	accepted := 0
	for i := range 6 {
		p := newProver(t)
		tok := w.mintFor("greedy", p.JKT())
		for j := range 2 {
			if resp := w.send("GET", apis[(i+j)%2]+"/read", "DPoP "+tok, proof(t, p, "GET", base+"/read", tok, "")); resp.StatusCode == 200 {
				accepted++
			}
		}
	}
	if accepted != 4 {
		t.Errorf("one client with six keys on two replicas: %d proofs accepted, want its share of 4", accepted)
	}
	p := newProver(t)
	tok := w.mintFor("honest", p.JKT())
	for i := range 4 {
		if resp := w.send("GET", apis[i%2]+"/read", "DPoP "+tok, proof(t, p, "GET", base+"/read", tok, "")); resp.StatusCode != 200 {
			t.Fatalf("another client's proof %d: %d %q", i, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
}
