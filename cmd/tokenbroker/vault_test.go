package main

import (
	"crypto/tls"
	"strings"
	"testing"

	vapi "github.com/hashicorp/vault/api"

	"github.com/tokenbroker/tokenbroker/backends/vault/vaulttest"
)

// devVault starts a real Vault in dev mode (in memory) with transit and pki engines.
func devVault(t *testing.T) (addr string, root *vapi.Client) {
	v := vaulttest.Start(t, vaulttest.Mount("transit", "transit"), vaulttest.Mount("pki", "pki"))
	root = v.Root()
	if _, err := root.Logical().Write("pki/root/generate/internal", map[string]any{"common_name": "vault client CA", "ttl": "24h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("pki/roles/client", map[string]any{"allow_any_name": true, "allowed_uri_sans": "spiffe://*", "client_flag": true, "server_flag": false, "ttl": "1h"}); err != nil {
		t.Fatal(err)
	}
	return v.URL(), root
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
