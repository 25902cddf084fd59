package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http/httptest"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
)

func ExampleNewProver() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p, _ := dpop.NewProver(key)
	proof, _ := p.Proof("POST", "https://auth.example.com/token", "", "")

	// The server's side: one request with that proof.
	r := httptest.NewRequest("POST", "https://auth.example.com/token", nil)
	r.Header.Set(dpop.HeaderName, proof)
	v, _ := dpop.NewVerifier(dpop.WithReplay(memReplay()))
	got, err := v.Verify(context.Background(), r.Header.Values(dpop.HeaderName), r.Method, dpop.HTU(r, ""), "")
	fmt.Println(err == nil, got.JKT == p.JKT())
	// Output: true true
}
