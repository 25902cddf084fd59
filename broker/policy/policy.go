package policy

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/backends"
)

// DefaultLifetime is the access-token lifetime when the configuration sets none.
const DefaultLifetime = 5 * time.Minute

// HardMaxLifetime caps every access token, whatever the configuration says.
const HardMaxLifetime = 15 * time.Minute

// Policy is what the operator decides for every client: the audience of a
// request that names none, and the lifetimes.
type Policy struct {
	// DefaultAudience is the audience when neither the request nor the client names one.
	DefaultAudience string
	// Lifetime is a token's lifetime when the client registered none (0: DefaultLifetime).
	Lifetime time.Duration
	// MaxLifetime caps per-client lifetimes (0, or above HardMaxLifetime: HardMaxLifetime).
	MaxLifetime time.Duration
}

// Error is a refused request: Code is the OAuth error code (RFC 6749 §5.2,
// RFC 8707 §2), Description what the client may be told. Every refusal is a
// 400 at the token endpoint.
type Error struct {
	Code, Description string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func refuse(code, desc string) *Error { return &Error{code, desc} }

// Decide applies the policy to an authenticated client's request: the
// client_credentials grant is registered, scopes ⊆ registered (RFC 6749
// §3.3), each resource allowed (RFC 8707 §2), lifetime ≤ client max ≤
// configured max ≤ HardMaxLifetime, and the certificate binding (RFC 8705
// §3). A refusal is an *Error.
func (p Policy) Decide(res *authn.Result, scope string, resources []string) (*accesstoken.Grant, error) {
	c := res.Client
	grants := c.GrantTypes
	if len(grants) == 0 {
		grants = []string{backends.GrantClientCredentials}
	}
	if !slices.Contains(grants, backends.GrantClientCredentials) {
		return nil, refuse("unauthorized_client", "client is not registered for the client_credentials grant")
	}
	scopes, err := grantScopes(c, scope)
	if err != nil {
		return nil, err
	}
	aud, err := p.audience(c, resources)
	if err != nil {
		return nil, err
	}
	g := &accesstoken.Grant{ClientID: c.ClientID, Scopes: scopes, Audience: aud, Lifetime: p.lifetime(c)}
	switch {
	case c.UsesMTLS():
		// RFC 8705 §3: tokens for mTLS-authenticated clients are always bound.
		g.X5tS256 = res.Certificate.Thumbprint
	case c.TLSClientCertificateBoundAccessTokens:
		if res.Certificate == nil {
			return nil, refuse("invalid_request", "this client requires a TLS client certificate for certificate-bound tokens")
		}
		g.X5tS256 = res.Certificate.Thumbprint
	}
	return g, nil
}

// lifetime is the client's registered lifetime, else the default, capped.
func (p Policy) lifetime(c *backends.Client) time.Duration {
	life := p.Lifetime
	if life == 0 {
		life = DefaultLifetime
	}
	if c.AccessTokenLifetime > 0 {
		life = time.Duration(c.AccessTokenLifetime) * time.Second
	}
	maxLife := p.MaxLifetime
	if maxLife == 0 {
		maxLife = HardMaxLifetime
	}
	return min(life, maxLife, HardMaxLifetime)
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
		if !ValidScopeToken(s) {
			return nil, refuse("invalid_scope", "malformed scope")
		}
		if !slices.Contains(registered, s) {
			return nil, refuse("invalid_scope", "requested scope is not registered for this client")
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// audience: RFC 8707 §2. Each resource must be allowed for the client;
// none → the client's default audience, else the configured default.
func (p Policy) audience(c *backends.Client, resources []string) ([]string, error) {
	if len(resources) == 0 {
		switch {
		case c.DefaultAudience != "":
			return []string{c.DefaultAudience}, nil
		case p.DefaultAudience != "":
			return []string{p.DefaultAudience}, nil
		}
		return nil, refuse("invalid_target", "no resource requested and no default audience configured")
	}
	out := make([]string, 0, len(resources))
	for _, r := range resources {
		if ValidateResource(r) != nil {
			return nil, refuse("invalid_target", "resource must be an absolute URI without a fragment")
		}
		if !slices.Contains(c.AllowedResources, r) {
			return nil, refuse("invalid_target", "resource is not allowed for this client")
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// ValidScopeToken reports whether s is an RFC 6749 §3.3 scope-token
// (1*( %x21 / %x23-5B / %x5D-7E )) of at most 256 bytes.
func ValidScopeToken(s string) bool {
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

// ValidateResource checks an RFC 8707 §2 resource indicator: an absolute
// URI with no fragment, at most 2048 bytes.
func ValidateResource(r string) error {
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
