package tokensource_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/tokensource"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// An API that answers 401 invalid_token to every call (hostile, or broken)
// makes the kit fetch a new token at most once per 30 s, not once per call:
// each token request spends the client's shares at the broker (assertion
// and proof jtis, failure budget), and with them its tokens for every other
// API (found by review revrs).
func TestInvalidTokenAnswersCannotForceATokenRequestPerCall(t *testing.T) {
	t.Parallel()
	srv, calls := fakeBroker(t, 0, 300)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer api.Close()
	clock := testkit.NewClock(time.Now())
	src, err := tokensource.New(tokensource.Config{TokenURL: srv.URL, ClientID: "c", Secret: "s3cret", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	client := src.Client()
	call := func() {
		resp, err := client.Get(api.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	for range 20 {
		call()
		clock.Advance(time.Second)
	}
	// The first token, and one forced refresh.
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d token requests for 20 refused calls in 20 s, want 2", n)
	}
	clock.Advance(15 * time.Second) // 35 s after the forced refresh
	call()
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d token requests after 30 s more, want 3", n)
	}
}
