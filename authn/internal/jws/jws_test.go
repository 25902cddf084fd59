package jws_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/authn/internal/jws"
	"github.com/tokenbroker/tokenbroker/internal/es256"
)

func signCompact(t *testing.T, k *ecdsa.PrivateKey, claims jwt.Claims) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVerifyES256: a key gets a table only through Admit; with one, verdicts
// agree with go-jose on good, forged and tampered tokens, and the path steps
// aside for what it does not handle.
func TestVerifyES256(t *testing.T) {
	var tabs es256.Tables
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	good := signCompact(t, k, jwt.Claims{Subject: "c", ID: "1"})
	parse := func(s string) *jose.JSONWebSignature {
		t.Helper()
		sig, err := jose.ParseSignedCompact(s, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	forged := signCompact(t, other, jwt.Claims{Subject: "c", ID: "1"})
	for i := 0; i < 3; i++ { // repeated use, good or forged, never builds a table
		for _, a := range []string{good, forged} {
			if _, handled := jws.VerifyES256(&tabs, a, parse(a), &k.PublicKey, now); handled {
				t.Fatal("a table exists without Admit")
			}
		}
	}
	tabs.Admit(&k.PublicKey, now)
	ok, handled := jws.VerifyES256(&tabs, good, parse(good), &k.PublicKey, now)
	if !handled || !ok {
		t.Fatalf("after Admit: ok=%v handled=%v", ok, handled)
	}
	if ok, handled := jws.VerifyES256(&tabs, forged, parse(forged), &k.PublicKey, now); !handled || ok {
		t.Fatalf("assertion signed by another key: ok=%v handled=%v", ok, handled)
	}
	// Swap in another payload under the good signature.
	parts := strings.Split(good, ".")
	otherParts := strings.Split(signCompact(t, k, jwt.Claims{Subject: "evil", ID: "2"}), ".")
	tampered := parts[0] + "." + otherParts[1] + "." + parts[2]
	if ok, _ := jws.VerifyES256(&tabs, tampered, parse(tampered), &k.PublicKey, now); ok {
		t.Fatal("tampered payload verified")
	}
	if _, err := parse(tampered).Verify(&k.PublicKey); err == nil {
		t.Fatal("go-jose verified the tampered payload")
	}
	// Not ES256 on P-256: not handled, and never admitted.
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tabs.Admit(&p384.PublicKey, now)
	if _, handled := jws.VerifyES256(&tabs, good, parse(good), &p384.PublicKey, now); handled {
		t.Fatal("P-384 key handled")
	}
	// A crit header (RFC 7515 §4.1.11) is go-jose's to handle.
	crit, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k},
		(&jose.SignerOptions{}).WithHeader("crit", []string{"exp"}).WithHeader("exp", 1))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := crit.Sign([]byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	critCompact, err := cs.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	if _, handled := jws.VerifyES256(&tabs, critCompact, parse(critCompact), &k.PublicKey, now); handled {
		t.Fatal("crit header handled")
	}
}

// TestDigest: the signing input is everything before the last dot.
func TestDigest(t *testing.T) {
	if jws.Digest("a.b.c") != sha256.Sum256([]byte("a.b")) {
		t.Fatal("digest is not over the first two segments")
	}
}
