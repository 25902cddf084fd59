package backends

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/fips140"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"os"
	"os/exec"
	"testing"
)

// TestLocalSignerES256 signs with the fast signer outside FIPS mode and with
// crypto/ecdsa in FIPS 140-3 mode (GODEBUG=fips140=on, in a child process);
// both produce RFC 7518 §3.4 signatures that crypto/ecdsa verifies.
func TestLocalSignerES256(t *testing.T) {
	child := os.Getenv("TB_FIPS_CHILD") == "1"
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewLocalSigner("k1", "ES256", k)
	if err != nil {
		t.Fatal(err)
	}
	ls := s.(*localSigner)
	if child {
		if !fips140.Enabled() {
			t.Fatal("child is not in FIPS mode")
		}
		if ls.es256 != nil {
			t.Fatal("FIPS mode must sign with crypto/ecdsa")
		}
	} else if ls.es256 == nil && !fips140.Enabled() {
		t.Fatal("outside FIPS mode ES256 should use the fast signer")
	}
	for i := 0; i < 20; i++ {
		in := []byte{byte(i), 'x'}
		sig, err := s.Sign(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256(in)
		if len(sig) != 64 || !ecdsa.Verify(&k.PublicKey, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatalf("signature %d does not verify", i)
		}
	}
	if child || testing.Short() {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLocalSignerES256$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TB_FIPS_CHILD=1", "GODEBUG=fips140=on")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("FIPS-mode child: %v\n%s", err, out)
	}
}
