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

// BenchmarkTokenEndpoint measures one client_secret_basic token request
// through the whole handler (parse, authenticate from cache, policy, mint,
// respond) for each signing algorithm, without TLS.
func BenchmarkTokenEndpoint(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256", "PS256"} {
		b.Run(alg, func(b *testing.B) {
			ctx := context.Background()
			store, _ := file.New(b.TempDir())
			if _, err := signing.NewLocal(store, signing.Options{Alg: alg}).Ensure(ctx); err != nil {
				b.Fatal(err)
			}
			srv, err := broker.New(ctx, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test", SigningAlg: alg, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}, store)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			r, err := srv.Registry().Create(ctx, &backends.Client{ClientID: "bench", Scope: "read write"})
			if err != nil {
				b.Fatal(err)
			}
			auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("bench:"+r.Secret))
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
