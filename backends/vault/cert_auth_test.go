package vault_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vapi "github.com/hashicorp/vault/api"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/vault"
	"github.com/tokenbroker/tokenbroker/backends/vault/vaulttest"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// The broker logs in to Vault with its own TLS client certificate.
func TestCertAuth(t *testing.T) {
	v := vaulttest.Start(t, vaulttest.TLS())
	dir, root, caFile, addr := v.Dir(), v.Root(), v.CACert(), v.URL()
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
	logs := &logBuf{}
	s, err := vault.New(context.Background(), vault.Config{Address: addr, CACert: caFile, ClientCert: cp, ClientKey: kp, Auth: vault.Cert("broker", ""),
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("cert login: %v", err)
	}
	defer s.Close()
	if err := s.CreateClient(context.Background(), &backends.Client{ClientID: "via-cert", TokenEndpointAuthMethod: "client_secret_basic"}); err != nil {
		t.Fatalf("write with the cert-auth token: %v", err)
	}
	// Short TTLs: renewed, then logged in again with the certificate; never
	// lapses. Vault's clock is its own: poll until the re-login.
	testkit.WaitFor(t, "a re-login with the certificate at the max TTL", func() bool {
		if _, err := s.GetClient(context.Background(), "via-cert"); err != nil {
			t.Fatalf("read after cert-auth token renewal: %v\n%s", err, logs)
		}
		return strings.Contains(logs.String(), "logged in again")
	})
	if _, err := s.GetClient(context.Background(), "via-cert"); err != nil {
		t.Fatalf("read after the re-login: %v\n%s", err, logs)
	}
	// Without the client certificate the login is refused.
	if _, err := vault.New(context.Background(), vault.Config{Address: addr, CACert: caFile, Auth: vault.Cert("broker", ""), Logger: quiet()}); err == nil {
		t.Fatal("cert login without a certificate succeeded")
	}
}
