package signing_test

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
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// TestLocalSignerES256 signs outside FIPS mode and in FIPS 140-3 mode
// (GODEBUG=fips140=on, in a child process; internal/es256 then signs with
// crypto/ecdsa, which its own tests check): both produce RFC 7518 §3.4
// signatures that crypto/ecdsa verifies.
func TestLocalSignerES256(t *testing.T) {
	t.Parallel()
	child := os.Getenv("TB_FIPS_CHILD") == "1"
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.NewLocalSigner("k1", "ES256", k)
	if err != nil {
		t.Fatal(err)
	}
	if child && !fips140.Enabled() {
		t.Fatal("child is not in FIPS mode")
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
	cmd := exec.Command(os.Args[0], "-test.run=^TestLocalSignerES256$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "TB_FIPS_CHILD=1", "GODEBUG=fips140=on")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("FIPS-mode child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestLocalSignerES256") {
		t.Fatalf("FIPS-mode child ran no test:\n%s", out)
	}
}
