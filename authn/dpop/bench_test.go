package dpop_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
)

// BenchmarkCheck is the token endpoint's per-request proof cost (no replay
// cache): parse, one ES256 verification, claims, thumbprint.
func BenchmarkCheck(b *testing.B) {
	p, _ := dpop.NewProver(ecKey(b))
	proof, _ := p.Proof(http.MethodPost, endpoint, "", "")
	v, _ := dpop.NewVerifier(dpop.WithClock(func() time.Time { return time.Now() }))
	htus := []string{endpoint}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Check([]string{proof}, http.MethodPost, htus, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProof is the client's cost of one proof (one ES256 signature).
func BenchmarkProof(b *testing.B) {
	p, _ := dpop.NewProver(ecKey(b))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Proof(http.MethodPost, endpoint, "", ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkES256Verify is the floor BenchmarkCheck is measured against: one
// crypto/ecdsa verification of a proof's signature, nothing else.
func BenchmarkES256Verify(b *testing.B) {
	k := ecKey(b)
	d := sha256.Sum256([]byte("proof signing input"))
	r, s, _ := ecdsa.Sign(rand.Reader, k, d[:])
	b.ReportAllocs()
	for b.Loop() {
		if !ecdsa.Verify(&k.PublicKey, d[:], r, s) {
			b.Fatal("no")
		}
	}
}

// BenchmarkCheckAdmitted is BenchmarkCheck for a key the Verifier admitted
// (a client's DPoP key after its first token): the table path.
func BenchmarkCheckAdmitted(b *testing.B) {
	p, _ := dpop.NewProver(ecKey(b))
	proof, _ := p.Proof(http.MethodPost, endpoint, "", "")
	v, _ := dpop.NewVerifier()
	htus := []string{endpoint}
	got, err := v.Check([]string{proof}, http.MethodPost, htus, "")
	if err != nil {
		b.Fatal(err)
	}
	v.Admit(got)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Check([]string{proof}, http.MethodPost, htus, ""); err != nil {
			b.Fatal(err)
		}
	}
}
