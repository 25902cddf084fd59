package authn_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn"
)

// Review 2: the jwks_uri cache is "bounded" by wiping it whole when full.
// An attacker who can make the broker fetch MaxEntries distinct URIs (its
// own client's jwks_uri changed by RFC 7592 PUT, or self-registered clients,
// each followed by one token request) drops every other client's cached
// keys at once; a victim whose jwks_uri host is having a bad minute then
// has no last good keys and every assertion it sends is refused. Evicting
// one entry (or the oldest) would cost the attacker the whole cache size
// per victim instead of per everyone.
func TestReview2JWKSCacheWipedWholeWhenFull(t *testing.T) {
	var victimDown atomic.Bool
	victimKeys := jwksOf(t, 1, func(int) string { return "v" })
	attackerKeys := jwksOf(t, 1, func(int) string { return "a" })
	mux := http.NewServeMux()
	mux.HandleFunc("/victim", func(w http.ResponseWriter, _ *http.Request) {
		if victimDown.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write(victimKeys)
	})
	mux.HandleFunc("/attacker/", func(w http.ResponseWriter, _ *http.Request) { w.Write(attackerKeys) })
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	const size = 50
	f := authn.NewJWKSFetcher(authn.FetcherOptions{AllowPrivate: true, RootCAs: pool, Timeout: 2 * time.Second, MaxEntries: size})
	if _, err := f.Get(t.Context(), "victim", srv.URL+"/victim", ""); err != nil {
		t.Fatal(err)
	}
	victimDown.Store(true) // a blip at the victim's host
	for i := range size {
		f.Get(t.Context(), "attacker", fmt.Sprintf("%s/attacker/%d", srv.URL, i), "")
	}
	if _, err := f.Get(t.Context(), "victim", srv.URL+"/victim", ""); err != nil {
		t.Fatalf("%d attacker URIs wiped the victim's cached keys: %v", size, err)
	}
}
