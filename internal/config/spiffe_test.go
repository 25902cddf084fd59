package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/internal/config"
)

// TestSPIFFEKeys: federation.spiffe is checked key by key, each error naming
// its key, and its defaults are filled once.
func TestSPIFFEKeys(t *testing.T) {
	t.Parallel()
	base := func(tds map[string]config.SPIFFETrustDomain) *config.Config {
		c := &config.Config{Issuer: "https://a.example"}
		c.TLS.CertFile, c.TLS.KeyFile = "s.pem", "k.pem"
		c.Federation.SPIFFE.TrustDomains = tds
		return c
	}
	ok := base(map[string]config.SPIFFETrustDomain{
		"prod.example":  {BundleEndpointURL: "https://spire.prod.example/bundle"},
		"stage.example": {BundleEndpointURL: "https://10.0.0.1:8443", BundleEndpointProfile: "https_spiffe", EndpointSPIFFEID: "spiffe://stage.example/spire/server", BundleFile: "stage.json"},
		"dev.example":   {BundleFile: "dev.json"},
		"local.example": {WorkloadAPISocket: "unix:///run/spire/agent.sock"},
	})
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	s := ok.Federation.SPIFFE
	if time.Duration(s.RefreshMin) != config.DefaultSPIFFERefreshMin || time.Duration(s.JWTSVIDMaxLifetime) != config.DefaultJWTSVIDMaxLifetime ||
		s.TrustDomains["prod.example"].BundleEndpointProfile != "https_web" {
		t.Fatalf("defaults not filled: %+v", s)
	}
	for _, tc := range []struct {
		name string
		td   string
		c    config.SPIFFETrustDomain
		key  string
	}{
		{"no source", "a.example", config.SPIFFETrustDomain{}, "federation.spiffe.trust_domains.a.example"},
		{"two sources", "a.example", config.SPIFFETrustDomain{BundleFile: "x", WorkloadAPISocket: "unix:///s"}, "federation.spiffe.trust_domains.a.example"},
		{"upper case name", "A.example", config.SPIFFETrustDomain{BundleFile: "x"}, "federation.spiffe.trust_domains.A.example"},
		{"a SPIFFE ID as name", "spiffe://a.example", config.SPIFFETrustDomain{BundleFile: "x"}, "federation.spiffe.trust_domains.spiffe://a.example"},
		{"http endpoint", "a.example", config.SPIFFETrustDomain{BundleEndpointURL: "http://a.example/b"}, "federation.spiffe.trust_domains.a.example.bundle_endpoint_url"},
		{"unknown profile", "a.example", config.SPIFFETrustDomain{BundleEndpointURL: "https://a.example/b", BundleEndpointProfile: "https"}, "federation.spiffe.trust_domains.a.example.bundle_endpoint_profile"},
		{"https_spiffe without ID", "a.example", config.SPIFFETrustDomain{BundleEndpointURL: "https://a.example/b", BundleEndpointProfile: "https_spiffe", BundleFile: "x"}, "federation.spiffe.trust_domains.a.example.endpoint_spiffe_id"},
		{"https_spiffe without initial bundle", "a.example", config.SPIFFETrustDomain{BundleEndpointURL: "https://a.example/b", BundleEndpointProfile: "https_spiffe", EndpointSPIFFEID: "spiffe://a.example/s"}, "federation.spiffe.trust_domains.a.example.bundle_file"},
		{"https_web with an endpoint ID", "a.example", config.SPIFFETrustDomain{BundleEndpointURL: "https://a.example/b", EndpointSPIFFEID: "spiffe://a.example/s"}, "federation.spiffe.trust_domains.a.example"},
		{"socket path without scheme", "a.example", config.SPIFFETrustDomain{WorkloadAPISocket: "/run/agent.sock"}, "federation.spiffe.trust_domains.a.example.workload_api_socket"},
		{"endpoint keys without endpoint", "a.example", config.SPIFFETrustDomain{BundleFile: "x", EndpointCAFile: "ca.pem"}, "federation.spiffe.trust_domains.a.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base(map[string]config.SPIFFETrustDomain{tc.td: tc.c})
			err := c.Validate()
			if !config.Keys(err)[tc.key] {
				t.Fatalf("want an error for %s, got %v", tc.key, err)
			}
		})
	}
	c := base(map[string]config.SPIFFETrustDomain{"a.example": {BundleFile: "x"}})
	c.Federation.SPIFFE.RefreshMin, c.Federation.SPIFFE.RefreshMax = config.Duration(time.Hour), config.Duration(time.Minute)
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "refresh_min") {
		t.Fatalf("refresh bounds: %v", err)
	}
}
