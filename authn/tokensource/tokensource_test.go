package tokensource_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/tokensource"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// fakeBroker answers 503 for the first failures requests, then tokens.
func fakeBroker(t *testing.T, failures int32, lifetime int) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if id, secret, ok := r.BasicAuth(); !ok || id != "c" || secret != "s3cret" {
			w.WriteHeader(401)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
			return
		}
		if n <= failures {
			w.WriteHeader(503)
			json.NewEncoder(w).Encode(map[string]string{"error": "temporarily_unavailable"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "Bearer", "expires_in": lifetime})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestRetriesCachingAndSingleFlight(t *testing.T) {
	t.Parallel()
	srv, calls := fakeBroker(t, 2, 300)
	src, err := tokensource.New(tokensource.Config{TokenURL: srv.URL, ClientID: "c", Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	// Two 503s, then success: retried with backoff, not surfaced.
	tok, err := src.Token()
	if err != nil || tok.AccessToken != "tok-3" {
		t.Fatalf("Token after 503s: %v %v", tok, err)
	}
	// Cached: 50 concurrent callers, no new request.
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if tok, err := src.Token(); err != nil || tok.AccessToken != "tok-3" {
				t.Errorf("cached Token: %v %v", tok, err)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d token requests, want 3", n)
	}
	// A 4xx is not retried.
	bad, _ := tokensource.New(tokensource.Config{TokenURL: srv.URL, ClientID: "c", Secret: "wrong"})
	before := calls.Load()
	if _, err := bad.Token(); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("wrong secret: %v", err)
	}
	if calls.Load()-before != 1 {
		t.Fatal("a 401 was retried")
	}
}

func TestRefreshAheadOfExpiry(t *testing.T) {
	t.Parallel()
	srv, calls := fakeBroker(t, 0, 12) // a fifth of 12 s is under the 10 s floor: refresh when < 10 s left
	clk := testkit.NewClock(time.Now())
	src, _ := tokensource.New(tokensource.Config{TokenURL: srv.URL, ClientID: "c", Secret: "s3cret", Now: clk.Now})
	t1, _ := src.Token()
	clk.Advance(1900 * time.Millisecond) // 10.1 s left: still cached
	if mid, _ := src.Token(); mid.AccessToken != t1.AccessToken || calls.Load() != 1 {
		t.Fatalf("refreshed with more than 10 s left: %s %s (%d calls)", t1.AccessToken, mid.AccessToken, calls.Load())
	}
	clk.Advance(200 * time.Millisecond) // 9.9 s left
	t2, _ := src.Token()
	if t1.AccessToken == t2.AccessToken || calls.Load() != 2 {
		t.Fatalf("not refreshed ahead of expiry: %s %s (%d calls)", t1.AccessToken, t2.AccessToken, calls.Load())
	}
}

// The API client gets a new token after a 401 invalid_token and retries once.
func TestClientRefetchesAfterInvalidToken(t *testing.T) {
	t.Parallel()
	srv, _ := fakeBroker(t, 0, 300)
	var seen []string
	var mu sync.Mutex
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		first := len(seen) == 1
		mu.Unlock()
		if first {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(401)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer api.Close()
	src, _ := tokensource.New(tokensource.Config{TokenURL: srv.URL, ClientID: "c", Secret: "s3cret"})
	resp, err := src.Client().Post(api.URL, "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(seen) != 2 || seen[0] == seen[1] {
		t.Fatalf("status %d, authorizations %v", resp.StatusCode, seen)
	}
}
