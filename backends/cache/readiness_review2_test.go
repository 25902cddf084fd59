package cache_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
)

// Review 2: while the backend is down, a request naming a syntactically
// invalid client id ("bad id!", or any id of 129..256 bytes) must not clear
// Degraded. Every backend (file, vault, awssm) answers such an id with
// backends.ErrNotFound from backends.ValidClientID, before any I/O: that
// answer says nothing about the backend, but loadAndStore takes every
// ErrNotFound as "the backend answered" and clears the degraded flag, so
// /readyz turns 200 during the outage and the background probe stops.
func TestReview2InvalidIDDoesNotClearDegradedDuringOutage(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	var backendCalls int
	load := func(ctx context.Context, id string) (string, error) {
		// What file.Store, vault.Store and awssm.Store do first.
		if !backends.ValidClientID(id) {
			return "", backends.ErrNotFound
		}
		backendCalls++
		return "", fmt.Errorf("dial tcp 10.0.0.5:8200: i/o timeout: %w", backends.ErrUnavailable)
	}
	o := opts(clk)
	o.After = func(time.Duration) <-chan time.Time { return nil } // keep the probe out of the way
	c := cache.New(load, o)
	defer c.Close()
	ctx := context.Background()

	if _, err := c.Get(ctx, "known-client"); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("get while down = %v", err)
	}
	if !c.Degraded() {
		t.Fatal("not degraded after a failed load")
	}
	clk.Add(2 * time.Second) // past RetryBackoff: misses load again (a hung backend is always in this state)

	// The attacker's request: an id no backend can hold.
	if _, err := c.Get(ctx, "bad id!"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("bad id = %v", err)
	}
	if backendCalls != 1 {
		t.Fatalf("backend called %d times", backendCalls)
	}
	if !c.Degraded() {
		t.Fatal("Degraded cleared by an invalid client id while the backend is still down (it was never asked): /readyz reports ready during the outage and the probe stops")
	}
}
