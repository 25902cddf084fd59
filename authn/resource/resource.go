package resource

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/certs"
)

// Config configures a Verifier.
type Config struct {
	// Issuer is the authorization server's issuer identifier (required). Its
	// RFC 8414 metadata is fetched from Issuer + /.well-known/oauth-authorization-server.
	Issuer string
	// Audience must be among the token's aud values (required unless AnyAudience).
	Audience string
	// AnyAudience skips the audience check; for tooling such as "tokenbroker inspect", never for an API.
	AnyAudience bool
	// HTTPClient reaches the issuer (default: 10 s timeout, system roots).
	HTTPClient *http.Client
	// Skew is how far ahead of this clock a token's nbf and iat may lie
	// (default 30 s); exp is exact (accesstoken.Verifier's time rule).
	Skew time.Duration
	// Proxy, when set, reads the client certificate from a trusted proxy's header.
	Proxy *certs.ProxyExtractor
	// Introspection, when set, enables routes that ask the issuer about each
	// token (RFC 7662) and so see revocation at once.
	Introspection *Introspection
	// MinRefetch is the least time between two JWKS fetches triggered by an
	// unknown kid (default 10 s).
	MinRefetch time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// DPoP configures DPoP-bound tokens (RFC 9449 §7; dpop.go). They are
	// always accepted with a valid proof; the zero value is the defaults.
	DPoP DPoPConfig
}

// Introspection authenticates the resource server at the introspection endpoint.
type Introspection struct {
	// ClientID and ClientSecret authenticate with client_secret_basic. For
	// mTLS, leave ClientSecret empty and give an HTTPClient presenting the certificate.
	ClientID, ClientSecret string
	HTTPClient             *http.Client
}

// Claims are a verified access token's claims, handed to the handler: the
// RFC 9068 profile's own type (Scopes, HasScope, CertThumbprint,
// DPoPThumbprint; Expiry and IssuedAt are NumericDates), the one the broker
// mints.
type Claims = accesstoken.Claims

// Error is an RFC 6750 §3 error.
type Error struct {
	Status      int
	Code        string // invalid_request, invalid_token, insufficient_scope, or "" (no credentials)
	Description string
	Scope       string
	cause       error
	dpop        bool // the DPoP challenge carries the error (RFC 9449 §7.1, §7.2)
	nonce       bool // answer with a fresh DPoP-Nonce (RFC 9449 §9)
}

func (e *Error) Error() string {
	if e.cause != nil && e.cause.Error() != e.Description { // an accesstoken reason is often the description itself
		return e.Code + ": " + e.Description + ": " + e.cause.Error()
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.cause }

func invalidToken(desc string, cause error) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: desc, cause: cause}
}

// Verifier verifies access tokens for one issuer and audience.
type Verifier struct {
	cfg      Config
	log      *slog.Logger
	jwksURI  string
	intro    string
	mu       sync.Mutex
	keys     map[string]jose.JSONWebKey
	fetched  time.Time
	expires  time.Time
	fetching chan struct{}
	tokens   *accesstoken.Verifier
	proofs   *dpop.Verifier // RFC 9449 proofs (dpop.go)
	dpopBase string         // DPoPConfig.BaseURL, trimmed
	algs     string         // proof algorithms, for WWW-Authenticate
}

// Limits on what the verifier reads.
const (
	maxDocSize      = 256 << 10
	minRefetchEvery = 10 * time.Second
)

// New discovers the issuer's metadata and loads its JWKS; it fails when
// either cannot be fetched, so a misconfigured API does not start.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || (cfg.Audience == "" && !cfg.AnyAudience) {
		return nil, errors.New("resource: Issuer and Audience are required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Skew == 0 {
		cfg.Skew = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MinRefetch == 0 {
		cfg.MinRefetch = minRefetchEvery
	}
	v := &Verifier{cfg: cfg, log: cfg.Logger, keys: map[string]jose.JSONWebKey{}}
	if err := v.initDPoP(); err != nil {
		return nil, err
	}
	var err error
	if v.tokens, err = accesstoken.NewVerifier(issuerKeys{v}, accesstoken.Expected{
		Issuer: cfg.Issuer, Audience: cfg.Audience, AnyAudience: cfg.AnyAudience, Leeway: cfg.Skew}); err != nil {
		return nil, fmt.Errorf("resource: %w", err)
	}
	var md struct {
		Issuer        string `json:"issuer"`
		JWKSURI       string `json:"jwks_uri"`
		Introspection string `json:"introspection_endpoint"`
	}
	if _, err := v.getJSON(ctx, strings.TrimSuffix(cfg.Issuer, "/")+"/.well-known/oauth-authorization-server", &md); err != nil {
		return nil, fmt.Errorf("resource: metadata: %w", err)
	}
	if md.Issuer != cfg.Issuer {
		// RFC 8414 §3.3: the issuer in the metadata must be the one we asked for.
		return nil, fmt.Errorf("resource: metadata issuer %q is not %q", md.Issuer, cfg.Issuer)
	}
	if md.JWKSURI == "" {
		return nil, errors.New("resource: metadata has no jwks_uri")
	}
	v.jwksURI, v.intro = md.JWKSURI, md.Introspection
	if cfg.Introspection != nil && v.intro == "" {
		return nil, errors.New("resource: introspection configured but the issuer advertises no introspection_endpoint")
	}
	if err := v.refresh(ctx); err != nil {
		return nil, fmt.Errorf("resource: jwks: %w", err)
	}
	return v, nil
}

// Close releases nothing today; it exists so callers can defer it.
func (v *Verifier) Close() error { return nil }

// getJSON fetches a bounded JSON document and returns its Cache-Control header.
func (v *Verifier) getJSON(ctx context.Context, u string, out any) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: status %d", u, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocSize+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxDocSize {
		return "", fmt.Errorf("%s: larger than %d bytes", u, maxDocSize)
	}
	return resp.Header.Get("Cache-Control"), json.Unmarshal(b, out)
}

func maxAge(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		if k, val, ok := strings.Cut(strings.TrimSpace(d), "="); ok && strings.EqualFold(k, "max-age") {
			var n int
			if _, err := fmt.Sscanf(val, "%d", &n); err == nil {
				return min(max(time.Duration(n)*time.Second, time.Minute), time.Hour)
			}
		}
	}
	return 5 * time.Minute
}

// refresh fetches the JWKS (single-flight).
func (v *Verifier) refresh(ctx context.Context) error {
	v.mu.Lock()
	if ch := v.fetching; ch != nil {
		v.mu.Unlock()
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ch := make(chan struct{})
	v.fetching = ch
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		v.fetching = nil
		v.mu.Unlock()
		close(ch)
	}()
	var set jose.JSONWebKeySet
	cc, err := v.getJSON(ctx, v.jwksURI, &set)
	if err != nil {
		return err
	}
	keys := map[string]jose.JSONWebKey{}
	for _, k := range set.Keys {
		if k.IsPublic() && k.Valid() && k.KeyID != "" {
			keys[k.KeyID] = k
		}
	}
	v.mu.Lock()
	v.keys, v.fetched, v.expires = keys, time.Now(), time.Now().Add(maxAge(cc))
	v.mu.Unlock()
	return nil
}

// key returns the key for kid, refetching the JWKS when the kid is unknown
// or the set is stale — at most once per 10 s.
func (v *Verifier) key(ctx context.Context, kid string) (jose.JSONWebKey, bool) {
	v.mu.Lock()
	k, ok := v.keys[kid]
	stale := time.Now().After(v.expires)
	may := time.Since(v.fetched) >= v.cfg.MinRefetch
	v.mu.Unlock()
	if (!ok || stale) && may {
		if err := v.refresh(ctx); err != nil {
			v.log.Warn("jwks refresh failed; keeping the last keys", "err", err)
		}
		v.mu.Lock()
		k, ok = v.keys[kid]
		v.mu.Unlock()
	}
	return k, ok
}

// issuerKeys is the issuer's JWKS as accesstoken.Verifier looks keys up.
type issuerKeys struct{ v *Verifier }

var _ accesstoken.KeySet = issuerKeys{}

// PublicKey implements accesstoken.KeySet.
func (k issuerKeys) PublicKey(ctx context.Context, kid string) (crypto.PublicKey, bool) {
	jwk, ok := k.v.key(ctx, kid)
	return jwk.Key, ok
}

// Verify checks a token presented on r: RFC 9068 typ, signature, issuer,
// audience, times (accesstoken.Verifier's rule), and its binding — the
// certificate (RFC 8705 §3) or r's DPoP proof (RFC 9449 §7.1, which spends
// the proof's jti). Which Authorization scheme carried the token is the
// caller's to check (Guard.Check does).
func (v *Verifier) Verify(ctx context.Context, r *http.Request, token string) (*Claims, error) {
	return v.verify(ctx, r, token, true, "")
}

// VerifyUnbound checks everything Verify does except the certificate
// binding. It is for tooling that displays a token ("tokenbroker inspect");
// an API must use Verify.
func (v *Verifier) VerifyUnbound(ctx context.Context, token string) (*Claims, error) {
	return v.verify(ctx, nil, token, false, "")
}

// verify checks token; with binding, its binding on r, and when scheme is
// not "" that the token may be presented with it (checkScheme).
func (v *Verifier) verify(ctx context.Context, r *http.Request, token string, binding bool, scheme string) (*Claims, error) {
	c, err := v.tokens.Verify(ctx, token, time.Now())
	if err != nil {
		return nil, invalidToken(description(err), err)
	}
	if !binding {
		return c, nil
	}
	if scheme != "" {
		if err := checkScheme(scheme, c); err != nil {
			return nil, err
		}
	}
	if err := v.checkBindings(ctx, r, token, c); err != nil {
		return nil, err
	}
	return c, nil
}

// description is the RFC 6750 error_description for a refused token: the
// reason accesstoken gives, without the detail (that goes to the log).
func description(err error) string {
	for _, reason := range []error{accesstoken.ErrMalformed, accesstoken.ErrNotAccessToken, accesstoken.ErrUnknownKey, accesstoken.ErrSignature, accesstoken.ErrRejected} {
		if errors.Is(err, reason) {
			return reason.Error()
		}
	}
	return "invalid token"
}

// introspect asks the issuer whether the token is still active (RFC 7662).
func (v *Verifier) introspect(ctx context.Context, token string) error {
	in := v.cfg.Introspection
	hc := in.HTTPClient
	if hc == nil {
		hc = v.cfg.HTTPClient
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	if in.ClientSecret == "" {
		form.Set("client_id", in.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.intro, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if in.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(in.ClientID), url.QueryEscape(in.ClientSecret))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "cannot reach the authorization server", cause: err}
	}
	defer resp.Body.Close()
	var out struct {
		Active bool `json:"active"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxDocSize))
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil {
		return &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "introspection failed", cause: fmt.Errorf("status %d", resp.StatusCode)}
	}
	if !out.Active {
		return invalidToken("token is not active", nil)
	}
	return nil
}
