package broker_test

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker"
)

// newTestBroker is an in-process broker (no TLS) over a file backend in a
// temporary directory with a local cfg.SigningAlg key (ES256 when empty),
// its log discarded, c registered; it returns the server, closed when tb
// ends, and c's secret.
func newTestBroker(tb testing.TB, cfg broker.Config, c *backends.Client) (*broker.Server, string) {
	tb.Helper()
	ctx := context.Background()
	store, err := file.New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	alg := cfg.SigningAlg
	if alg == "" {
		alg = "ES256"
	}
	if _, err := signing.NewLocal(store, signing.Options{Alg: alg}).Ensure(ctx); err != nil {
		tb.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	srv, err := broker.New(ctx, cfg, store)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	r, err := srv.Registry().Create(ctx, c)
	if err != nil {
		tb.Fatal(err)
	}
	return srv, r.Secret
}

// BenchmarkTokenEndpoint measures one client_secret_basic token request
// through the whole handler (parse, authenticate from cache, policy, mint,
// respond) for each signing algorithm, without TLS.
func BenchmarkTokenEndpoint(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256", "PS256"} {
		b.Run(alg, func(b *testing.B) {
			srv, secret := newTestBroker(b, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test", SigningAlg: alg},
				&backends.Client{ClientID: "bench", Scope: "read write"})
			auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("bench:"+secret))
			h := srv.Handler()
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("grant_type=client_credentials&scope=read"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", auth)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
