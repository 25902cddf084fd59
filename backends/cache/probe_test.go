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
