package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Federation is federation.*: federated issuers whose tokens authenticate
// clients (federated_jwt) and client templates for workload identities.
// Its lists are set in the file only (not from the environment).
type Federation struct {
	Issuers   []FederatedIssuer `yaml:"issuers"`
	Templates []ClientTemplate  `yaml:"templates"`
	// TemplateRefresh is how often the registered identities a template
	// must never match are re-read from the backend (default 1m).
	TemplateRefresh Duration `yaml:"template_refresh"`
	// SPIFFE: the SPIFFE trust domains (spiffe.go).
	SPIFFE SPIFFE `yaml:"spiffe"`
}

// FederatedIssuer is one entry of federation.issuers.
type FederatedIssuer struct {
	Issuer         string            `yaml:"issuer"`
	JWKSURI        string            `yaml:"jwks_uri"`
	JWKSFile       string            `yaml:"jwks_file"`
	Audience       string            `yaml:"audience"`
	MaxAge         Duration          `yaml:"max_age"`
	RequiredClaims map[string]string `yaml:"required_claims"`
	Algs           []string          `yaml:"algs"`
	AllowPrivate   bool              `yaml:"allow_private"`
	CAFile         string            `yaml:"ca_file"`
}

// ClientTemplate is one entry of federation.templates.
type ClientTemplate struct {
	Name                    string            `yaml:"name"`
	SPIFFEID                string            `yaml:"spiffe_id"`
	TokenEndpointAuthMethod string            `yaml:"token_endpoint_auth_method"`
	Issuer                  string            `yaml:"issuer"`
	Claims                  map[string]string `yaml:"claims"`
	Scope                   string            `yaml:"scope"`
	Audiences               []string          `yaml:"audiences"`
	Lifetime                Duration          `yaml:"lifetime"`
	BoundTokens             bool              `yaml:"bound_tokens"`
}

// DefaultFederatedMaxAge is federation.issuers[].max_age's default.
const DefaultFederatedMaxAge = time.Hour

// validateFederation checks what needs no library: the shapes. The
// libraries (authn/federation, authn/template) check patterns, overlaps and
// claim paths when the runtime builds them; those errors name these keys too.
func (c *Config) validateFederation() []error {
	var errs []error
	bad := func(key, format string, a ...any) { errs = append(errs, Errorf(key, format, a...)) }
	seen := map[string]bool{}
	for i := range c.Federation.Issuers {
		is := &c.Federation.Issuers[i]
		key := fmt.Sprintf("federation.issuers[%d]", i)
		u, err := url.Parse(is.Issuer)
		switch {
		case is.Issuer == "":
			bad(key+".issuer", "required")
		case err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || strings.Contains(is.Issuer, "#"):
			bad(key+".issuer", "%q must be an https URL without query or fragment", is.Issuer)
		case seen[is.Issuer]:
			bad(key+".issuer", "%q is configured twice", is.Issuer)
		}
		seen[is.Issuer] = true
		if is.JWKSURI != "" && !strings.HasPrefix(is.JWKSURI, "https://") {
			bad(key+".jwks_uri", "must be an https URL")
		}
		if is.JWKSURI != "" && is.JWKSFile != "" {
			bad(key+".jwks_file", "set jwks_uri or jwks_file, not both")
		}
		if is.Audience == "" {
			bad(key+".audience", "required (the broker's issuer is the usual value)")
		}
		if d := time.Duration(is.MaxAge); d < 0 || d > 24*time.Hour {
			bad(key+".max_age", "must be between 0 and 24h")
		}
	}
	if c.Federation.TemplateRefresh < 0 {
		bad("federation.template_refresh", "must not be negative")
	}
	return errs
}

// setDefaults fills federation.issuers[].max_age.
func (f *Federation) setDefaults() {
	for i := range f.Issuers {
		if f.Issuers[i].MaxAge == 0 {
			f.Issuers[i].MaxAge = Duration(DefaultFederatedMaxAge)
		}
	}
}
