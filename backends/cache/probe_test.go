package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
)

// Degraded clears by itself when the backend returns, with no request
// arriving: a load balancer that took the replica out of rotation sends
// none (issue 11 item 5).
func TestDegradedRecoversWithoutRequests(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	b := &backend{val: map[string]string{"a": "v1"}, down: true}
	ticks := make(chan time.Time)
	o := opts(clk)
	o.After = func(time.Duration) <-chan time.Time { return ticks }
	c := cache.New(b.load, o)
	if _, err := c.Get(context.Background(), "a"); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("get while down = %v", err)
	}
	if !c.Degraded() {
		t.Fatal("not degraded after a failed load")
	}
	tick := func() {
		t.Helper()
		n := b.loads.Load()
		select {
		case ticks <- clk.Now():
		case <-time.After(10 * time.Second):
			t.Fatal("no background probe is waiting to retry the backend")
		}
		// The probe's load has run (and found the backend as it was).
		waitFor(t, func() bool { return b.done.Load() > n })
	}
	// Still down: the probe tries, fails and keeps going.
	tick()
	tick()
	if !c.Degraded() {
		t.Fatal("degraded cleared while the backend is still down")
	}
	loads := b.loads.Load()
	b.set("", "", false) // the backend is back; no Get from here on
	tick()
	waitFor(t, func() bool { return !c.Degraded() })
	if n := b.loads.Load(); n <= loads {
		t.Fatalf("recovered without a load (%d loads)", n)
	}
	// The probe stops with Close; Close is safe twice.
	c.Close()
	c.Close()
	select {
	case ticks <- clk.Now():
		t.Fatal("a probe still runs after Close")
	default:
	}
}

// Close stops a probe that is waiting for its next try.
func TestCloseStopsProbe(t *testing.T) {
	t.Parallel()
	b := &backend{val: map[string]string{}, down: true}
	o := cache.Options{RetryBackoff: time.Hour, Logger: quiet()}
	c := cache.New(b.load, o)
	c.Get(context.Background(), "a")
	done := make(chan struct{})
	go func() { c.Close(); c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop the probe")
	}
}

// The probe is not stuck on the key whose load failed: when that key comes
// back as an answer of the backend — an invalid record or "not found" — the
// backend answered, and Degraded clears (review 2 item 5: an oversize file
// record kept /readyz at 503 for good).
func TestProbeClearsOnAnAnswerForTheFailedKey(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fix   func(b *backend)
		check func(error) bool
	}{
		{"invalid record", func(b *backend) { b.invalid = map[string]bool{"a": true} }, func(err error) bool { return errors.Is(err, backends.ErrInvalidRecord) }},
		{"not found", func(b *backend) { delete(b.val, "a") }, func(err error) bool { return errors.Is(err, backends.ErrNotFound) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1_700_000_000, 0)}
			b := &backend{val: map[string]string{"a": "v1"}, down: true}
			ticks := make(chan time.Time)
			o := opts(clk)
			o.After = func(time.Duration) <-chan time.Time { return ticks }
			c := cache.New(b.load, o)
			defer c.Close()
			if _, err := c.Get(context.Background(), "a"); !errors.Is(err, backends.ErrUnavailable) || !c.Degraded() {
				t.Fatalf("get while down = %v, degraded %v", err, c.Degraded())
			}
			b.mu.Lock()
			b.down = false
			tc.fix(b)
			b.mu.Unlock()
			select {
			case ticks <- clk.Now():
			case <-time.After(10 * time.Second):
				t.Fatal("no background probe is waiting to retry the backend")
			}
			waitFor(t, func() bool { return !c.Degraded() })
			clk.Add(2 * time.Second) // past the fail-fast window: the answer is cached, not refused
			if _, err := c.Get(context.Background(), "a"); !tc.check(err) {
				t.Fatalf("after the probe: %v", err)
			}
		})
	}
}
