package registry

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker/policy"
)

// Validate checks client metadata (RFC 7591 §2, RFC 8705 §2.1.2, our fields).
func (r *Registry) Validate(c *backends.Client) error {
	if !backends.ValidClientID(c.ClientID) {
		return bad("client_id", "must be 1-128 characters of A-Z a-z 0-9 - . _ ~")
	}
	if !slices.Contains(r.cfg.Methods, c.TokenEndpointAuthMethod) {
		return bad("token_endpoint_auth_method", fmt.Sprintf("must be one of %v", r.cfg.Methods))
	}
	for _, g := range c.GrantTypes {
		if g != backends.GrantClientCredentials {
			return bad("grant_types", "only client_credentials can be registered")
		}
	}
	if len(c.ResponseTypes) > 0 {
		return bad("response_types", "this server has no authorization endpoint; leave response_types empty")
	}
	if len(c.ClientName) > 256 {
		return bad("client_name", "longer than 256 characters")
	}
	if len(c.Scope) > 4096 {
		return bad("scope", "longer than 4096 characters")
	}
	for _, s := range strings.Fields(c.Scope) {
		if !policy.ValidScopeToken(s) {
			return bad("scope", fmt.Sprintf("%q is not a valid scope token", s))
		}
		if len(r.cfg.ScopesSupported) > 0 && !slices.Contains(r.cfg.ScopesSupported, s) {
			return bad("scope", fmt.Sprintf("%q is not a supported scope", s))
		}
	}
	if err := c.Check(); err != nil {
		return metadataErr(err)
	}
	if len(c.AllowedResources) > 64 {
		return bad("allowed_resources", "more than 64 entries")
	}
	for _, res := range c.AllowedResources {
		if err := policy.ValidateResource(res); err != nil {
			return bad("allowed_resources", fmt.Sprintf("%q: %v", res, err))
		}
	}
	if c.DefaultAudience != "" {
		if err := policy.ValidateResource(c.DefaultAudience); err != nil {
			return bad("default_audience", err.Error())
		}
	}
	if c.AccessTokenLifetime < 0 || time.Duration(c.AccessTokenLifetime)*time.Second > r.cfg.MaxLifetime {
		return bad("access_token_lifetime", fmt.Sprintf("must be between 0 and %d seconds", int(r.cfg.MaxLifetime.Seconds())))
	}
	if err := validateKeys(c); err != nil {
		return err
	}
	if m := c.TokenEndpointAuthMethod; m == backends.AuthSPIFFEX509 || m == backends.AuthSPIFFEJWT {
		// The workload is found by its SPIFFE ID: a SPIFFE client is stored
		// under that ID's key (docs/federation.md), never a generated client_id.
		if _, err := spiffe.IDFromClientKey(c.ClientID); err != nil {
			return bad("client_id", m+" clients are registered under their SPIFFE ID's key, spiffe~TRUST_DOMAIN~PATH")
		}
	}
	if m := c.TokenEndpointAuthMethod; !spiffe.IsMethod(m) && strings.HasPrefix(c.ClientID, "spiffe~") {
		// The key space is the SPIFFE methods' alone: a SPIFFE ID finds the
		// record under its key (spiffe.Clients), so a static-CA certificate
		// or a secret there would authenticate as the workload (review revspiffe).
		return bad("client_id", "spiffe~ client_ids are reserved for spiffe_x509 and spiffe_jwt clients")
	}
	if err := validateFederated(c); err != nil {
		return err
	}
	// A token carries one binding (docs/dpop.md, "Which binding"): a client
	// cannot require both (RFC 8705 §3.4, RFC 9449 §5.2).
	if c.DPoPBoundAccessTokens && c.TLSClientCertificateBoundAccessTokens {
		return bad("dpop_bound_access_tokens", "cannot be true together with tls_client_certificate_bound_access_tokens: a token has one binding")
	}
	return validateTLSFields(c)
}

func validateKeys(c *backends.Client) error {
	if len(c.JWKS) > 0 && c.JWKSURI != "" {
		return bad("jwks", "jwks and jwks_uri must not both be present (RFC 7591 §2)")
	}
	if len(c.JWKS) > 64<<10 {
		return bad("jwks", "larger than 64 KiB")
	}
	if len(c.JWKS) > 0 {
		// At most authn.MaxClientKeys keys, each with a kid when there are
		// several: the rule authentication enforces, refused here up front.
		if err := authn.CheckClientJWKS(c.JWKS); err != nil {
			return bad("jwks", err.Error())
		}
	}
	if c.JWKSURI != "" {
		u, err := url.Parse(c.JWKSURI)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.Fragment != "" {
			return bad("jwks_uri", "must be an https URL")
		}
	}
	if c.TokenEndpointAuthMethod == backends.AuthPrivateKeyJWT && len(c.JWKS) == 0 && c.JWKSURI == "" {
		return bad("jwks", "private_key_jwt needs jwks or jwks_uri")
	}
	if c.TokenEndpointAuthMethod == backends.AuthSelfSignedTLSClient && len(c.JWKS) == 0 && c.JWKSURI == "" {
		return bad("jwks", "self_signed_tls_client_auth needs jwks or jwks_uri holding the certificate (RFC 8705 §2.2.2)")
	}
	if c.TokenEndpointAuthSigningAlg != "" && !slices.Contains(authn.AssertionAlgs, jose.SignatureAlgorithm(c.TokenEndpointAuthSigningAlg)) {
		return bad("token_endpoint_auth_signing_alg", fmt.Sprintf("must be one of %v", authn.AssertionAlgs))
	}
	return nil
}

func validateTLSFields(c *backends.Client) error {
	set := 0
	for _, v := range []string{c.TLSClientAuthSubjectDN, c.TLSClientAuthSANDNS, c.TLSClientAuthSANURI, c.TLSClientAuthSANIP, c.TLSClientAuthSANEmail} {
		if v != "" {
			set++
		}
	}
	if c.TokenEndpointAuthMethod == backends.AuthTLSClient && set != 1 {
		// RFC 8705 §2.1.2: exactly one of the parameters.
		return bad("tls_client_auth_subject_dn", "tls_client_auth needs exactly one of tls_client_auth_subject_dn, _san_dns, _san_uri, _san_ip, _san_email")
	}
	if c.TokenEndpointAuthMethod != backends.AuthTLSClient && set > 0 {
		return bad("tls_client_auth_subject_dn", "tls_client_auth_* fields apply only to tls_client_auth")
	}
	if c.TLSClientAuthSANIP != "" && net.ParseIP(c.TLSClientAuthSANIP) == nil {
		return bad("tls_client_auth_san_ip", "not an IP address")
	}
	if c.TLSClientAuthSANEmail != "" {
		if a, err := mail.ParseAddress(c.TLSClientAuthSANEmail); err != nil || a.Address != c.TLSClientAuthSANEmail {
			return bad("tls_client_auth_san_email", "not an email address")
		}
	}
	if c.TLSClientAuthSANURI != "" {
		if u, err := url.Parse(c.TLSClientAuthSANURI); err != nil || !u.IsAbs() {
			return bad("tls_client_auth_san_uri", "not an absolute URI")
		}
	}
	if h := c.TLSClientAuthCASHA256; h != "" {
		if len(strings.ReplaceAll(h, ":", "")) != 64 {
			return bad("tls_client_auth_ca_sha256", "must be the hex SHA-256 of the CA certificate")
		}
	}
	return nil
}

// bad is the MetadataError for field f.
func bad(f, why string) error { return &MetadataError{f, why} }

// validateFederated: a federated_jwt client names exactly the one external
// identity it accepts; no other method carries one.
func validateFederated(c *backends.Client) error {
	switch {
	case c.TokenEndpointAuthMethod == backends.AuthFederatedJWT && c.FederatedSubject == nil:
		return bad("federated_subject", "federated_jwt needs federated_subject {iss, sub}")
	case c.TokenEndpointAuthMethod != backends.AuthFederatedJWT && c.FederatedSubject != nil:
		return bad("federated_subject", "applies only to federated_jwt")
	case c.FederatedSubject != nil:
		if err := c.FederatedSubject.Check(); err != nil {
			return metadataErr(err)
		}
	}
	return nil
}
