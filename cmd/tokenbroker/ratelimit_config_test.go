package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bucket with only one of per_second/burst is an error naming the missing
// key, not a silently disabled limit; the forwarded-address header is checked too.
func TestRateLimitAndProxyConfig(t *testing.T) {
	dir := t.TempDir()
	base := "issuer: https://a.example\nbackend:\n  file:\n    dir: " + dir + "\n"
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"per_second alone", "rate_limits:\n  failed_per_client: {per_second: 1}\n", "rate_limits.failed_per_client.burst: required when per_second is set"},
		{"burst alone", "rate_limits:\n  failed_per_address: {burst: 5}\n", "rate_limits.failed_per_address.per_second: required when burst is set"},
		{"quota half set", "rate_limits:\n  issuance_per_client: {per_second: 2}\n", "rate_limits.issuance_per_client.burst"},
		{"registrations half set", "rate_limits:\n  registrations: {burst: 20}\n", "rate_limits.registrations.per_second: required when burst is set"},
		{"negative", "rate_limits:\n  failed_per_client: {per_second: -1, burst: 3}\n", "rate_limits.failed_per_client: per_second and burst must not be negative"},
		{"address header", "proxy:\n  format: nginx\n  trusted_proxies: [10.0.0.1]\n  address_header: X-Real-IP\n", "proxy.address_header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(p, []byte(base+tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			err := run(context.Background(), []string{"config", "check", p}, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("config check: %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
}
