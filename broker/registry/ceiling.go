package registry

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
)

// narrow fits a client's RFC 7592 §2.2 update c of the stored record held
// within the operator's ceiling g. §2.2 lets the server replace an omitted or
// invalid value with a default and return it; the default here is what the
// operator granted:
//
//   - fixed: token_endpoint_auth_method, the tls_client_auth_* match and
//     tls_client_auth_ca_sha256 — omitted means the granted value, another
//     value is refused (a client cannot switch how it authenticates);
//   - fixed for self_signed_tls_client_auth: jwks / jwks_uri, its certificate
//     (keepCertificate); a private_key_jwt client may rotate its keys;
//   - tls_client_certificate_bound_access_tokens and dpop_bound_access_tokens
//     stay true once granted so;
//   - scope, allowed_resources, default_audience, access_token_lifetime:
//     omitted means the granted value; a subset narrows; anything beyond the
//     grant is refused, and the grant stays, so a narrowed client can widen
//     back up to it later. A granted lifetime of 0 is the broker's default
//     (def, tokens.lifetime), not "no limit": the client may shorten it, never
//     lengthen it.
func narrow(c, held *backends.Client, g *backends.Ceiling, def time.Duration) error {
	if err := keepFixed(c, held, g); err != nil {
		return err
	}
	// RFC 8705 §3.4: a bound-token requirement the operator set stays.
	c.TLSClientCertificateBoundAccessTokens = c.TLSClientCertificateBoundAccessTokens || g.TLSClientCertificateBoundAccessTokens
	// RFC 9449 §5.2: so does a DPoP requirement.
	c.DPoPBoundAccessTokens = c.DPoPBoundAccessTokens || g.DPoPBoundAccessTokens
	return withinGrant(c, g, def)
}

// metadataErrorf is a MetadataError for field with a formatted reason.
func metadataErrorf(field, format string, args ...any) error {
	return &MetadataError{field, fmt.Sprintf(format, args...)}
}

// keepFixed holds c to what only the operator sets: the method, the
// certificate match, the CA pin and a self-signed client's certificate.
func keepFixed(c, held *backends.Client, g *backends.Ceiling) error {
	fixed := func(f string, v *string, granted string) error {
		if *v == "" {
			*v = granted
		}
		if *v != granted {
			return metadataErrorf(f, "set by the operator; a client cannot change it")
		}
		return nil
	}
	if err := fixed("token_endpoint_auth_method", &c.TokenEndpointAuthMethod, g.TokenEndpointAuthMethod); err != nil {
		return err
	}
	match := []*string{&c.TLSClientAuthSubjectDN, &c.TLSClientAuthSANDNS, &c.TLSClientAuthSANURI, &c.TLSClientAuthSANIP, &c.TLSClientAuthSANEmail}
	granted := []string{g.TLSClientAuthSubjectDN, g.TLSClientAuthSANDNS, g.TLSClientAuthSANURI, g.TLSClientAuthSANIP, g.TLSClientAuthSANEmail}
	names := []string{"tls_client_auth_subject_dn", "tls_client_auth_san_dns", "tls_client_auth_san_uri", "tls_client_auth_san_ip", "tls_client_auth_san_email"}
	if !slices.ContainsFunc(match, func(v *string) bool { return *v != "" }) {
		for i, v := range match {
			*v = granted[i] // RFC 8705 §2.1.2: the match omitted means the registered one
		}
	}
	for i, v := range match {
		if *v != granted[i] {
			return metadataErrorf(names[i], "set by the operator; a client cannot change its certificate match")
		}
	}
	if err := fixed("tls_client_auth_ca_sha256", &c.TLSClientAuthCASHA256, g.TLSClientAuthCASHA256); err != nil {
		return err
	}
	if g.TokenEndpointAuthMethod == backends.AuthSelfSignedTLSClient {
		return keepCertificate(c, held, g)
	}
	return nil
}

// withinGrant fits scope, allowed_resources, default_audience and
// access_token_lifetime within the grant: omitted means the granted value,
// a subset narrows, anything beyond is refused.
func withinGrant(c *backends.Client, g *backends.Ceiling, def time.Duration) error {
	grantedScopes := strings.Fields(g.Scope)
	if c.Scope == "" {
		c.Scope = g.Scope
	}
	for _, s := range strings.Fields(c.Scope) {
		if !slices.Contains(grantedScopes, s) {
			return metadataErrorf("scope", "%q is beyond the scope the operator granted", clipEcho(s, 64))
		}
	}
	if c.AllowedResources == nil {
		c.AllowedResources = slices.Clone(g.AllowedResources)
	}
	for _, r := range c.AllowedResources {
		if !slices.Contains(g.AllowedResources, r) {
			return metadataErrorf("allowed_resources", "%q is beyond the audiences the operator granted", clipEcho(r, 128))
		}
	}
	if c.DefaultAudience == "" {
		c.DefaultAudience = g.DefaultAudience
	}
	if a := c.DefaultAudience; a != "" && a != g.DefaultAudience && !slices.Contains(g.AllowedResources, a) {
		return metadataErrorf("default_audience", "%q is beyond the audiences the operator granted", clipEcho(a, 128))
	}
	if c.AccessTokenLifetime == 0 {
		c.AccessTokenLifetime = g.AccessTokenLifetime
	}
	maxLife := g.AccessTokenLifetime
	if maxLife == 0 {
		maxLife = int64(def / time.Second) // 0 granted the default lifetime
	}
	if c.AccessTokenLifetime > maxLife {
		return metadataErrorf("access_token_lifetime", "longer than the %d seconds the operator granted", maxLife)
	}
	return nil
}

// keepCertificate holds a self_signed_tls_client_auth client to the
// certificate the operator granted: RFC 8705 §2.2 makes the registered jwks
// or jwks_uri the match, so replacing it would let whoever holds the
// registration access token authenticate as the client with a certificate of
// its own. Omitted means the granted one; the same set sent back (however
// formatted) is accepted; anything else is refused. The stored value is what
// stays, never the client's bytes, and a stored value that is not the
// ceiling's (a direct backend write) refuses the update until the operator
// reconciles them.
func keepCertificate(c, held *backends.Client, g *backends.Ceiling) error {
	const why = "the certificate (RFC 8705 §2.2) is set by the operator; a client cannot change it"
	if len(c.JWKS) > 0 || c.JWKSURI != "" {
		if !g.GrantsKeys(c.JWKS, c.JWKSURI) {
			if len(c.JWKS) == 0 {
				return &MetadataError{"jwks_uri", why}
			}
			return &MetadataError{"jwks", why}
		}
	}
	if !g.GrantsKeys(held.JWKS, held.JWKSURI) {
		return &MetadataError{"jwks", "the registered certificate is not the one the operator granted; the operator must update the client"}
	}
	c.JWKS, c.JWKSURI = slices.Clone(held.JWKS), held.JWKSURI
	return nil
}

// clipEcho bounds attacker input echoed in an error description.
func clipEcho(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
