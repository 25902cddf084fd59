package config_test

import (
	"testing"
)

// Every configuration error names its key — decode errors included, which
// the YAML library reports by line only ("line 5: cannot unmarshal …").
func TestConfigErrorsNameTheirKey(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		yaml string
		env  []string
		want []string // each must appear in the error
	}{
		{"duration", "issuer: https://a.example\ntokens:\n  lifetime: banana\n", nil, []string{`tokens.lifetime: "banana" is not a duration`, "line 3"}},
		{"int", "cache:\n  ttl: 30s\n  max_entries: lots\n", nil, []string{`cache.max_entries: "lots" is not a whole number`}},
		{"bool", "jwks_uri:\n  allow_private: maybe\n", nil, []string{"jwks_uri.allow_private:"}},
		{"optional bool", "assertions:\n  audience_compat: sometimes\n", nil, []string{"assertions.audience_compat:"}},
		{"float in a flow mapping", "rate_limits:\n  failed_per_client: {per_second: fast, burst: 3}\n", nil, []string{"rate_limits.failed_per_client"}},
		{"list given a mapping", "tls:\n  client_ca_files: {a: b}\n", nil, []string{"tls.client_ca_files: a mapping is not a list of strings"}},
		{"mapping given a scalar", "backend:\n  vault: yes\n", nil, []string{"backend.vault:"}},
		{"list given a scalar", "scopes_supported: read\n", nil, []string{`scopes_supported: "read" is not a list of strings`}},
		{"list item", "tls:\n  crl_urls:\n    - http://a\n    - {x: 1}\n", nil, []string{"tls.crl_urls:"}},
		{"nested unknown key", "tokens:\n  lifetme: 5m\n", nil, []string{"tokens.lifetme: unknown key"}},
		{"several at once", "tokens:\n  lifetime: soon\n  max_lifetime: later\ncache:\n  max_entries: x\n", nil, []string{"tokens.lifetime:", "tokens.max_lifetime:", "cache.max_entries:"}},
		{"env duration", "", []string{"TOKENBROKER_TOKENS_LIFETIME=banana"}, []string{"TOKENBROKER_TOKENS_LIFETIME (tokens.lifetime)", `"banana"`}},
		{"env int", "", []string{"TOKENBROKER_CACHE_MAX_ENTRIES=lots"}, []string{"TOKENBROKER_CACHE_MAX_ENTRIES (cache.max_entries)"}},
		{"env bool", "", []string{"TOKENBROKER_JWKS_URI_ALLOW_PRIVATE=maybe"}, []string{"TOKENBROKER_JWKS_URI_ALLOW_PRIVATE (jwks_uri.allow_private)"}},
	} {
		t.Run(tc.name, func(t *testing.T) { requireLoadError(t, dir, tc.name, tc.yaml, tc.env, tc.want) })
	}
}
