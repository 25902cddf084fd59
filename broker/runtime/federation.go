package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/federation"
	"github.com/tokenbroker/tokenbroker/authn/template"
	"github.com/tokenbroker/tokenbroker/broker/policy"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// federationTemplates builds federation.templates (no I/O: the dry run
// reports bad patterns and overlaps too). Nil when none are configured.
func federationTemplates(fc *config.Config) (*template.Set, error) {
	if len(fc.Federation.Templates) == 0 {
		return nil, nil
	}
	ts := make([]template.Template, len(fc.Federation.Templates))
	for i, c := range fc.Federation.Templates {
		ts[i] = template.Template{
			Name: c.Name, SPIFFEID: c.SPIFFEID, Method: c.TokenEndpointAuthMethod, Issuer: c.Issuer, Claims: c.Claims,
			Scope: strings.Fields(c.Scope), Audiences: c.Audiences, Lifetime: time.Duration(c.Lifetime), BoundTokens: c.BoundTokens,
		}
	}
	var errs []error
	for i, c := range fc.Federation.Templates {
		key := fmt.Sprintf("federation.templates[%d]", i)
		for _, sc := range strings.Fields(c.Scope) {
			if !policy.ValidScopeToken(sc) {
				errs = append(errs, config.Errorf(key+".scope", "%q is not a scope token (RFC 6749 §3.3)", sc))
			} else if len(fc.ScopesSupported) > 0 && !slices.Contains(fc.ScopesSupported, sc) {
				errs = append(errs, config.Errorf(key+".scope", "%q is not in scopes_supported", sc))
			}
		}
		for _, a := range c.Audiences {
			if err := policy.ValidateResource(a); err != nil {
				errs = append(errs, config.Errorf(key+".audiences", "%q: %w", a, err))
			}
		}
		if c.Issuer != "" && !slices.ContainsFunc(fc.Federation.Issuers, func(is config.FederatedIssuer) bool { return is.Issuer == c.Issuer }) {
			errs = append(errs, config.Errorf(key+".issuer", "%q is not one of federation.issuers", c.Issuer))
		}
		if c.Lifetime != 0 && (time.Duration(c.Lifetime) < 10*time.Second || time.Duration(c.Lifetime) > policy.HardMaxLifetime) {
			errs = append(errs, config.Errorf(key+".lifetime", "must be between 10s and %s", policy.HardMaxLifetime))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	set, err := template.New(ts)
	if err != nil {
		var out []error
		for _, e := range unjoin(err) {
			var fe *template.FieldError
			if errors.As(e, &fe) {
				out = append(out, config.Errorf(fmt.Sprintf("federation.templates[%d].%s", fe.Index, fe.Field), "%w", fe.Err))
			} else {
				out = append(out, config.Errorf("federation.templates", "%w", e))
			}
		}
		return nil, errors.Join(out...)
	}
	return set, nil
}

// loadFederation adds the federated_jwt method (federation.issuers) and
// the client templates' source (federation.templates). Both are the
// configuration's: a reload rebuilds them (no state of theirs must outlive
// it — federated tokens are not single-use, and the JWKS caches refill).
// Called last in load: a SPIFFE template must name a method already built.
func (w *wiring) loadFederation(ctx context.Context) error {
	fc := w.fc
	set, err := federationTemplates(fc)
	if err != nil {
		return err
	}
	if set == nil && len(fc.Federation.Issuers) == 0 {
		return nil
	}
	var index *template.Index
	if set != nil {
		names := make([]string, 0, len(w.cfg.Methods)+1)
		for _, m := range w.cfg.Methods {
			names = append(names, m.Name())
		}
		for i, t := range set.Templates() {
			if t.IsSPIFFE() && !slices.Contains(names, t.Method) {
				return config.Errorf(fmt.Sprintf("federation.templates[%d].token_endpoint_auth_method", i), "%q is not a method this broker offers", t.Method)
			}
		}
		index, err = template.NewIndex(ctx, set, w.store, w.log, time.Duration(fc.Federation.TemplateRefresh))
		if err != nil {
			return config.Errorf("federation.templates", "%w", err)
		}
		w.closers = append(w.closers, index)
		// A SPIFFE ID a template matches is the operator's to register: a
		// self-registered client naming it as its tls_client_auth_san_uri
		// would hold it (template.Identities) and cut the workload off its
		// template (review revfed).
		w.cfg.ReservedSANURI = func(uri string) bool {
			_, ok := set.MatchSPIFFE(uri)
			return strings.HasPrefix(uri, "spiffe://") && ok
		}
		// Around whatever already wraps the cache (a SPIFFE ID → registered
		// client mapping answers first: registered clients win).
		prev := w.cfg.WrapClients
		w.cfg.WrapClients = func(inner authn.ClientSource) authn.ClientSource {
			if prev != nil {
				inner = prev(inner)
			}
			return template.NewSource(inner, set, index)
		}
	}
	if len(fc.Federation.Issuers) == 0 {
		return nil
	}
	cfg := federation.Config{Templates: set, Index: index, Skew: time.Duration(fc.Assertions.ClockSkew), MaxSize: fc.Assertions.MaxSize}
	var errs []error
	for i, is := range fc.Federation.Issuers {
		ic := federation.IssuerConfig{
			Issuer: is.Issuer, JWKSURI: is.JWKSURI, Audience: is.Audience, MaxAge: time.Duration(is.MaxAge),
			RequiredClaims: is.RequiredClaims, AllowPrivate: is.AllowPrivate, Timeout: time.Duration(fc.JWKSURI.Timeout),
		}
		for _, a := range is.Algs {
			ic.Algs = append(ic.Algs, jose.SignatureAlgorithm(a))
		}
		if is.JWKSFile != "" {
			b, err := config.ReadLimited(is.JWKSFile, 64<<10)
			if err != nil {
				errs = append(errs, config.Errorf(fmt.Sprintf("federation.issuers[%d].jwks_file", i), "%w", err))
			}
			ic.JWKS = b
		}
		if is.CAFile != "" {
			pool, err := loadPool([]string{is.CAFile})
			if err != nil {
				errs = append(errs, config.Errorf(fmt.Sprintf("federation.issuers[%d].ca_file", i), "%w", err))
			}
			ic.RootCAs = pool
		}
		cfg.Issuers = append(cfg.Issuers, ic)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	m, err := federation.New(cfg)
	if err != nil {
		return config.Errorf("federation", "%w", err)
	}
	w.cfg.Methods = append(w.cfg.Methods, m)
	return nil
}
