package es256

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"testing"

	"filippo.io/nistec"
)

func newP256(raw []byte) (*nistec.P256Point, error) { return nistec.NewP256Point().SetBytes(raw) }

func stdVerify(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	return ecdsa.Verify(pub, digest, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

// TestVerifyAgreesWithCryptoECDSA: valid signatures (from crypto/ecdsa and
// from this package) verify; any change to digest, r or s is refused exactly
// when crypto/ecdsa refuses it.
func TestVerifyAgreesWithCryptoECDSA(t *testing.T) {
	for i := 0; i < 50; i++ {
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub, err := NewPublicKey(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		digest := sha256.Sum256([]byte{byte(i)})
		r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		if !pub.Verify(digest[:], sig) {
			t.Fatalf("key %d: crypto/ecdsa signature refused", i)
		}
		signer, _ := New(priv)
		own, _ := signer.Sign(digest[:])
		if !pub.Verify(digest[:], own) {
			t.Fatalf("key %d: es256 signature refused", i)
		}
		for _, pos := range []int{0, 17, 31, 32, 50, 63} {
			bad := append([]byte(nil), sig...)
			bad[pos] ^= 0x01
			if pub.Verify(digest[:], bad) != stdVerify(&priv.PublicKey, digest[:], bad) {
				t.Fatalf("key %d: verdict differs from crypto/ecdsa for a flipped byte %d", i, pos)
			}
		}
		d2 := digest
		d2[5] ^= 0x80
		if pub.Verify(d2[:], sig) {
			t.Fatal("signature verifies for another digest")
		}
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		otherPub, _ := NewPublicKey(&other.PublicKey)
		if otherPub.Verify(digest[:], sig) {
			t.Fatal("signature verifies under another key")
		}
	}
}

// TestVerifyEdgeScalars: r or s of 0, n, n-1 and all-ones, a malleated
// s' = n - s (valid ECDSA, accepted by crypto/ecdsa too), wrong lengths.
func TestVerifyEdgeScalars(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := NewPublicKey(&priv.PublicKey)
	digest := sha256.Sum256([]byte("edge"))
	r, s, _ := ecdsa.Sign(rand.Reader, priv, digest[:])
	nMinus1 := new(big.Int).Sub(orderBig, big.NewInt(1))
	ones := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	for _, c := range []struct{ r, s *big.Int }{
		{big.NewInt(0), s}, {r, big.NewInt(0)}, {orderBig, s}, {r, orderBig},
		{nMinus1, s}, {r, nMinus1}, {ones, s}, {r, ones}, {r, new(big.Int).Sub(orderBig, s)},
	} {
		sig := make([]byte, 64)
		c.r.FillBytes(sig[:32])
		c.s.FillBytes(sig[32:])
		if got, want := pub.Verify(digest[:], sig), stdVerify(&priv.PublicKey, digest[:], sig); got != want {
			t.Errorf("r=%x s=%x: got %v, crypto/ecdsa %v", c.r, c.s, got, want)
		}
	}
	good := make([]byte, 64)
	r.FillBytes(good[:32])
	s.FillBytes(good[32:])
	for _, n := range []int{0, 63, 65, 72} {
		b := make([]byte, n)
		copy(b, good)
		if pub.Verify(digest[:], b) {
			t.Errorf("%d-byte signature accepted", n)
		}
	}
	if pub.Verify(digest[:31], good) {
		t.Error("short digest accepted")
	}
}

// TestTableMultiplication checks mul against ScalarMult for edge scalars.
func TestTableMultiplication(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := NewPublicKey(&priv.PublicKey)
	raw, _ := priv.PublicKey.Bytes()
	scalars := [][]byte{make([]byte, 32), append(make([]byte, 31), 1), append(make([]byte, 31), 8), append(make([]byte, 31), 0x88)}
	ff := make([]byte, 32)
	for i := range ff {
		ff[i] = 0xff
	}
	scalars = append(scalars, ff, append([]byte(nil), orderBytes...))
	for i := 0; i < 20; i++ {
		b := make([]byte, 32)
		rand.Read(b)
		scalars = append(scalars, b)
	}
	for _, sc := range scalars {
		q, _ := newP256(raw)
		want, err := q.ScalarMult(q, sc)
		if err != nil {
			t.Fatal(err)
		}
		if pub.mul(sc).Equal(want) != 1 {
			t.Fatalf("mul(%x) differs from ScalarMult", sc)
		}
	}
}

func FuzzVerify(f *testing.F) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := NewPublicKey(&priv.PublicKey)
	digest := sha256.Sum256([]byte("fuzz"))
	r, s, _ := ecdsa.Sign(rand.Reader, priv, digest[:])
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	f.Add(digest[:], sig)
	f.Add(make([]byte, 32), make([]byte, 64))
	f.Fuzz(func(t *testing.T, d, sig []byte) {
		if len(d) != 32 {
			return
		}
		if got, want := pub.Verify(d, sig), stdVerify(&priv.PublicKey, d, sig); got != want {
			t.Fatalf("verdict %v, crypto/ecdsa %v", got, want)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("token"))
	r, s, _ := ecdsa.Sign(rand.Reader, priv, digest[:])
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	b.Run("es256", func(b *testing.B) {
		pub, _ := NewPublicKey(&priv.PublicKey)
		b.ReportAllocs()
		for b.Loop() {
			if !pub.Verify(digest[:], sig) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("crypto-ecdsa", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !ecdsa.Verify(&priv.PublicKey, digest[:], r, s) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("table", func(b *testing.B) {
		for b.Loop() {
			_, _ = NewPublicKey(&priv.PublicKey)
		}
	})
}
