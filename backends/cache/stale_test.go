package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
)

// Past TTL, a cached answer — a value or "not found" — is given at once
// while the reload waits on a hung backend: a request never stalls on a
// backend that is down (issue 11 item 13), and a known and an unknown id
// take the same path (item 11).
func TestStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, key, want string
		wantErr         error
	}{
		{"known client", "a", "v1", nil},
		{"unknown client", "x", "", backends.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1_700_000_000, 0)}
			b := &backend{val: map[string]string{"a": "v1"}}
			o := opts(clk)
			o.NegativeTTL = 0         // as long as values
			o.LoadTimeout = time.Hour // the hung load outlasts the test
			c := cache.New(b.load, o)
			defer c.Close()
			ctx := context.Background()
			if v, err := c.Get(ctx, tc.key); v != tc.want || !errors.Is(err, tc.wantErr) {
				t.Fatalf("first get = %q, %v", v, err)
			}

			clk.Add(31 * time.Second) // past TTL, inside the stale window
			b.set("", "", true)
			started, release := b.hang()
			defer release()
			type result struct {
				v   string
				err error
			}
			got := make(chan result, 1)
			go func() { v, err := c.Get(ctx, tc.key); got <- result{v, err} }()
			var r result
			select {
			case r = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("Get past TTL waited on the hung backend instead of answering from the cache")
			}
			if r.v != tc.want || !errors.Is(r.err, tc.wantErr) {
				t.Fatalf("stale get = %q, %v; want %q, %v", r.v, r.err, tc.want, tc.wantErr)
			}
			select {
			case k := <-started:
				if k != tc.key {
					t.Fatalf("reloaded %q, want %q", k, tc.key)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no background reload started")
			}
			// The reload is still blocked: more requests are answered at once
			// and do not start a second load.
			if v, err := c.Get(ctx, tc.key); v != tc.want || !errors.Is(err, tc.wantErr) {
				t.Fatalf("second stale get = %q, %v", v, err)
			}
			if n := b.loads.Load(); n != 2 {
				t.Fatalf("%d loads, want 2 (one initial, one background)", n)
			}
			release()
			waitFor(t, c.Degraded)
			if s := c.Stats(); s.Stale < 2 {
				t.Errorf("stale answers not counted: %+v", s)
			}
		})
	}
}

// Only a true miss waits on the backend, and no longer than LoadTimeout.
func TestMissWaitsAtMostLoadTimeout(t *testing.T) {
	t.Parallel()
	b := &backend{val: map[string]string{"a": "v1"}}
	_, release := b.hang()
	defer release()
	c := cache.New(b.load, cache.Options{LoadTimeout: 50 * time.Millisecond, Logger: quiet()})
	defer c.Close()
	if _, err := c.Get(context.Background(), "a"); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("miss on a hung backend = %v, want ErrUnavailable", err)
	}
}
