package authn_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn"
)

// A full jwks_uri cache, or negative cache, makes room by dropping one
// entry — the one fetched (or failed) longest ago when the fetching client
// has none of its own to give up — and keeps every other.
func TestFetcherEvictsOneEntry(t *testing.T) {
	good := jwksOf(t, 1, func(int) string { return "k" })
	for _, tc := range []struct {
		name string
		ok   bool // the jwks_uri answers with keys (else 503: the negative cache)
	}{
		{"cache", true},
		{"negative cache", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hits sync.Map // path → *atomic.Int32
			srv, _, _ := jwksServer(t, func(w http.ResponseWriter, r *http.Request) {
				n, _ := hits.LoadOrStore(r.URL.Path, new(atomic.Int32))
				n.(*atomic.Int32).Add(1)
				if !tc.ok {
					http.Error(w, "down", http.StatusServiceUnavailable)
					return
				}
				w.Write(good)
			})
			pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
			const size = 3
			f := authn.NewJWKSFetcher(authn.FetcherOptions{AllowPrivate: true, RootCAs: pool, Timeout: 2 * time.Second, MaxEntries: size})
			now := time.Now()
			authn.SetFetcherClock(f, func() time.Time { return now }) // only this goroutine fetches
			get := func(i int) {
				f.Get(t.Context(), fmt.Sprint("client", i), fmt.Sprintf("%s/%d", srv.URL, i), "")
			}
			for i := range size + 1 { // one more client than fits
				get(i)
				now = now.Add(time.Second) // well within every TTL
			}
			for i := range size + 1 {
				get((i + 1) % (size + 1)) // the survivors first: refetching 0 evicts again
			}
			for i := range size + 1 {
				want := int32(1) // still cached: not fetched again
				if i == 0 {
					want = 2 // the oldest made room for the last
				}
				n, _ := hits.Load(fmt.Sprintf("/%d", i))
				if got := n.(*atomic.Int32).Load(); got != want {
					t.Errorf("jwks_uri %d fetched %d times, want %d", i, got, want)
				}
			}
		})
	}
}
