package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGHUP reloads the configuration without a restart (and without dropping
// the listener): a changed token lifetime applies to the next token.
func TestSIGHUPReloadsConfiguration(t *testing.T) {
	h := newServeHarness(t)
	cfg := func(lifetime string) []byte {
		return []byte(h.head() + "backend:\n  file:\n    dir: " + filepath.Join(h.dir, "data") + "\ntokens:\n  default_audience: https://api.example.test\n  lifetime: " + lifetime + "\n")
	}
	cfgPath := h.write("broker.yaml", cfg("5m"))
	out, err := cli("clients", "create", "--config", cfgPath, "--id", "c", "--scope", "read")
	if err != nil {
		t.Fatal(err, out)
	}
	secret := createdSecret(t, out)
	stderr := h.serve(cfgPath)
	addr, cacert, write := h.addr, h.cacert, h.write
	expiresIn := func() float64 {
		t.Helper()
		tok, err := cli("token", "--issuer", "https://"+addr, "--cacert", cacert, "--client-id", "c", "--secret", secret, "--decode")
		if err != nil {
			t.Fatal(err, tok)
		}
		var d struct {
			Claims struct{ Exp, Iat float64 } `json:"claims"`
		}
		json.Unmarshal([]byte(tok), &d)
		return d.Claims.Exp - d.Claims.Iat
	}
	if got := expiresIn(); got != 300 {
		t.Fatalf("lifetime before reload: %v", got)
	}
	write("broker.yaml", cfg("2m"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "configuration, certificates, CA bundles and CRLs reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := expiresIn(); got != 120 {
		t.Fatalf("lifetime after SIGHUP: %v, want 120", got)
	}
	// A broken configuration on SIGHUP keeps the running one.
	write("broker.yaml", []byte("issuer: http://not-https\n"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	for !strings.Contains(stderr.String(), "reload failed; keeping the running configuration") {
		if time.Now().After(deadline) {
			t.Fatalf("bad reload not reported:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := expiresIn(); got != 120 {
		t.Fatalf("a failed reload changed the running configuration: %v", got)
	}
}
