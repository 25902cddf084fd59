package main

import (
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	vapi "github.com/hashicorp/vault/api"
)

// devVault starts a real Vault in dev mode (in memory) with transit and pki engines.
func devVault(t *testing.T) (addr string, root *vapi.Client) {
	bin := os.Getenv("TB_TEST_VAULT_BIN")
	if bin == "" {
		home, _ := os.UserHomeDir()
		bin = filepath.Join(home, ".cache", "tokenbroker", "vault-v1.21.0", "vault")
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("TB_TEST_REQUIRE_VAULT") != "" {
			t.Fatalf("Vault required: %v", err)
		}
		t.Skip("no Vault binary; .ci/vault-tool/build.sh builds it")
	}
	addr = freeAddr(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "server", "-dev", "-dev-root-token-id=root", "-dev-listen-address="+addr, "-log-level=warn")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	cfg := vapi.DefaultConfig()
	cfg.Address = "http://" + addr
	root, _ = vapi.NewClient(cfg)
	root.SetToken("root")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if h, err := root.Sys().Health(); err == nil && !h.Sealed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dev Vault did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for path, typ := range map[string]string{"transit": "transit", "pki": "pki"} {
		if err := root.Sys().Mount(path, &vapi.MountInput{Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := root.Logical().Write("pki/root/generate/internal", map[string]any{"common_name": "vault client CA", "ttl": "24h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("pki/roles/client", map[string]any{"allow_any_name": true, "allowed_uri_sans": "spiffe://*", "client_flag": true, "server_flag": false, "ttl": "1h"}); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr, root
}

// Serve, the CLI, Transit signing and PKI trust anchors, all against a real Vault.
func TestServeAndCLIWithVault(t *testing.T) {
	vaddr, root := devVault(t)
	h := newServeHarness(t)
	write := h.write
	cfgPath := write("broker.yaml", []byte(h.head()+`backend:
  type: vault
  vault:
    address: `+vaddr+`
    prefix: tb
    pki_mounts: [pki]
    auth:
      method: token
      token_file: `+write("vault-token", []byte("root\n"))+`
signing:
  type: vault-transit
  transit:
    key: tb-signing
tokens:
  default_audience: https://api.example.test
keys:
  jwks_max_age: 1m
`))
	out, err := cli("clients", "create", "--config", cfgPath, "--id", "svc", "--scope", "read write")
	if err != nil {
		t.Fatalf("clients create against Vault: %v %s", err, out)
	}
	secret := createdSecret(t, out)
	if out, err := cli("clients", "update", "svc", "--config", cfgPath, "--scope", "read"); err != nil || !strings.Contains(out, `"scope": "read"`) {
		t.Fatalf("clients update: %v %s", err, out)
	}
	if out, err := cli("clients", "list", "--config", cfgPath); err != nil || strings.TrimSpace(out) != "svc" {
		t.Fatalf("clients list: %v %q", err, out)
	}
	out, err = cli("clients", "create", "--config", cfgPath, "--id", "mtls", "--method", "tls_client_auth", "--tls-san-uri", "spiffe://example.org/mtls", "--scope", "read")
	if err != nil {
		t.Fatalf("create mTLS client: %v %s", err, out)
	}
	stderr := h.serve(cfgPath)
	addr, cacert := h.addr, h.cacert
	tok, err := cli("token", "--issuer", "https://"+addr, "--cacert", cacert, "--client-id", "svc", "--secret", secret)
	if err != nil {
		t.Fatalf("token from Vault-held secret: %v %s\n%s", err, tok, stderr)
	}
	if out, err := cli("inspect", "--issuer", "https://"+addr, "--cacert", cacert, strings.TrimSpace(tok)); err != nil || !strings.Contains(out, "client_id: svc") {
		t.Fatalf("Transit-signed token does not verify: %v %s", err, out)
	}
	// A client certificate issued by Vault PKI, trusted through pki_mounts.
	issued, err := root.Logical().Write("pki/issue/client", map[string]any{"common_name": "mtls", "uri_sans": "spiffe://example.org/mtls"})
	if err != nil {
		t.Fatal(err)
	}
	cp := write("mtls.pem", []byte(issued.Data["certificate"].(string)))
	kp := write("mtls-key.pem", []byte(issued.Data["private_key"].(string)))
	if _, err := tls.LoadX509KeyPair(cp, kp); err != nil {
		t.Fatal(err)
	}
	if out, err := cli("token", "--issuer", "https://"+addr, "--cacert", cacert, "--client-id", "mtls", "--cert", cp, "--cert-key", kp); err != nil {
		t.Fatalf("tls_client_auth with a Vault PKI certificate: %v %s\n%s", err, out, stderr)
	}
	if out, err := cli("clients", "rotate-secret", "svc", "--config", cfgPath); err != nil || !strings.Contains(out, "client_secret") {
		t.Fatalf("rotate-secret: %v %s", err, out)
	}
	if out, err := cli("keys", "rotate", "--config", cfgPath); err != nil || !strings.Contains(out, "tb-signing-v2") {
		t.Fatalf("keys rotate (Transit): %v %s", err, out)
	}
	if out, err := cli("clients", "delete", "svc", "--config", cfgPath); err != nil {
		t.Fatalf("delete: %v %s", err, out)
	}
}
