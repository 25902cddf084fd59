package vault_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	vapi "github.com/hashicorp/vault/api"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/vault"
	"github.com/tokenbroker/tokenbroker/certs"
)

// The broker logs in to Vault with its own TLS client certificate.
func TestCertAuth(t *testing.T) {
	bin := vaultBin()
	if bin == "" {
		server(t) // skips or fails as the environment asks
	}
	dir := t.TempDir()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "server", "-dev", "-dev-tls", "-dev-tls-cert-dir="+dir, "-dev-root-token-id=root", "-dev-listen-address="+addr, "-log-level=warn")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	caFile := filepath.Join(dir, "vault-ca.pem")
	cfg := vapi.DefaultConfig()
	cfg.Address = "https://" + addr
	cfg.ConfigureTLS(&vapi.TLSConfig{CACert: caFile})
	deadline := time.Now().Add(30 * time.Second)
	var root *vapi.Client
	for {
		if _, err := os.Stat(caFile); err == nil {
			cfg.ConfigureTLS(&vapi.TLSConfig{CACert: caFile})
			root, _ = vapi.NewClient(cfg)
			root.SetToken("root")
			if h, err := root.Sys().Health(); err == nil && !h.Sealed {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("dev TLS Vault did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	clientCA, _ := certs.NewCA("broker identity CA", time.Hour)
	certPEM, keyPEM, _ := clientCA.Issue(certs.Leaf{CommonName: "tokenbroker", Client: true})
	cp, kp := filepath.Join(dir, "broker.pem"), filepath.Join(dir, "broker-key.pem")
	os.WriteFile(cp, certPEM, 0o600)
	os.WriteFile(kp, keyPEM, 0o600)
	if err := root.Sys().EnableAuthWithOptions("cert", &vapi.EnableAuthOptions{Type: "cert"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("tb", `path "secret/*" { capabilities = ["create","read","update","delete","list"] }
path "sys/internal/ui/mounts/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/cert/certs/broker", map[string]any{"certificate": string(clientCA.CertPEM()), "token_policies": "tb", "token_ttl": "2s", "token_max_ttl": "3s"}); err != nil {
		t.Fatal(err)
	}
	s, err := vault.New(context.Background(), vault.Config{Address: "https://" + addr, CACert: caFile, ClientCert: cp, ClientKey: kp, Auth: vault.Cert("broker", ""), Logger: quiet()})
	if err != nil {
		t.Fatalf("cert login: %v", err)
	}
	defer s.Close()
	if err := s.CreateClient(context.Background(), &backends.Client{ClientID: "via-cert", TokenEndpointAuthMethod: "client_secret_basic"}); err != nil {
		t.Fatalf("write with the cert-auth token: %v", err)
	}
	// Short TTLs: renewed, then logged in again with the certificate; never lapses.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if _, err := s.GetClient(context.Background(), "via-cert"); err != nil {
			t.Fatalf("read after cert-auth token renewal: %v", err)
		}
	}
	// Without the client certificate the login is refused.
	if _, err := vault.New(context.Background(), vault.Config{Address: "https://" + addr, CACert: caFile, Auth: vault.Cert("broker", ""), Logger: quiet()}); err == nil {
		t.Fatal("cert login without a certificate succeeded")
	}
}
