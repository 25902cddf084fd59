package testkit_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

func TestClockMovesOnlyWhenAdvanced(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := testkit.NewClock(start)
	if !clk.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", clk.Now(), start)
	}
	clk.Advance(90 * time.Second)
	if got := clk.Now().Sub(start); got != 90*time.Second {
		t.Fatalf("advanced by %v, want 90s", got)
	}
}

func TestPoll(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	if err := testkit.Poll(time.Minute, func() bool { return n.Add(1) >= 3 }); err != nil || n.Load() != 3 {
		t.Fatalf("Poll = %v after %d looks, want nil after 3", err, n.Load())
	}
	if err := testkit.Poll(10*time.Millisecond, func() bool { return false }); err == nil {
		t.Fatal("Poll of a condition that never holds returned nil")
	}
}

func ExampleWaitFor() {
	var t *testing.T // the test's
	done := make(chan struct{})
	go close(done)
	testkit.WaitFor(t, "the worker", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
}
