package broker

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// Any signing source's ErrUnavailable, however wrapped, is 503
// temporarily_unavailable with Retry-After (whole seconds, at least 1) and
// a generic description; another signing failure stays a 500.
func TestSigningUnavailableIs503(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err   error
		retry int
	}{
		{fmt.Errorf("sign with k: %w", &signing.UnavailableError{RetryAfter: 1500 * time.Millisecond, Err: errors.New("ThrottlingException arn:aws:kms:…")}), 2},
		{&signing.UnavailableError{Err: errors.New("queue full")}, 1},
	} {
		oe := errorFor(tc.err)
		if oe.Status != http.StatusServiceUnavailable || oe.Code != "temporarily_unavailable" || oe.retryAfter != tc.retry {
			t.Errorf("%v → %d %s retry %d", tc.err, oe.Status, oe.Code, oe.retryAfter)
		}
		if oe.Description != "the token could not be signed now, retry later" {
			t.Errorf("description %q", oe.Description)
		}
	}
	if oe := errorFor(fmt.Errorf("sign with k: %w", errors.New("bad key"))); oe.Status != http.StatusInternalServerError {
		t.Errorf("a plain signing failure → %d", oe.Status)
	}
}
