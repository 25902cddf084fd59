package runtime

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	vapi "github.com/hashicorp/vault/api"

	"github.com/tokenbroker/tokenbroker/backends/vault"
	"github.com/tokenbroker/tokenbroker/backends/vault/vaulttest"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// review3: the backend is shared across reloads and reopened only when
// storeKeyOf changes. For token and AppRole auth the key holds the
// credential files' contents; for cert auth it holds only the paths
// (backend.vault.client_cert, client_key, ca_cert). An operator who rotates
// the broker's Vault client certificate in place (the old key leaked), makes
// Vault trust only the new one, and sends SIGHUP gets the old backend back —
// logged in with the old certificate — where before the restructuring every
// reload opened a new store (a new login with the files as they are now).
func TestReview3ReloadWithRotatedVaultClientCertLogsInAgain(t *testing.T) {
	if vaulttest.Bin() == "" {
		vaulttest.Unavailable(t, vaulttest.ErrNoBinary)
	}
	v := vaulttest.Start(t, vaulttest.TLS())
	dir, root := t.TempDir(), v.Root()
	if err := root.Sys().EnableAuthWithOptions("cert", &vapi.EnableAuthOptions{Type: "cert"}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("tb", `path "secret/*" { capabilities = ["create","read","update","delete","list"] }
path "sys/internal/ui/mounts/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	oldCA, _ := certs.NewCA("old broker identity CA", time.Hour)
	newCA, _ := certs.NewCA("new broker identity CA", time.Hour)
	trust := func(ca *certs.CA) {
		if _, err := root.Logical().Write("auth/cert/certs/broker", map[string]any{"certificate": string(ca.CertPEM()), "token_policies": "tb"}); err != nil {
			t.Fatal(err)
		}
	}
	cp, kp := filepath.Join(dir, "broker.pem"), filepath.Join(dir, "broker-key.pem")
	install := func(ca *certs.CA) {
		c, k, err := ca.Issue(certs.Leaf{CommonName: "tokenbroker", Client: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cp, c, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(kp, k, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	load := func() *config.Config {
		fc := &config.Config{}
		fc.Backend.Type = vault.Name
		vs := fc.Backend.Section(vault.Name).(*vault.Settings)
		vs.Address = v.URL()
		vs.CACert = v.CACert()
		vs.ClientCert, vs.ClientKey = cp, kp
		vs.Auth.Method, vs.Auth.CertRole = "cert", "broker"
		return fc
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()

	trust(oldCA)
	install(oldCA)
	fc := load()
	p := &process{fc: fc}
	first, release, err := p.store(ctx, fc, log)
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	defer release.Close()

	// Rotation: new certificate at the same paths, Vault trusts only the new CA.
	install(newCA)
	trust(newCA)
	// The new files log in (the fix is possible): a fresh open succeeds.
	if s, err := OpenStore(ctx, load(), log); err != nil {
		t.Fatalf("a fresh open with the rotated certificate: %v", err)
	} else {
		s.Close()
	}
	// SIGHUP: the old instance still holds its reference while the new one opens.
	second, release2, err := p.store(ctx, load(), log)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	defer release2.Close()
	if second == first {
		t.Fatal("reload after rotating the Vault client certificate (same paths, new contents, the old one no longer trusted) " +
			"reused the backend logged in with the old certificate; a changed token or secret_id file opens a new one")
	}
}
