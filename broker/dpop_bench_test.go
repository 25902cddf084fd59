package broker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker"
)

// BenchmarkTokenEndpointDPoP is BenchmarkTokenEndpoint's ES256
// client_secret_basic request without and with a DPoP proof (made before
// the timer starts, one per request, one client key): what DPoP adds to a
// token at the server.
func BenchmarkTokenEndpointDPoP(b *testing.B) {
	for _, withProof := range []bool{false, true} {
		name := "bearer"
		if withProof {
			name = "dpop"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			store, _ := file.New(b.TempDir())
			if _, err := signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx); err != nil {
				b.Fatal(err)
			}
			const iss = "https://broker.example.test"
			srv, err := broker.New(ctx, broker.Config{Issuer: iss, DefaultAudience: "https://api.example.test", Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}, store)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			r, err := srv.Registry().Create(ctx, &backends.Client{ClientID: "bench", Scope: "read write"})
			if err != nil {
				b.Fatal(err)
			}
			auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("bench:"+r.Secret))
			proofs := make([]string, b.N)
			if withProof {
				k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				p, _ := dpop.NewProver(k)
				for i := range proofs {
					proofs[i], _ = p.Proof(http.MethodPost, iss+broker.PathToken, "", "")
				}
			}
			h := srv.Handler()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("grant_type=client_credentials&scope=read"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", auth)
				if withProof {
					req.Header.Set("DPoP", proofs[i])
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
