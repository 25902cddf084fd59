package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/internal/config"
)

// requireLoadError loads yaml, written to a file named after name in dir,
// with the environment env, and requires an error that contains every
// string in want.
func requireLoadError(t *testing.T, dir, name, yaml string, env, want []string) {
	t.Helper()
	p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(p, env)
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
}

// A library names the field of its options; KeyOf names the key that sets it,
// nested fields included.
func TestKeyOf(t *testing.T) {
	for _, tc := range []struct{ typ, field, want string }{
		{"broker.Config", "TokenLifetime", "tokens.lifetime"},
		{"broker.Config", "MTLSBaseURL", "mtls.base_url"},
		{"broker.Config", "RateLimits.FailedPerClient", "rate_limits.failed_per_client"},
		{"broker.Config", "RateLimits.Registrations.Burst", "rate_limits.registrations.burst"},
		{"certs.ProxyConfig", "AddressHeader", "proxy.address_header"},
		{"broker.Config", "MaxBodyBytes", "MaxBodyBytes"}, // no key sets it
	} {
		if got := config.KeyOf(tc.typ, tc.field); got != tc.want {
			t.Errorf("KeyOf(%s, %s) = %q, want %q", tc.typ, tc.field, got, tc.want)
		}
	}
}

// Validate fills each default once, names the key of every error, and
// touches nothing on disk: the directories a configuration names need
// not exist, and are not created.
func TestValidateFillsDefaultsWithoutSideEffects(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	c := &config.Config{Issuer: "https://a.example"}
	c.TLS.CertFile, c.TLS.KeyFile = filepath.Join(dir, "s.pem"), filepath.Join(dir, "k.pem")
	c.Audit.File = filepath.Join(dir, "audit.log")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Validate created %s: %v", dir, err)
	}
	if c.Listen != config.DefaultListen || time.Duration(c.TLS.ReloadInterval) != config.DefaultReloadInterval ||
		c.RateLimits.FailedPerClient != config.DefaultFailedPerClient || c.RateLimits.IssuancePerClient != (config.Rate{}) {
		t.Fatalf("defaults not filled: %+v", c)
	}

	c.RateLimits.Registrations = config.Rate{Burst: 3}
	c.SharedState.Type = "etcd"
	err := c.Validate()
	keys := config.Keys(err)
	for _, k := range []string{"rate_limits.registrations.per_second", "shared_state.type"} {
		if !keys[k] {
			t.Errorf("no error for %s in %v", k, err)
		}
	}
}
