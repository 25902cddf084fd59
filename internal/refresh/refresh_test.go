package refresh_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/internal/refresh"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// waitFor polls cond for up to 10 s (a loaded machine is slow, never wrong).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, what, cond)
}

func TestEveryCallsUntilStopped(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	l := refresh.Every(context.Background(), time.Millisecond, func(context.Context) { n.Add(1) })
	waitFor(t, "three calls", func() bool { return n.Load() >= 3 })
	l.Stop()
	after := n.Load()
	time.Sleep(10 * time.Millisecond)
	if got := n.Load(); got != after {
		t.Fatalf("called %d times after Stop", got-after)
	}
}

func TestStopCancelsAndWaitsForTheCallInProgress(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	var finished atomic.Bool
	var once sync.Once
	l := refresh.Every(context.Background(), time.Millisecond, func(ctx context.Context) {
		once.Do(func() { close(started) })
		<-ctx.Done() // a load that only ends when the loop stops
		finished.Store(true)
	})
	<-started
	l.Stop()
	if !finished.Load() {
		t.Fatal("Stop returned while a call was still running")
	}
}

func TestStopTwiceAndConcurrently(t *testing.T) {
	t.Parallel()
	l := refresh.Every(context.Background(), time.Millisecond, func(context.Context) {})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(l.Stop)
	}
	wg.Wait()
	l.Stop()
}

func TestParentContextEndsTheLoop(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	l := refresh.Every(ctx, time.Millisecond, func(context.Context) { n.Add(1) })
	waitFor(t, "a call", func() bool { return n.Load() >= 1 })
	cancel()
	l.Stop() // returns: the loop has ended
	after := n.Load()
	time.Sleep(10 * time.Millisecond)
	if got := n.Load(); got != after {
		t.Fatalf("called %d times after the parent context ended", got-after)
	}
}

func TestNoIntervalNoLoop(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, -time.Second} {
		l := refresh.Every(context.Background(), d, func(context.Context) { t.Error("called without an interval") })
		if l != nil {
			t.Errorf("Every(%v) = %v, want nil", d, l)
		}
		l.Stop() // nil-safe
		l.Stop()
	}
}
