package es256

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
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

// TestTablesVerifyCompact: a key gets a table only through Admit; with one,
// verdicts agree with go-jose on good, forged and tampered tokens, and the
// path steps aside for what it does not handle.
func TestTablesVerifyCompact(t *testing.T) {
	var tabs Tables
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
			if _, handled := tabs.VerifyCompact(a, parse(a), &k.PublicKey, now); handled {
				t.Fatal("a table exists without Admit")
			}
		}
	}
	tabs.Admit(&k.PublicKey, now)
	ok, handled := tabs.VerifyCompact(good, parse(good), &k.PublicKey, now)
	if !handled || !ok {
		t.Fatalf("after Admit: ok=%v handled=%v", ok, handled)
	}
	if ok, handled := tabs.VerifyCompact(forged, parse(forged), &k.PublicKey, now); !handled || ok {
		t.Fatalf("assertion signed by another key: ok=%v handled=%v", ok, handled)
	}
	// Swap in another payload under the good signature.
	parts := strings.Split(good, ".")
	otherParts := strings.Split(signCompact(t, k, jwt.Claims{Subject: "evil", ID: "2"}), ".")
	tampered := parts[0] + "." + otherParts[1] + "." + parts[2]
	if ok, _ := tabs.VerifyCompact(tampered, parse(tampered), &k.PublicKey, now); ok {
		t.Fatal("tampered payload verified")
	}
	if _, err := parse(tampered).Verify(&k.PublicKey); err == nil {
		t.Fatal("go-jose verified the tampered payload")
	}
	// Not ES256 on P-256: not handled, and never admitted.
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tabs.Admit(&p384.PublicKey, now)
	if _, handled := tabs.VerifyCompact(good, parse(good), &p384.PublicKey, now); handled {
		t.Fatal("P-384 key handled")
	}
	// After the epoch the set starts afresh.
	if _, handled := tabs.VerifyCompact(good, parse(good), &k.PublicKey, now.Add(tableEpoch+time.Second)); handled {
		t.Fatal("table survived its epoch")
	}
	// The set is bounded.
	later := now.Add(2 * tableEpoch)
	for i := 0; i < maxTables+3; i++ {
		kk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tabs.Admit(&kk.PublicKey, later)
	}
	if n := len(tabs.tables); n != maxTables {
		t.Fatalf("%d tables, want the bound %d", n, maxTables)
	}
}
