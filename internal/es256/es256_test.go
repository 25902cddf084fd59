package es256

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"testing"

	"filippo.io/bigmod"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKnownAnswer pins the arithmetic to RFC 6979 A.2.5 (P-256, SHA-256,
// message "sample"): with that appendix's k, r and s must come out exactly,
// whatever the blinding factor.
func TestKnownAnswer(t *testing.T) {
	x := mustHex(t, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721")
	nonceBytes := mustHex(t, "A6E3C57DD01ABE90086538398355DD4C3B17AA873382B0F24D6129493D8AAD60")
	want := mustHex(t, "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"+
		"F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8")
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), x)
	if err != nil {
		t.Fatal(err)
	}
	key, err := New(priv)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("sample"))
	nonce, err := bigmod.NewNat().SetBytes(nonceBytes, order)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		blind, err := randomScalar()
		if err != nil {
			t.Fatal(err)
		}
		if got := key.sign(nonce, nonceBytes, blind, digest[:]); !bytes.Equal(got, want) {
			t.Fatalf("blind %d: signature\n got %x\nwant %x", i, got, want)
		}
	}
}

// TestSignaturesVerify checks many signatures with crypto/ecdsa, over fresh
// keys and messages, and that no two share r (a repeated nonce would).
func TestSignaturesVerify(t *testing.T) {
	seenR := map[string]bool{}
	for i := 0; i < 400; i++ {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key, err := New(priv)
		if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, i)
		_, _ = rand.Read(msg)
		digest := sha256.Sum256(msg)
		for j := 0; j < 3; j++ { // the same message again: still a fresh nonce
			sig, err := key.Sign(digest[:])
			if err != nil {
				t.Fatal(err)
			}
			if len(sig) != 64 {
				t.Fatalf("signature length %d", len(sig))
			}
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			if !ecdsa.Verify(&priv.PublicKey, digest[:], r, s) {
				t.Fatalf("key %d, signature %d does not verify", i, j)
			}
			if seenR[string(sig[:32])] {
				t.Fatalf("r repeated: %x", sig[:32])
			}
			seenR[string(sig[:32])] = true
			digest[0] ^= 1 // a wrong digest must not verify
			if ecdsa.Verify(&priv.PublicKey, digest[:], r, s) {
				t.Fatal("signature verifies for another digest")
			}
			digest[0] ^= 1
		}
	}
}

// TestNonceDependsOnEverything: the hedged nonce changes with the key, the
// entropy, the digest and the counter.
func TestNonceDependsOnEverything(t *testing.T) {
	p1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k1, _ := New(p1)
	k2, _ := New(p2)
	d1, d2 := make([]byte, 32), make([]byte, 32)
	d2[31] = 1
	e1, e2 := make([]byte, 32), make([]byte, 32)
	e2[0] = 1
	_, base := k1.nonce(d1, e1, 0)
	for name, other := range map[string]func() []byte{
		"key":     func() []byte { _, b := k2.nonce(d1, e1, 0); return b },
		"digest":  func() []byte { _, b := k1.nonce(d2, e1, 0); return b },
		"entropy": func() []byte { _, b := k1.nonce(d1, e2, 0); return b },
		"counter": func() []byte { _, b := k1.nonce(d1, e1, 1); return b },
	} {
		if bytes.Equal(base, other()) {
			t.Errorf("nonce does not depend on the %s", name)
		}
	}
}

func TestRejectsBadInput(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := New(p384); err == nil {
		t.Error("P-384 key accepted")
	}
	if _, err := New(nil); err == nil {
		t.Error("nil key accepted")
	}
	p, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, _ := New(p)
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := k.Sign(make([]byte, n)); err == nil {
			t.Errorf("%d-byte digest accepted", n)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("token"))
	b.Run("es256", func(b *testing.B) {
		key, _ := New(priv)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := key.Sign(digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("crypto-ecdsa", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ecdsa.SignASN1(rand.Reader, priv, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
