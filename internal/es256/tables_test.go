package es256

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"go/build"
	"strings"
	"testing"
	"time"
)

// TestTables: a key gets a table only through Admit; with one, verdicts are
// the table's; the set is bounded and renewed every epoch.
func TestTables(t *testing.T) {
	var tabs Tables
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	digest := sha256.Sum256([]byte("signing input"))
	sign := func(priv *ecdsa.PrivateKey) []byte {
		t.Helper()
		key, err := New(priv)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := key.Sign(digest[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	good, forged := sign(k), sign(other)
	for i := 0; i < 3; i++ { // repeated use, good or forged, never builds a table
		for _, sig := range [][]byte{good, forged} {
			if _, handled := tabs.Verify(&k.PublicKey, digest[:], sig, now); handled {
				t.Fatal("a table exists without Admit")
			}
		}
	}
	tabs.Admit(&k.PublicKey, now)
	if ok, handled := tabs.Verify(&k.PublicKey, digest[:], good, now); !handled || !ok {
		t.Fatalf("after Admit: ok=%v handled=%v", ok, handled)
	}
	if ok, handled := tabs.Verify(&k.PublicKey, digest[:], forged, now); !handled || ok {
		t.Fatalf("signature by another key: ok=%v handled=%v", ok, handled)
	}
	d2 := digest
	d2[0] ^= 1
	if ok, _ := tabs.Verify(&k.PublicKey, d2[:], good, now); ok {
		t.Fatal("signature verified over another digest")
	}
	if _, handled := tabs.Verify(nil, digest[:], good, now); handled {
		t.Fatal("nil key handled")
	}
	// Not P-256: never admitted.
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tabs.Admit(&p384.PublicKey, now)
	tabs.Admit("not a key", now)
	if n := len(tabs.tables); n != 1 {
		t.Fatalf("%d tables, want 1", n)
	}
	// After the epoch the set starts afresh.
	if _, handled := tabs.Verify(&k.PublicKey, digest[:], good, now.Add(tableEpoch+time.Second)); handled {
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

// TestNoJWS: the primitive takes digests and R ‖ S bytes; JWS (headers,
// compact serialization) stays with its callers (authn/internal/jws).
func TestNoJWS(t *testing.T) {
	p, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range p.Imports {
		if strings.Contains(imp, "jose") || imp == "encoding/base64" || imp == "strings" {
			t.Errorf("es256 imports %s: JWS handling belongs to its callers", imp)
		}
	}
}
