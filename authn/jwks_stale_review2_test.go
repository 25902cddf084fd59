package authn_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn"
)

// Review 2: a client rotates a compromised key out of its jwks_uri, but the
// new document is one the broker refuses (here: 11 keys, over the new limit
// of 10 — or > 64 KiB, or two keys without kid; or an on-path attacker just
// keeps the fetch failing). The broker keeps serving the last good keys —
// the compromised one included — with no bound at all: a month later the
// removed key still verifies. Past jwksMaxTTL (24 h) beyond their expiry,
// stale keys must stop being served (fail closed).
func TestReview2StaleJWKSKeysServedForever(t *testing.T) {
	var rotated atomic.Bool
	old := jwksOf(t, 1, func(int) string { return "compromised" })
	next := jwksOf(t, 11, func(i int) string { return string(rune('a' + i)) }) // refused: more than 10 keys
	srv, _, f := jwksServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if rotated.Load() {
			w.Write(next)
			return
		}
		w.Write(old)
	})
	var mu sync.Mutex
	now := time.Now()
	authn.SetFetcherClock(f, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	uri := srv.URL + "/jwks"
	if keys, err := f.Get(t.Context(), "c", uri, ""); err != nil || len(keys) != 1 {
		t.Fatalf("first fetch: %v %v", keys, err)
	}
	rotated.Store(true)
	for range 30 { // a month of daily requests, each refetch refused
		advance(24 * time.Hour)
		f.Get(t.Context(), "c", uri, "")
	}
	if keys, err := f.Get(t.Context(), "c", uri, "compromised"); err == nil && len(keys) > 0 && keys[0].KeyID == "compromised" {
		t.Fatal("30 days after the client removed it, the broker still verifies assertions with the key its jwks_uri no longer lists (stale keys are kept without bound)")
	}
}
