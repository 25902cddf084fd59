package es256

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/fips140"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// wycheproofFile is the part of Project Wycheproof's EcdsaP1363Verify schema
// the test reads (testdata/wycheproof, Apache-2.0).
type wycheproofFile struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []struct {
		Type      string `json:"type"`
		SHA       string `json:"sha"`
		PublicKey struct {
			Curve        string `json:"curve"`
			Uncompressed string `json:"uncompressed"`
		} `json:"publicKey"`
		Tests []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Flags   []string `json:"flags"`
			Msg     string   `json:"msg"`
			Sig     string   `json:"sig"`
			Result  string   `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// TestWycheproof checks every vector of Wycheproof's
// ecdsa_secp256r1_sha256_p1363_test.json: the verdict of PublicKey.Verify
// (the table verifier; crypto/ecdsa in FIPS 140-3 mode, which
// TestFIPSModeFallsBack runs this under) and of Tables.Verify must be the
// expected result — "valid" true, "invalid" false, "acceptable" either but
// equal to crypto/ecdsa's.
func TestWycheproof(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "wycheproof", "ecdsa_secp256r1_sha256_p1363_test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f wycheproofFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if f.Algorithm != "ECDSA" {
		t.Fatalf("algorithm %q", f.Algorithm)
	}
	now := time.Now()
	ran := 0
	for _, g := range f.TestGroups {
		if g.Type != "EcdsaP1363Verify" || g.SHA != "SHA-256" || g.PublicKey.Curve != "secp256r1" {
			t.Fatalf("unexpected group %s %s %s", g.Type, g.SHA, g.PublicKey.Curve)
		}
		raw := mustHex(t, g.PublicKey.Uncompressed)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
		if err != nil {
			t.Fatalf("public key %s: %v", g.PublicKey.Uncompressed, err)
		}
		table, err := NewPublicKey(pub)
		if err != nil {
			t.Fatalf("public key %s: %v", g.PublicKey.Uncompressed, err)
		}
		var tabs Tables // a set per key: 112 keys exceed one set's bound
		tabs.Admit(pub, now)
		for _, tc := range g.Tests {
			ran++
			msg := mustHex(t, tc.Msg)
			sig, err := hex.DecodeString(tc.Sig)
			if err != nil {
				t.Fatalf("tcId %d: sig: %v", tc.TcID, err)
			}
			digest := sha256.Sum256(msg)
			std := stdVerify(pub, digest[:], sig)
			got := table.Verify(digest[:], sig)
			tabOK, handled := tabs.Verify(pub, digest[:], sig, now)
			if !handled && !fips140.Enabled() {
				t.Fatalf("tcId %d: Tables did not handle an admitted key", tc.TcID)
			}
			var want bool
			switch tc.Result {
			case "valid":
				want = true
			case "invalid":
				want = false
			case "acceptable":
				want = std
			default:
				t.Fatalf("tcId %d: result %q", tc.TcID, tc.Result)
			}
			if got != want {
				t.Errorf("tcId %d (%s, %v): PublicKey.Verify = %v, want %v (%s)", tc.TcID, tc.Comment, tc.Flags, got, want, tc.Result)
			}
			if handled && tabOK != want {
				t.Errorf("tcId %d (%s, %v): Tables.Verify = %v, want %v (%s)", tc.TcID, tc.Comment, tc.Flags, tabOK, want, tc.Result)
			}
			if std != want {
				t.Errorf("tcId %d (%s): crypto/ecdsa = %v, want %v", tc.TcID, tc.Comment, std, want)
			}
		}
	}
	if ran != f.NumberOfTests || ran == 0 {
		t.Fatalf("ran %d vectors, the file has %d", ran, f.NumberOfTests)
	}
	t.Logf("%d Wycheproof vectors, FIPS 140-3 mode %v", ran, fips140.Enabled())
}
