package tokensource

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// Config says how to get tokens. Exactly one of Secret, PrivateKey or (alone)
// Certificate authenticates the client; a Certificate given with a Secret or
// PrivateKey is presented for certificate-bound tokens.
type Config struct {
	TokenURL string
	ClientID string
	// Secret: client_secret_basic (or client_secret_post with SecretInBody).
	Secret       string
	SecretInBody bool
	// PrivateKey: private_key_jwt, signed with Alg (default ES256) under KeyID.
	PrivateKey crypto.Signer
	KeyID      string
	Alg        jose.SignatureAlgorithm
	// Audience of the assertion: the broker's issuer identifier (required with PrivateKey).
	Audience string
	// Certificate is the TLS client certificate (tls_client_auth, self_signed_tls_client_auth, or binding).
	Certificate *tls.Certificate
	// X509SVIDs: spiffe_x509 — the workload's rotating X.509-SVID (e.g. a
	// workloadapi.X509Source), presented to the broker and to the API; with
	// a JWT-SVID or alone. ClientID defaults to its SPIFFE ID. See svid.go.
	X509SVIDs x509svid.Source
	// JWTSVIDs: spiffe_jwt — a JWT-SVID for Audience (e.g. from a
	// workloadapi.JWTSource) is the client assertion.
	JWTSVIDs jwtsvid.Source
	// RootCAs verifies the broker and the API (default: system roots).
	RootCAs *x509.CertPool
	// Scopes and Resources (RFC 8707) to request.
	Scopes    []string
	Resources []string
	// RefreshAhead: get a new token when less than this is left (default: a fifth of its lifetime, at least 10 s).
	RefreshAhead time.Duration
	// Retries of a 5xx or network error, with exponential backoff from 100 ms (default 3).
	Retries int
	// Timeout for each token request attempt (default 10 s). The request is
	// shared by concurrent callers and bounded by this, not by the context of
	// the caller that started it.
	Timeout time.Duration
	// Now is the clock a cached token's age and expiry are read against
	// (tests; default time.Now). Assertions are always dated by time.Now.
	Now func() time.Time
	// DPoP, when set, asks for DPoP-bound tokens and sends proofs (RFC 9449; dpop.go).
	DPoP *DPoP
}

// Source is an oauth2.TokenSource and a factory for API clients.
type Source struct {
	cfg       Config
	transport *http.Transport
	http      *http.Client

	mu     sync.Mutex
	tok    *oauth2.Token
	flight singleflight.Group // one token request at a time
	// lastForced is when an API's invalid_token last dropped the token
	// (invalidateForced).
	lastForced time.Time
	// svids are the transports of X.509-SVIDs, one per SVID (svid.go).
	svids *svidTransports

	dpop *dpopState // nil without Config.DPoP
}

var _ oauth2.TokenSource = (*Source)(nil)

// New validates cfg.
func New(cfg Config) (*Source, error) {
	if err := cfg.svidDefaults(); err != nil {
		return nil, err
	}
	if cfg.TokenURL == "" || cfg.ClientID == "" {
		return nil, errors.New("tokensource: TokenURL and ClientID are required")
	}
	n := 0
	for _, set := range []bool{cfg.Secret != "", cfg.PrivateKey != nil, cfg.JWTSVIDs != nil} {
		if set {
			n++
		}
	}
	if n > 1 || (n == 0 && cfg.Certificate == nil && cfg.X509SVIDs == nil) || (cfg.Certificate != nil && cfg.X509SVIDs != nil) {
		return nil, errors.New("tokensource: give exactly one of Secret, PrivateKey, JWTSVIDs, or a Certificate (or X509SVIDs) alone")
	}
	if (cfg.PrivateKey != nil || cfg.JWTSVIDs != nil) && cfg.Audience == "" {
		return nil, errors.New("tokensource: Audience (the broker's issuer) is required with PrivateKey or JWTSVIDs")
	}
	if cfg.Alg == "" {
		cfg.Alg = jose.ES256
	}
	if cfg.Retries == 0 {
		cfg.Retries = 3
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs}
	if cfg.Certificate != nil {
		tlsCfg.Certificates = []tls.Certificate{*cfg.Certificate}
	}
	tr := &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: cfg.Timeout}
	s := &Source{cfg: cfg, transport: tr, http: &http.Client{Transport: tr, Timeout: cfg.Timeout, CheckRedirect: refuseRedirect}}
	if cfg.X509SVIDs != nil {
		s.svids = newSVIDTransports(tr)
	}
	if cfg.DPoP != nil {
		var err error
		if s.dpop, err = newDPoPState(cfg.DPoP); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ErrRedirect is returned when the token endpoint answers with a redirect.
var ErrRedirect = errors.New("tokensource: the token endpoint redirected; not followed")

// refuseRedirect: a token request carries the client's credentials (Basic
// header, client_secret or a still unspent assertion in the body) and a 307 or
// 308 would replay all of them to wherever the Location points — Go keeps
// Authorization across a redirect to the same host name on another port, and
// always re-sends the body. RFC 6749 §3.2 defines no redirect of the token
// endpoint, so none is followed, not even to the same origin.
func refuseRedirect(*http.Request, []*http.Request) error { return ErrRedirect }

// Token implements oauth2.TokenSource.
func (s *Source) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

// TokenContext returns a cached token, refreshing it ahead of expiry. One
// request is in flight at a time; concurrent callers share its result. The
// shared request is not cancelled with the caller that started it (each
// attempt has its own Config.Timeout), while ctx ending returns this caller
// at once. When a refresh fails but the cached token is still valid, the
// cached token is returned.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	if tok := s.current(); tok != nil {
		return tok, nil
	}
	ch := s.flight.DoChan("token", func() (any, error) {
		if tok := s.current(); tok != nil { // a request ended since the check above
			return tok, nil
		}
		// Detached from the first caller's cancellation: the request is shared,
		// so one impatient caller must not fail it for the others. Each attempt
		// is bounded by Config.Timeout (in fetch), and the retries are finite;
		// every caller still returns on its own ctx.Done() below.
		fresh, err := s.fetchWithRetry(context.WithoutCancel(ctx))
		s.mu.Lock()
		defer s.mu.Unlock()
		if err == nil {
			s.tok = fresh
			return fresh, nil
		}
		if s.tok != nil && s.cfg.Now().Before(s.tok.Expiry) {
			return s.tok, nil // the refresh failed; the cached token still serves
		}
		return nil, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*oauth2.Token), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// current returns the cached token unless it is due for a refresh.
func (s *Source) current() *oauth2.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && !s.due(s.tok) && !s.svidRotated(s.tok) {
		return s.tok
	}
	return nil
}

// due reports whether tok should be replaced now.
func (s *Source) due(tok *oauth2.Token) bool {
	ahead := s.cfg.RefreshAhead
	if ahead == 0 {
		life := tok.Expiry.Sub(issuedAt(tok))
		ahead = max(life/5, 10*time.Second)
	}
	return tok.Expiry.Sub(s.cfg.Now()) < ahead
}

func issuedAt(tok *oauth2.Token) time.Time {
	if t, ok := tok.Extra("tokensource_issued_at").(time.Time); ok {
		return t
	}
	return tok.Expiry.Add(-5 * time.Minute)
}

// Invalidate drops the cached token (after the API said invalid_token).
func (s *Source) Invalidate(bad *oauth2.Token) {
	s.mu.Lock()
	if s.tok == bad || bad == nil {
		s.tok = nil
	}
	s.mu.Unlock()
}

// forcedRefreshEvery is how often an API's 401 invalid_token may make the
// client fetch a token before the cached one is due. An API — or whoever
// answers for it — saying invalid_token to every call would otherwise turn
// each call into a token request, spending the client's share of the
// broker's assertion and proof replay caches and its failure budget, and
// with them its tokens for every other API.
const forcedRefreshEvery = 30 * time.Second

// invalidateForced drops bad after an API refused it, at most once per
// forcedRefreshEvery; it reports whether it did (the caller then retries).
func (s *Source) invalidateForced(bad *oauth2.Token) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if !s.lastForced.IsZero() && now.Sub(s.lastForced) < forcedRefreshEvery {
		return false
	}
	s.lastForced = now
	if s.tok == bad {
		s.tok = nil
	}
	return true
}

// ServerError is a token endpoint error response.
type ServerError struct {
	Status      int
	Code        string
	Description string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("token endpoint: %d %s: %s", e.Status, e.Code, e.Description)
}

func (s *Source) fetchWithRetry(ctx context.Context) (*oauth2.Token, error) {
	backoff := 100 * time.Millisecond
	var err error
	for attempt := 0; ; attempt++ {
		var tok *oauth2.Token
		tok, err = s.fetchToken(ctx)
		if err == nil {
			return tok, nil
		}
		var se *ServerError
		retriable := (!errors.As(err, &se) || se.Status >= 500) && !errors.Is(err, ErrRedirect) && !errors.Is(err, ErrNotDPoP)
		if !retriable || attempt >= s.cfg.Retries {
			return nil, err
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		backoff *= 2
	}
}

func (s *Source) fetch(ctx context.Context) (*oauth2.Token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(s.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(s.cfg.Scopes, " "))
	}
	for _, r := range s.cfg.Resources {
		form.Add("resource", r)
	}
	basic := false
	switch {
	case s.cfg.Secret != "" && s.cfg.SecretInBody:
		form.Set("client_id", s.cfg.ClientID)
		form.Set("client_secret", s.cfg.Secret)
	case s.cfg.Secret != "":
		basic = true
	case s.cfg.PrivateKey != nil:
		a, err := s.assertion()
		if err != nil {
			return nil, err
		}
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", a)
	case s.cfg.JWTSVIDs != nil:
		if err := s.jwtSVIDForm(ctx, form); err != nil {
			return nil, err
		}
	default:
		form.Set("client_id", s.cfg.ClientID)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		// RFC 6749 §2.3.1: form-encode each part before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(s.cfg.ClientID), url.QueryEscape(s.cfg.Secret))
	}
	if err := s.signTokenRequest(req); err != nil {
		return nil, err
	}
	issued := s.cfg.Now()
	client, svid, err := s.tokenClient()
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	s.noteNonce(req.URL, resp)
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(b, &e)
		return nil, &ServerError{Status: resp.StatusCode, Code: e.Error, Description: e.Description}
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
		Scope       string `json:"scope"`
	}
	if err := json.Unmarshal(b, &tr); err != nil || tr.AccessToken == "" || tr.ExpiresIn <= 0 {
		return nil, errors.New("token endpoint: malformed response")
	}
	tok := &oauth2.Token{AccessToken: tr.AccessToken, TokenType: tr.TokenType, Expiry: issued.Add(time.Duration(tr.ExpiresIn) * time.Second)}
	if err := s.checkTokenType(tok); err != nil {
		return nil, err
	}
	return tok.WithExtra(map[string]any{"scope": tr.Scope, "tokensource_issued_at": issued, svidExtra: svid}), nil
}

func (s *Source) assertion() (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if s.cfg.KeyID != "" {
		opts = opts.WithHeader("kid", s.cfg.KeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: s.cfg.Alg, Key: s.cfg.PrivateKey}, opts)
	if err != nil {
		return "", err
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	now := time.Now()
	return jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: s.cfg.ClientID, Subject: s.cfg.ClientID, Audience: jwt.Audience{s.cfg.Audience},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
		ID: base64.RawURLEncoding.EncodeToString(id[:]),
	}).Serialize()
}

// Client returns an *http.Client for calling APIs: it presents the same
// client certificate as the token requests and adds the token.
func (s *Source) Client() *http.Client {
	return &http.Client{Transport: s.RoundTripper(nil), Timeout: 30 * time.Second}
}

// RoundTripper wraps base (default: a transport with this source's TLS
// settings, including the client certificate). It adds the token to the
// request the caller made and to redirects within that request's origin,
// never to a redirect to another origin. On a 401 whose
// WWW-Authenticate says invalid_token it gets a new token and retries once,
// when the request body can be replayed — at most once every 30 s
// (forcedRefreshEvery), whatever APIs answer.
func (s *Source) RoundTripper(base http.RoundTripper) http.RoundTripper {
	if base == nil && s.svids != nil {
		base = &svidRoundTripper{src: s} // each token over its own SVID's connections
	}
	if base == nil {
		base = s.transport.Clone()
	}
	return &roundTripper{src: s, base: base}
}

type roundTripper struct {
	src  *Source
	base http.RoundTripper
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if !sameOrigin(req.URL, firstRequest(req).URL) {
		// A redirect to another origin: the token is for the API the caller
		// addressed, so it never follows the request elsewhere (a bearer token
		// replayed by whoever receives it; RFC 6750 §5.3).
		return rt.base.RoundTrip(req)
	}
	tok, err := rt.src.TokenContext(req.Context())
	if err != nil {
		return nil, err
	}
	resp, err := rt.send(req, tok)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
		return resp, err
	}
	if req.Body != nil && req.GetBody == nil {
		return resp, nil // cannot replay the body
	}
	if !rt.src.invalidateForced(tok) {
		return resp, nil // refreshed moments ago: the API's answer stands
	}
	fresh, err := rt.src.TokenContext(req.Context())
	if err != nil {
		return resp, nil
	}
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return rt.send(retry, fresh)
}

// firstRequest returns the request the caller made, walking back the
// redirects an http.Client followed to reach req.
func firstRequest(req *http.Request) *http.Request {
	for i := 0; req.Response != nil && req.Response.Request != nil && i < 100; i++ {
		req = req.Response.Request
	}
	return req
}

// sameOrigin compares scheme, host and port (RFC 6454 §4), the port
// defaulted by the scheme.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) &&
		portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}
