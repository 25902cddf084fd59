package signing

import (
	"errors"
	"fmt"
	"time"
)

// ErrUnavailable: the source cannot sign now — a remote signer throttled,
// its queue full or its wait over, the remote down — and a retry later may
// succeed. Any source may return it, as an *UnavailableError; the token
// endpoint answers 503 temporarily_unavailable (the code RFC 6749 §4.1.2.1
// defines for a server that cannot answer now) with Retry-After (RFC 9110
// §10.2.3), never 500.
var ErrUnavailable = errors.New("signing temporarily unavailable")

// UnavailableError is ErrUnavailable with when to retry and the cause (for
// the log only).
type UnavailableError struct {
	// RetryAfter is when a retry may succeed (at least a second is advertised).
	RetryAfter time.Duration
	Err        error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%v (retry after %s): %v", ErrUnavailable, e.RetryAfter, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) hold.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Observer receives a remote signer's measurements — calls, throttling,
// its queue — for the process's metrics. Its methods must be cheap and
// safe for concurrent use.
type Observer interface {
	// SignCall reports one call to the remote signer: how long it took and
	// its outcome: "ok", "throttled" or "error".
	SignCall(source string, d time.Duration, outcome string)
	// Queued reports a change in the number of signatures waiting for a
	// free slot toward the remote signer (+1 on entering, -1 on leaving).
	Queued(source string, delta int)
	// Refused reports a signature refused without a call: "queue_full",
	// "deadline" (its wait for a slot ran out) or "backoff" (throttled).
	Refused(source, reason string)
}

// NopObserver discards everything.
type NopObserver struct{}

var _ Observer = NopObserver{}

// SignCall implements Observer.
func (NopObserver) SignCall(string, time.Duration, string) {}

// Queued implements Observer.
func (NopObserver) Queued(string, int) {}

// Refused implements Observer.
func (NopObserver) Refused(string, string) {}
