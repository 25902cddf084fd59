package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"time"

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

func ExampleNewNonces() {
	// The same key on every replica (dpop.nonce_key_file): any of them
	// accepts a nonce another issued (RFC 9449 §8).
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	a, _ := dpop.NewNonces(key, 5*time.Minute)
	b, _ := dpop.NewNonces(key, 5*time.Minute)
	now := time.Now()
	fmt.Println(b.Valid(a.Nonce(now), now), b.Valid(a.Nonce(now.Add(-10*time.Minute)), now))
	// Output: true false
}
