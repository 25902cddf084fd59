package broker

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/backends"
)

// decide applies the broker's policy to an authenticated client's request:
// the grant type is registered, scopes ⊆ registered, each resource allowed,
// lifetime ≤ client max ≤ global max, and the certificate binding.
func (s *Server) decide(res *authn.Result, scope string, resources []string) (*accesstoken.Grant, error) {
	c := res.Client
	grants := c.GrantTypes
	if len(grants) == 0 {
		grants = []string{backends.GrantClientCredentials}
	}
	if !slices.Contains(grants, backends.GrantClientCredentials) {
		return nil, oauthErr(http.StatusBadRequest, "unauthorized_client", "client is not registered for the client_credentials grant", nil)
	}
	scopes, err := grantScopes(c, scope)
	if err != nil {
		return nil, err
	}
	aud, err := s.audience(c, resources)
	if err != nil {
		return nil, err
	}
	life := s.cfg.TokenLifetime
	if c.AccessTokenLifetime > 0 {
		life = time.Duration(c.AccessTokenLifetime) * time.Second
	}
	life = min(life, s.cfg.MaxTokenLifetime, HardMaxTokenLifetime)
	g := &accesstoken.Grant{ClientID: c.ClientID, Scopes: scopes, Audience: aud, Lifetime: life}
	switch {
	case c.UsesMTLS():
		// RFC 8705 §3: tokens for mTLS-authenticated clients are always bound.
		g.X5tS256 = res.Certificate.Thumbprint
	case c.TLSClientCertificateBoundAccessTokens:
		if res.Certificate == nil {
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", "this client requires a TLS client certificate for certificate-bound tokens", nil)
		}
		g.X5tS256 = res.Certificate.Thumbprint
	}
	return g, nil
}

// grantScopes: RFC 6749 §3.3. Omitted → the registered scope; otherwise
// every requested scope must be registered.
func grantScopes(c *backends.Client, scope string) ([]string, error) {
	registered := c.Scopes()
	if scope == "" {
		return registered, nil
	}
	req := strings.Split(scope, " ")
	out := make([]string, 0, len(req))
	for _, s := range req {
		if !validScopeToken(s) {
			return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "malformed scope", nil)
		}
		if !slices.Contains(registered, s) {
			return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "requested scope is not registered for this client", nil)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// audience: RFC 8707 §2. Each resource must be allowed for the client;
// none → the client's default audience, else the configured default.
func (s *Server) audience(c *backends.Client, resources []string) ([]string, error) {
	if len(resources) == 0 {
		switch {
		case c.DefaultAudience != "":
			return []string{c.DefaultAudience}, nil
		case s.cfg.DefaultAudience != "":
			return []string{s.cfg.DefaultAudience}, nil
		}
		return nil, oauthErr(http.StatusBadRequest, "invalid_target", "no resource requested and no default audience configured", nil)
	}
	out := make([]string, 0, len(resources))
	for _, r := range resources {
		if validateResource(r) != nil {
			return nil, oauthErr(http.StatusBadRequest, "invalid_target", "resource must be an absolute URI without a fragment", nil)
		}
		if !slices.Contains(c.AllowedResources, r) {
			return nil, oauthErr(http.StatusBadRequest, "invalid_target", "resource is not allowed for this client", nil)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// validScopeToken: RFC 6749 §3.3 scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < 0x21 || ch == 0x22 || ch == 0x5C || ch > 0x7E {
			return false
		}
	}
	return true
}

// validateResource: RFC 8707 §2, an absolute URI with no fragment.
func validateResource(r string) error {
	u, err := url.Parse(r)
	switch {
	case err != nil:
		return err
	case !u.IsAbs():
		return errors.New("not an absolute URI")
	case u.Fragment != "" || strings.Contains(r, "#"):
		return errors.New("has a fragment")
	case len(r) > 2048:
		return errors.New("longer than 2048 characters")
	}
	return nil
}
