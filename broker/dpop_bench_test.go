package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/backends"
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
			const iss = "https://broker.example.test"
			srv, secret := newTestBroker(b, broker.Config{Issuer: iss, DefaultAudience: "https://api.example.test"}, &backends.Client{ClientID: "bench", Scope: "read write"})
			auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("bench:"+secret))
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
