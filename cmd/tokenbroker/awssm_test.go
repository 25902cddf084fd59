package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends/awssm/awssmtest"
)

// Serve and the CLI against Secrets Manager (the local SigV4 endpoint), with
// credentials from the SDK's default chain (here: the environment).
func TestServeAndCLIWithSecretsManager(t *testing.T) {
	srv := awssmtest.New("AKIDCMDTEST", "cmd-test-secret-key", "us-east-1")
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDCMDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "cmd-test-secret-key")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	h := newServeHarness(t)
	cfgPath := h.write("broker.yaml", []byte(h.head()+`backend:
  type: awssm
  awssm:
    region: us-east-1
    endpoint: `+srv.URL+`
signing:
  type: aws-version-stages
tokens:
  default_audience: https://api.example.test
`))
	out, err := cli("clients", "create", "--config", cfgPath, "--id", "svc", "--scope", "read")
	if err != nil {
		t.Fatalf("clients create against Secrets Manager: %v %s", err, out)
	}
	secret := createdSecret(t, out)
	h.serve(cfgPath)
	addr, cacert := h.addr, h.cacert
	tok, err := cli("token", "--issuer", "https://"+addr, "--cacert", cacert, "--client-id", "svc", "--secret", secret)
	if err != nil {
		t.Fatalf("token: %v %s", err, tok)
	}
	if out, err := cli("inspect", "--issuer", "https://"+addr, "--cacert", cacert, strings.TrimSpace(tok)); err != nil || !strings.Contains(out, "client_id: svc") {
		t.Fatalf("inspect: %v %s", err, out)
	}
	if out, err := cli("clients", "rotate-secret", "svc", "--config", cfgPath); err != nil || !strings.Contains(out, "client_secret") {
		t.Fatalf("rotate-secret: %v %s", err, out)
	}
	// After a rotation the three stages hold a key each: the old current key is AWSPREVIOUS.
	if out, err := cli("keys", "rotate", "--config", cfgPath, "--force"); err != nil || !strings.Contains(out, "rotated") ||
		!strings.Contains(out, "AWSPREVIOUS") || !strings.Contains(out, "AWSCURRENT") || !strings.Contains(out, "AWSPENDING") {
		t.Fatalf("keys rotate: %v %s", err, out)
	}
	if srv.Calls("BatchGetSecretValue") == 0 {
		t.Error("serve did not warm its cache with BatchGetSecretValue")
	}
}
