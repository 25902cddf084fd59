package template

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
)

// MaxTemplates bounds a Set: matching is a scan.
const MaxTemplates = 1000

// Template is one operator-configured client template: the workloads it
// matches — a SPIFFE ID pattern, or a federated issuer and patterns over the
// claims of its verified tokens — and what a matching workload is granted.
type Template struct {
	// Name identifies the template in audit events and logs.
	Name string
	// SPIFFEID is a SPIFFE ID pattern (ParseSPIFFEPattern). Set it, or
	// Issuer and Claims, not both.
	SPIFFEID string
	// Method is the token_endpoint_auth_method of a SPIFFE template's
	// workloads (an X.509-SVID or JWT-SVID method name): exactly one, like
	// any client's. Federated templates use backends.AuthFederatedJWT.
	Method string
	// Issuer is a configured federated issuer; Claims maps claim paths
	// (federation.Claims.Lookup) to exact-segment globs (ParsePattern), at
	// least one. A token matches when every named claim is a string that
	// matches its pattern.
	Issuer string
	Claims map[string]string
	// Scope is granted (RFC 6749 §3.3 scope-tokens).
	Scope []string
	// Audiences are the resources a workload may ask for (RFC 8707); the
	// first is the default audience.
	Audiences []string
	// Lifetime of the tokens (0: the broker default).
	Lifetime time.Duration
	// BoundTokens requires certificate-bound tokens (RFC 8705 §3): the
	// request must present a TLS client certificate.
	BoundTokens bool

	spiffe SPIFFEPattern
	claims []claimPattern // sorted by path
}

type claimPattern struct {
	path string
	p    Pattern
}

// IsSPIFFE reports whether t matches SPIFFE IDs (else federated claims).
func (t *Template) IsSPIFFE() bool { return t.SPIFFEID != "" }

// Set is a validated collection of templates, no two of which overlap.
type Set struct {
	ts []*Template
}

// ClaimSource is a verified token's claims (federation.Claims).
type ClaimSource interface {
	Lookup(path string) (string, bool)
}

// FieldError names the template and field a configuration error is about.
type FieldError struct {
	Index int
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("templates[%d].%s: %v", e.Index, e.Field, e.Err)
}
func (e *FieldError) Unwrap() error { return e.Err }

// New validates ts and returns a Set. Refused: a template without a name or
// with a name used twice, with both or neither kind of pattern, a bad
// pattern, no scope or no audience, and any two templates that overlap —
// that can match the same workload identity (Overlap).
func New(ts []Template) (*Set, error) {
	if len(ts) > MaxTemplates {
		return nil, fmt.Errorf("more than %d templates", MaxTemplates)
	}
	s := &Set{}
	var errs []error
	names := map[string]bool{}
	for i := range ts {
		t := ts[i]
		t.Claims = maps(t.Claims)
		t.Scope, t.Audiences = slices.Clone(t.Scope), slices.Clone(t.Audiences)
		bad := func(field, format string, a ...any) {
			errs = append(errs, &FieldError{i, field, fmt.Errorf(format, a...)})
		}
		switch {
		case t.Name == "" || len(t.Name) > 128 || strings.ContainsFunc(t.Name, func(r rune) bool { return r < 0x21 || r > 0x7e }):
			bad("name", "required: 1-128 printable ASCII characters")
		case names[t.Name]:
			bad("name", "%q is used by another template", t.Name)
		}
		names[t.Name] = true
		switch {
		case t.SPIFFEID != "" && (t.Issuer != "" || len(t.Claims) > 0):
			bad("spiffe_id", "a template matches a SPIFFE ID or federated claims (issuer, claims), not both")
		case t.SPIFFEID != "":
			p, err := ParseSPIFFEPattern(t.SPIFFEID)
			if err != nil {
				bad("spiffe_id", "%w", err)
			}
			t.spiffe = p
			// Only a SPIFFE method authenticates a workload by its SPIFFE ID;
			// any other would fail closed on every request (no certificate
			// attributes, secret or key in a template), so it is a
			// configuration error, not a template that never works.
			if t.Method != backends.AuthSPIFFEX509 && t.Method != backends.AuthSPIFFEJWT {
				bad("token_endpoint_auth_method", "a SPIFFE template's workloads use %s or %s", backends.AuthSPIFFEX509, backends.AuthSPIFFEJWT)
			}
		case t.Issuer == "":
			bad("issuer", "required (or spiffe_id)")
		case len(t.Claims) == 0:
			bad("claims", "at least one claim pattern (a template never matches a whole issuer)")
		default:
			if t.Method != "" && t.Method != backends.AuthFederatedJWT {
				bad("token_endpoint_auth_method", "a federated template's workloads use %s", backends.AuthFederatedJWT)
			}
			t.Method = backends.AuthFederatedJWT
			for path, pat := range t.Claims {
				if err := ValidClaimPath(path); err != nil {
					bad("claims", "%w", err)
					continue
				}
				p, err := ParsePattern(pat)
				if err != nil {
					bad("claims", "%s: %w", path, err)
					continue
				}
				t.claims = append(t.claims, claimPattern{path, p})
			}
			sort.Slice(t.claims, func(a, b int) bool { return t.claims[a].path < t.claims[b].path })
		}
		if len(t.Scope) == 0 {
			bad("scope", "at least one scope")
		}
		if len(t.Audiences) == 0 {
			bad("audiences", "at least one audience")
		}
		if t.Lifetime < 0 {
			bad("lifetime", "must not be negative")
		}
		s.ts = append(s.ts, &t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for i, a := range s.ts {
		for _, b := range s.ts[:i] {
			if Overlap(a, b) {
				errs = append(errs, &FieldError{i, "name", fmt.Errorf("template %q overlaps template %q: some workload identity matches both", a.Name, b.Name)})
			}
		}
	}
	return s, errors.Join(errs...)
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ValidClaimPath checks a claim path: 1–MaxClaimPath bytes of printable
// ASCII, no empty step (no leading, trailing or doubled ".").
func ValidClaimPath(p string) error {
	switch {
	case p == "" || len(p) > 256:
		return fmt.Errorf("claim path %.64q: 1-256 characters", p)
	case strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, ".."):
		return fmt.Errorf("claim path %.64q has an empty step", p)
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x21 || r > 0x7e }):
		return fmt.Errorf("claim path %.64q: printable ASCII only", p)
	}
	return nil
}

// Overlap reports whether a and b can match the same workload identity:
// two SPIFFE templates whose patterns overlap; or two federated templates
// of the same issuer where every claim both constrain has overlapping
// patterns (a claim only one of them names leaves the other unconstrained,
// so a token can satisfy both). A SPIFFE and a federated template never do.
func Overlap(a, b *Template) bool {
	switch {
	case a.IsSPIFFE() != b.IsSPIFFE():
		return false
	case a.IsSPIFFE():
		return a.spiffe.Overlaps(b.spiffe)
	case a.Issuer != b.Issuer:
		return false
	}
	for _, ca := range a.claims {
		for _, cb := range b.claims {
			if ca.path == cb.path && !ca.p.Overlaps(cb.p) {
				return false
			}
		}
	}
	return true
}

// MatchSPIFFE returns the template matching SPIFFE ID id (at most one: no
// two overlap).
func (s *Set) MatchSPIFFE(id string) (*Template, bool) {
	for _, t := range s.ts {
		if t.IsSPIFFE() && t.spiffe.Match(id) {
			return t, true
		}
	}
	return nil, false
}

// MatchClaims returns the federated template of issuer iss whose every
// claim pattern matches the verified claims.
func (s *Set) MatchClaims(iss string, claims ClaimSource) (*Template, bool) {
	for _, t := range s.ts {
		if t.IsSPIFFE() || t.Issuer != iss {
			continue
		}
		ok := true
		for _, c := range t.claims {
			v, found := claims.Lookup(c.path)
			if !found || !c.p.Match(v) {
				ok = false
				break
			}
		}
		if ok {
			return t, true
		}
	}
	return nil, false
}

// Issuers are the federated issuers the templates name.
func (s *Set) Issuers() []string {
	var out []string
	for _, t := range s.ts {
		if !t.IsSPIFFE() && !slices.Contains(out, t.Issuer) {
			out = append(out, t.Issuer)
		}
	}
	return out
}

// Templates returns the templates (read-only).
func (s *Set) Templates() []*Template { return s.ts }

// FederatedIdentity is a federated workload's identity, its token's client_id
// and sub: iss "#" sub. OIDC Core §2 makes only the pair unique, and an
// issuer identifier has no fragment (OIDC Discovery §3), so the first "#"
// splits it back without ambiguity.
func FederatedIdentity(iss, sub string) string { return iss + "#" + sub }

// Identities are the workload identities a registered client holds: its
// SPIFFE ID (a tls_client_auth_san_uri in the spiffe scheme, or the client_id
// of a registered SPIFFE client) and its federated subject. A template that could match one of them is ambiguous.
func Identities(c *backends.Client) []string {
	var out []string
	if strings.HasPrefix(c.TLSClientAuthSANURI, spiffeScheme) {
		out = append(out, c.TLSClientAuthSANURI)
	}
	// A registered SPIFFE client (spiffe_x509 / spiffe_jwt) is stored under
	// the client_id authn/spiffe's ClientKey makes of its SPIFFE ID:
	// spiffe://td/a/b → spiffe~td~a~b ("~" is in neither the trust domain
	// nor the path alphabet, SPIFFE-ID §2, so the mapping reverses).
	if rest, ok := strings.CutPrefix(c.ClientID, "spiffe~"); ok && strings.Contains(rest, "~") {
		out = append(out, spiffeScheme+strings.ReplaceAll(rest, "~", "/"))
	}
	if fs := c.FederatedSubject; fs != nil {
		out = append(out, FederatedIdentity(fs.Issuer, fs.Subject))
	}
	return out
}

// Conflict returns the template that could match the registered identity
// id (Identities): a SPIFFE template whose pattern matches it; a federated
// template of its issuer whose sub pattern matches it or that has none (its
// other claims are unknown until a token comes, so it can).
func (s *Set) Conflict(id string) (*Template, bool) {
	if strings.HasPrefix(id, spiffeScheme) {
		return s.MatchSPIFFE(id)
	}
	iss, sub, ok := strings.Cut(id, "#")
	if !ok {
		return nil, false
	}
	for _, t := range s.ts {
		if t.IsSPIFFE() || t.Issuer != iss {
			continue
		}
		if p, named := t.pattern("sub"); !named || p.Match(sub) {
			return t, true
		}
	}
	return nil, false
}

func (t *Template) pattern(path string) (Pattern, bool) {
	for _, c := range t.claims {
		if c.path == path {
			return c.p, true
		}
	}
	return Pattern{}, false
}

// Entry synthesizes the client a workload with identity id gets from t:
// client_id = id, the template's method, scope, audiences, lifetime and
// bound-token requirement, no secrets, Template = t.Name.
func (t *Template) Entry(id string) *backends.ClientEntry {
	c := &backends.Client{
		ClientID:                              id,
		ClientName:                            "template " + t.Name,
		TokenEndpointAuthMethod:               t.Method,
		GrantTypes:                            []string{backends.GrantClientCredentials},
		Scope:                                 strings.Join(t.Scope, " "),
		AllowedResources:                      slices.Clone(t.Audiences),
		DefaultAudience:                       t.Audiences[0],
		AccessTokenLifetime:                   int64(t.Lifetime / time.Second),
		TLSClientCertificateBoundAccessTokens: t.BoundTokens,
	}
	return &backends.ClientEntry{Client: c, Secrets: &backends.SecretSet{}, Template: t.Name}
}
