package dpop_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
)

// TestRetention: a jti is remembered until iat + the retention (never less
// than the window) + the leeway + 1 s, so that a verifier with a longer
// window sharing the replay cache still refuses it (RFC 9449 §11.1); a
// retention beyond 10 minutes is refused.
func TestRetention(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	k := ecKey(t)
	for _, tc := range []struct {
		window, retain, want time.Duration
	}{
		{time.Minute, 0, time.Minute + dpop.DefaultLeeway + time.Second},
		{time.Minute, 5 * time.Minute, 5*time.Minute + dpop.DefaultLeeway + time.Second},
		{5 * time.Minute, time.Minute, 5*time.Minute + dpop.DefaultLeeway + time.Second},
	} {
		v, err := dpop.NewVerifier(dpop.WithReplay(memReplay()), dpop.WithClock(func() time.Time { return now }),
			dpop.WithWindow(tc.window, dpop.DefaultLeeway), dpop.WithRetention(tc.retain))
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.Verify(context.Background(), []string{craft(t, k, jose.ES256, nil, goodClaims(now))}, "POST", endpoint, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Expiry().Sub(now); got != tc.want {
			t.Errorf("window %s, retention %s: kept %s, want %s", tc.window, tc.retain, got, tc.want)
		}
	}
	for _, bad := range []time.Duration{-time.Second, 11 * time.Minute} {
		if _, err := dpop.NewVerifier(dpop.WithRetention(bad)); err == nil {
			t.Errorf("retention %s accepted", bad)
		}
	}
}
