package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// backend.vault.read_only checks only the read capabilities at start-up, so
// it cannot be combined with registration, which writes client records.
func TestVaultReadOnlyConfig(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "iat")
	if err := os.WriteFile(tok, []byte(strings.Repeat("x", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "c.yaml")
	cfg := "issuer: https://a.example\nbackend:\n  type: vault\n  vault:\n    address: https://127.0.0.1:1\n    read_only: true\n" +
		"    auth:\n      method: token\n      token_file: " + tok + "\nregistration:\n  initial_access_token_file: " + tok + "\n"
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"config", "check", p}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "backend.vault.read_only") {
		t.Fatalf("config check: %v\nwant an error naming backend.vault.read_only", err)
	}
}
