package testkit

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// Clock is a manual clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads start until advanced.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time; pass the method value as a Now option.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Timeout bounds WaitFor: long enough for a loaded CI machine, short
// enough that a broken test fails rather than hangs.
const Timeout = 30 * time.Second

// WaitFor polls cond every few milliseconds until it holds, and fails the
// test naming what it waited for if it does not within Timeout.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if err := Poll(Timeout, cond); err != nil {
		t.Fatalf("timed out after %v waiting for %s", Timeout, what)
	}
}

// errTimeout is what Poll returns when cond never held.
type errTimeout struct{}

func (errTimeout) Error() string { return "testkit: condition not met before the deadline" }

// Poll polls cond until it holds or timeout passes; for helpers that
// report an error rather than fail a test (setup shared by a package).
func Poll(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; !cond(); {
		if time.Now().After(deadline) {
			return errTimeout{}
		}
		time.Sleep(wait)
		if wait < 20*time.Millisecond {
			wait *= 2
		}
	}
	return nil
}

// Buffer is a bytes.Buffer safe for a server to write (its log) while the
// test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// FreeAddr returns a loopback address nobody listens on (for a server the
// test starts next).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
