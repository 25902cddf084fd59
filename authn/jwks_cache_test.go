package authn_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn"
)

// jwksServer is a real TLS server on loopback; handle decides each answer.
func jwksServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int32, *authn.JWKSFetcher) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	f := authn.NewJWKSFetcher(authn.FetcherOptions{AllowPrivate: true, RootCAs: pool, Timeout: 2 * time.Second})
	return srv, &hits, f
}

// A failing jwks_uri is remembered: for 30 s requests naming it neither
// fetch it again nor wait on it; after that it is tried once more.
func TestFetcherNegativeCache(t *testing.T) {
	t.Parallel()
	var healthy atomic.Bool
	good := jwksOf(t, 1, func(int) string { return "a" })
	srv, hits, f := jwksServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write(good)
	})
	var mu sync.Mutex
	now := time.Now()
	authn.SetFetcherClock(f, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	uri := srv.URL + "/jwks"
	if _, err := f.Get(t.Context(), "c", uri, ""); err == nil {
		t.Fatal("failing jwks_uri gave keys")
	}
	healthy.Store(true) // recovers, but the failure is remembered
	for range 20 {
		if _, err := f.Get(t.Context(), "c", uri, ""); err == nil {
			t.Fatal("negatively cached failure not returned")
		}
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d fetches of a failing jwks_uri within 30 s, want 1", n)
	}
	advance(31 * time.Second)
	if keys, err := f.Get(t.Context(), "c", uri, ""); err != nil || len(keys) != 1 {
		t.Fatalf("after the negative TTL: %v %v", keys, err)
	}
	// Keys cached (for the default 1 h), then the endpoint fails at the
	// refetch: within the stale bound (24 h past expiry; here 23 h) the last
	// good keys are served and the dead endpoint is not retried on every
	// request.
	healthy.Store(false)
	advance(24 * time.Hour)
	for range 20 {
		if keys, err := f.Get(t.Context(), "c", uri, ""); err != nil || len(keys) != 1 {
			t.Fatalf("last good keys not kept: %v %v", keys, err)
		}
	}
	if n := hits.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3 (failure, recovery, one failed refetch)", n)
	}
	// Past the stale bound (25 h past expiry) the failure comes back.
	advance(2 * time.Hour)
	if keys, err := f.Get(t.Context(), "c", uri, ""); err == nil {
		t.Fatalf("keys served 25 h past their expiry: %v", keys)
	}
	if n := hits.Load(); n != 4 {
		t.Fatalf("%d fetches, want 4", n)
	}
}

// The first caller giving up (its request cancelled) does not abort the
// fetch it started: it completes on its own deadline, is cached, and the
// next caller is served without fetching again.
func TestFetcherSurvivesCallerCancel(t *testing.T) {
	t.Parallel()
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	good := jwksOf(t, 1, func(int) string { return "a" })
	srv, hits, f := jwksServer(t, func(w http.ResponseWriter, _ *http.Request) {
		once.Do(func() { close(arrived) })
		<-release
		w.Write(good)
	})
	uri := srv.URL + "/jwks"
	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, err := f.Get(ctx, "c", uri, "")
		first <- err
	}()
	<-arrived
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(release)
	keys, err := f.Get(t.Context(), "c", uri, "")
	if err != nil || len(keys) != 1 {
		t.Fatalf("second caller: %v %v", keys, err)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1: the cancelled caller's fetch was abandoned", n)
	}
}
