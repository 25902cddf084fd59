package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// The backends register themselves; their settings' field errors reach the
// operator as the keys that set them, from the file and the environment,
// and an unknown backend type names the ones there are.
func TestBackendErrorsNameTheirKeys(t *testing.T) {
	t.Parallel()
	if got := backends.Kinds(); !slices.Equal(got, []string{"awssm", "file", "vault"}) {
		t.Fatalf("registered backends %v", got)
	}
	dir := t.TempDir()
	head := "issuer: https://a.example\ntls: {cert_file: c, key_file: k}\n"
	for _, tc := range []struct {
		name, yaml string
		env        []string
		want       []string
		check      bool // config check (reads credential files) rather than Validate
	}{
		{"file without dir", "", nil, []string{"backend.file.dir: required"}, false},
		{"unknown type", "backend: {type: etcd}\n", nil, []string{`backend.type: unknown backend: "etcd" is not one of [awssm file vault]`}, false},
		{"vault missing", "backend: {type: vault, vault: {auth: {method: approle}}}\n", nil,
			[]string{"backend.vault.address: required", "backend.vault.auth.role_id: required", "backend.vault.auth.secret_id_file: required"}, false},
		{"vault bad method", "backend: {type: vault, vault: {address: https://v, auth: {method: ldap}}}\n", nil, []string{`backend.vault.auth.method: "ldap" is not token, approle or cert`}, false},
		{"vault cert", "backend: {type: vault, vault: {address: https://v, auth: {method: cert}}}\n", nil, []string{"backend.vault.client_cert: required", "backend.vault.client_key: required"}, false},
		{"vault read-only with registration", "backend: {type: vault, vault: {address: https://v, read_only: true, auth: {method: cert}, client_cert: c, client_key: k}}\nregistration: {initial_access_token_file: " + filepath.Join(dir, "none") + "}\n", nil, []string{"backend.vault.read_only: registration"}, false},
		{"vault token file", "backend: {type: vault, vault: {address: https://v, auth: {method: token, token_file: " + filepath.Join(dir, "absent") + "}}}\n", nil, []string{"backend.vault.auth.token_file: open "}, true},
		{"awssm recovery days", "backend: {type: awssm, awssm: {recovery_days: 3}}\n", nil, []string{"backend.awssm.recovery_days: 0 (delete at once) or 7 to 30"}, false},
		{"awssm from the environment", "", []string{"TOKENBROKER_BACKEND_TYPE=awssm", "TOKENBROKER_BACKEND_AWSSM_RECOVERY_DAYS=31"}, []string{"backend.awssm.recovery_days"}, false},
		{"pki mounts without vault", "backend: {file: {dir: d}, vault: {pki_mounts: [pki]}}\n", nil, []string{"backend.vault.pki_mounts: needs backend.type vault"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(p, []byte(head+tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			fc, err := config.Load(p, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if tc.check {
				err = Check(fc)
			} else {
				err = Validate(fc)
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if _, oerr := OpenStore(context.Background(), fc, nil); !tc.check && strings.Contains(tc.name, "unknown") && !errors.Is(oerr, backends.ErrUnknownBackend) {
				t.Errorf("OpenStore: %v, want ErrUnknownBackend", oerr)
			}
		})
	}
}

// An initial access token clients could not send as a Bearer token
// (RFC 6750 §2.1) is refused at start, not at each registration.
func TestInitialAccessTokenMustBeABearerToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for tok, ok := range map[string]bool{
		strings.Repeat("a", 40):              true,
		strings.Repeat("a", 40) + "+/==":     true,
		strings.Repeat("a", 40) + " b":       false,
		strings.Repeat("a", 40) + "!":        false,
		"x" + strings.Repeat("a", 40) + "=b": false,
		strings.Repeat("a", 1025):            false,
	} {
		p := filepath.Join(dir, "iat")
		if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fc := &config.Config{Issuer: "https://a.example"}
		fc.Registration.InitialAccessTokenFile = p
		err := Validate(fc)
		if got := config.Keys(err)["registration.initial_access_token_file"]; got == ok {
			t.Errorf("token %.12q…: error %v, want refused=%v", tok, err, !ok)
		}
	}
}
