package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/file"
)

// slowStore is a backend with a round-trip time (Vault, Secrets Manager).
type slowStore struct {
	*file.Store
	rtt time.Duration
}

func (s slowStore) GetClient(ctx context.Context, id string) (*backends.Client, error) {
	time.Sleep(s.rtt)
	return s.Store.GetClient(ctx, id)
}

func (s slowStore) GetSecrets(ctx context.Context, id string) (*backends.SecretSet, error) {
	time.Sleep(s.rtt)
	return s.Store.GetSecrets(ctx, id)
}

// Review 2: docs/backends.md promises that "the backend's latency does not
// tell which client ids exist". The negative cache only evens out repeated
// probes. The first probe of an id still tells: an id that exists costs two
// backend round trips (GetClient, then GetSecrets), one that does not
// costs one — and an id in use (or warmed at start, Secrets Manager) costs
// none while an unknown one costs a round trip. An attacker probing each
// candidate id once reads the answer off the latency.
func TestReview2FirstProbeLatencyTellsWhichIDsExist(t *testing.T) {
	fs, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	existing := []string{"payments", "ledger", "invoices"}
	for _, id := range append(existing, "billing") {
		if err := fs.CreateClient(ctx, &backends.Client{ClientID: id, TokenEndpointAuthMethod: backends.AuthClientSecretBasic}); err != nil {
			t.Fatal(err)
		}
		if err := fs.PutSecrets(ctx, id, &backends.SecretSet{Secrets: []backends.Secret{{Hash: backends.HashSecret("s")}}}); err != nil {
			t.Fatal(err)
		}
	}
	const rtt = 40 * time.Millisecond
	c := cache.NewClients(slowStore{fs, rtt}, cache.Options{Logger: quiet()})
	defer c.Close()
	// The fastest first probe of three distinct ids of each kind: a shared
	// machine (and -race) only ever adds latency.
	probe := func(ids ...string) time.Duration {
		fastest := time.Hour
		for _, id := range ids {
			start := time.Now()
			c.Get(ctx, id)
			fastest = min(fastest, time.Since(start))
		}
		return fastest
	}
	c.Get(ctx, "billing") // a client in use: cached
	known, unknown := probe(existing...), probe("no-such-client", "nobody", "unknown-3")
	inUse := probe("billing")
	t.Logf("first probe: existing id %v, unknown id %v, id in use %v", known, unknown, inUse)
	if d := known - unknown; d > rtt/2 || d < -rtt/2 {
		t.Fatalf("an id's existence shows in the latency of its first probe: existing %v vs unknown %v", known, unknown)
	}
	// An id in use answers from memory: that is what the cache is for, and
	// no cache can hide it (an unknown id probed again is cached as long).
	// docs/backends.md says so; it is not asserted here. Warm start
	// (Secrets Manager) makes every existing id "in use" from the start.
	// The exact property, backend calls counted: TestFirstLookupCostsTheSameBackendCalls.
}
