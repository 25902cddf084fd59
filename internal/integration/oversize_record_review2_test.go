package integration_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker"
)

// Review 2: issue 11 item 5 — "a single bad record never flips /readyz".
// In the file backend a client record over the 1 MiB read bound (an
// operator's import, a hand edit, a tool's bug) is reported as a plain
// error, not as backends.ErrInvalidRecord, so the cache takes it for an
// outage: anyone who names that client_id gets 503, every client not
// cached yet gets 503 for the next second, and /readyz stays 503 for good —
// the background probe retries that one key every second and fails every
// time.
func TestReview2OversizeFileRecordIsAnOutage(t *testing.T) {
	ctx := context.Background()
	b := fileBackend(t)
	if _, err := signing.NewLocal(b.store, signing.Options{Alg: "ES256"}).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	b.write(t, "big", `{"client_id":"big","token_endpoint_auth_method":"client_secret_basic","client_name":"`+strings.Repeat("x", 1<<20)+`"}`, "big-client-secret-value")
	srv, err := broker.New(ctx, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test", Logger: slog.New(slog.DiscardHandler)}, b.store)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	h := srv.Handler()
	token := func(id, secret string) int {
		req := httptest.NewRequest(http.MethodPost, broker.PathToken, strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	ready := func() int {
		rec := httptest.NewRecorder()
		srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code
	}
	b.write(t, "fresh", `{"client_id":"fresh","token_endpoint_auth_method":"client_secret_basic","scope":"read"}`, "fresh-client-secret-value")

	code := token("big", "guess") // the attacker only needs the id
	freshCode := token("fresh", "fresh-client-secret-value")
	time.Sleep(2500 * time.Millisecond) // two probe rounds
	if code != 401 || freshCode != 200 || ready() != 200 {
		t.Fatalf("one oversize record: its client got %d (want 401), an uncached valid client got %d (want 200), /readyz %d 2.5 s later (want 200): treated as a backend outage", code, freshCode, ready())
	}
}
