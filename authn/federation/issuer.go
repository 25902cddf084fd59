package federation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/authn"
)

// DefaultMaxAge is the default of IssuerConfig.MaxAge.
const DefaultMaxAge = time.Hour

// Discovery document cache bounds: kept this long after a good fetch,
// a failed refetch retried no sooner than discoveryRetry (the last good
// jwks_uri serves meanwhile).
const (
	discoveryTTL   = time.Hour
	discoveryRetry = 30 * time.Second
)

// IssuerConfig is one federated issuer, as the operator configures it.
type IssuerConfig struct {
	// Issuer is the issuer identifier: tokens' iss must equal it exactly
	// (an https URL without query or fragment, OIDC Discovery §3).
	Issuer string
	// JWKSURI is where its keys are. Empty: discovered from
	// Issuer + "/.well-known/openid-configuration" (OIDC Discovery §4).
	JWKSURI string
	// JWKS, when set, is the issuer's key set itself (a JWK Set document,
	// e.g. saved from a cluster whose issuer the broker cannot reach:
	// kubectl get --raw /openid/v1/jwks); nothing is fetched.
	JWKS []byte
	// Audience is required among the token's aud values (RFC 7519 §4.1.3).
	Audience string
	// MaxAge bounds now − iat (default DefaultMaxAge): the replay window of
	// a platform token, which is reusable until it expires.
	MaxAge time.Duration
	// RequiredClaims maps claim paths (Claims.Lookup) to the exact string
	// value every token must hold, e.g. "kubernetes.io.namespace": "prod".
	RequiredClaims map[string]string
	// Algs allows signature algorithms (default: all of authn.AssertionAlgs;
	// never HMAC or none).
	Algs []jose.SignatureAlgorithm
	// AllowPrivate lets this issuer's discovery and JWKS fetches reach
	// loopback, private and link-local addresses (an in-cluster API
	// server); every other issuer stays behind the SSRF guard.
	AllowPrivate bool
	// Timeout bounds each fetch (default 5s).
	Timeout time.Duration
	// RootCAs overrides the system roots for this issuer's fetches (a
	// cluster CA; tests).
	RootCAs *x509.CertPool
}

// issuer is a configured issuer at run time.
type issuer struct {
	cfg     IssuerConfig
	fetcher *authn.JWKSFetcher
	static  []jose.JSONWebKey // parsed JWKS, when configured

	mu       sync.Mutex
	jwksURI  string // discovered, last good
	fetched  time.Time
	failedAt time.Time
	lastErr  error
}

func newIssuer(cfg IssuerConfig) (*issuer, error) {
	if err := validateIssuerURL(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	if cfg.JWKSURI != "" {
		if u, err := url.Parse(cfg.JWKSURI); err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, errors.New("jwks_uri: must be an https URL")
		}
	}
	if cfg.Audience == "" {
		return nil, errors.New("audience: required")
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxAge < 0 || cfg.MaxAge > 24*time.Hour {
		return nil, errors.New("max_age: must be between 0 and 24h")
	}
	if len(cfg.Algs) == 0 {
		cfg.Algs = slices.Clone(authn.AssertionAlgs)
	}
	for _, a := range cfg.Algs {
		if !slices.Contains(authn.AssertionAlgs, a) {
			return nil, fmt.Errorf("algs: %q is not one of %v", a, authn.AssertionAlgs)
		}
	}
	for path := range cfg.RequiredClaims {
		if path == "" || len(path) > MaxClaimPath || strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..") {
			return nil, fmt.Errorf("required_claims: %.64q is not a claim path", path)
		}
	}
	is := &issuer{cfg: cfg}
	switch {
	case len(cfg.JWKS) > 0 && cfg.JWKSURI != "":
		return nil, errors.New("jwks: set jwks or jwks_uri, not both")
	case len(cfg.JWKS) > 0:
		keys, err := authn.ParsePublicJWKS(cfg.JWKS)
		if err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		is.static = keys
	default:
		is.fetcher = authn.NewJWKSFetcher(authn.FetcherOptions{AllowPrivate: cfg.AllowPrivate, Timeout: cfg.Timeout, RootCAs: cfg.RootCAs, MaxEntries: 16})
	}
	return is, nil
}

func validateIssuerURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return errors.New("required")
	case err != nil || u.Scheme != "https" || u.Host == "":
		return errors.New("must be an https URL")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.Contains(s, "#"):
		return errors.New("must have no query, fragment or user info (OIDC Discovery §3)")
	case len(s) > 256:
		return errors.New("longer than 256 characters")
	}
	return nil
}

// keys returns the issuer's keys for kid (a throttled refetch when kid is unknown).
func (is *issuer) keys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	all := is.static
	if all == nil {
		uri, err := is.jwks(ctx)
		if err != nil {
			return nil, err
		}
		if all, err = is.fetcher.Get(ctx, is.cfg.Issuer, uri, kid); err != nil {
			return nil, err
		}
	}
	if kid == "" {
		return all, nil
	}
	var out []jose.JSONWebKey
	for _, k := range all {
		if k.KeyID == kid {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("issuer publishes no key with kid %.64q", kid)
	}
	return out, nil
}

// jwks returns the configured jwks_uri, or the discovered one: fetched once
// an hour, the last good one kept through failures, a failure remembered
// for discoveryRetry (a dead issuer costs one wait per period, not one per request).
func (is *issuer) jwks(ctx context.Context) (string, error) {
	if is.cfg.JWKSURI != "" {
		return is.cfg.JWKSURI, nil
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	now := time.Now()
	if is.jwksURI != "" && now.Sub(is.fetched) < discoveryTTL {
		return is.jwksURI, nil
	}
	if !is.failedAt.IsZero() && now.Sub(is.failedAt) < discoveryRetry {
		if is.jwksURI != "" {
			return is.jwksURI, nil
		}
		return "", is.lastErr
	}
	uri, err := is.discover(ctx)
	if err != nil {
		is.failedAt, is.lastErr = now, err
		if is.jwksURI != "" {
			return is.jwksURI, nil // the last good document stands
		}
		return "", err
	}
	is.jwksURI, is.fetched, is.failedAt, is.lastErr = uri, now, time.Time{}, nil
	return uri, nil
}

// discover reads the OIDC discovery document: its issuer must be exactly
// the configured one (OIDC Discovery §4.3) and its jwks_uri an https URL.
func (is *issuer) discover(ctx context.Context) (string, error) {
	b, err := is.fetcher.GetDocument(context.WithoutCancel(ctx), strings.TrimSuffix(is.cfg.Issuer, "/")+"/.well-known/openid-configuration")
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	c, err := ParseClaims(b) // the same strict object rules: no duplicate or case-variant members
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	iss, _ := c.String("issuer")
	jwksURI, _ := c.String("jwks_uri")
	if iss != is.cfg.Issuer {
		return "", fmt.Errorf("discovery: document names issuer %.128q, not %q (OIDC Discovery §4.3)", iss, is.cfg.Issuer)
	}
	if u, err := url.Parse(jwksURI); err != nil || u.Scheme != "https" || u.Host == "" {
		return "", errors.New("discovery: jwks_uri is not an https URL")
	}
	return jwksURI, nil
}
