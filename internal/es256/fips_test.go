package es256

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/fips140"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestFIPSModeFallsBack runs itself in a child process under
// GODEBUG=fips140=on: there every operation — New, Sign, NewPublicKey,
// Verify, Tables.Admit, Tables.Verify — must hand its work to crypto/ecdsa
// (seen through fallbackObserved), no table may exist, and the Wycheproof
// vectors must still get their verdicts. Outside FIPS mode none may fall back.
func TestFIPSModeFallsBack(t *testing.T) {
	child := os.Getenv("TB_ES256_FIPS_CHILD") == "1"
	if child != fips140.Enabled() {
		t.Fatalf("child %v, FIPS 140-3 mode %v", child, fips140.Enabled())
	}
	seen := map[string]int{}
	fallbackObserved = func(op string) { seen[op]++ }
	defer func() { fallbackObserved = nil }()

	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("fips"))
	key, err := New(priv)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.Sign(digest[:])
	if err != nil {
		t.Fatal(err)
	}
	if !stdVerify(&priv.PublicKey, digest[:], sig) {
		t.Fatal("signature does not verify with crypto/ecdsa")
	}
	pub, err := NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Verify(digest[:], sig) {
		t.Fatal("good signature refused")
	}
	bad := append([]byte(nil), sig...)
	bad[40] ^= 1
	if pub.Verify(digest[:], bad) {
		t.Fatal("bad signature accepted")
	}
	var tabs Tables
	now := time.Now()
	tabs.Admit(&priv.PublicKey, now)
	ok, handled := tabs.Verify(&priv.PublicKey, digest[:], sig, now)

	ops := []string{opNew, opSign, opTable, opVerify, opAdmit, opLookup}
	if !child {
		if len(seen) != 0 {
			t.Fatalf("outside FIPS mode, fell back for %v", seen)
		}
		if key.d == nil || pub.rows == nil || !handled || !ok {
			t.Fatal("outside FIPS mode the package's own arithmetic must run")
		}
		if testing.Short() {
			return
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestFIPSModeFallsBack$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "TB_ES256_FIPS_CHILD=1", "GODEBUG=fips140=on")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("FIPS-mode child: %v\n%s", err, out)
		}
		for _, want := range []string{"--- PASS: TestFIPSModeFallsBack", "fell back: " + strings.Join(ops, " "), "Wycheproof vectors, FIPS 140-3 mode true"} {
			if !strings.Contains(string(out), want) {
				t.Fatalf("FIPS-mode child output lacks %q:\n%s", want, out)
			}
		}
		return
	}
	for _, op := range ops {
		if seen[op] == 0 {
			t.Errorf("FIPS mode: %s did not fall back to crypto/ecdsa (saw %v)", op, seen)
		}
	}
	if key.d != nil || pub.rows != nil || handled || len(tabs.tables) != 0 {
		t.Fatal("FIPS mode: the package's own arithmetic ran")
	}
	t.Logf("fell back: %s", strings.Join(ops, " "))
	// The vectors, through crypto/ecdsa.
	TestWycheproof(t)
}
