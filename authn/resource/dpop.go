package resource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/certs"
)

// DPoPConfig configures the DPoP side of the middleware (RFC 9449 §7). With
// BaseURL set it accepts DPoP-bound tokens, the rest defaulting to an
// in-memory replay cache and no nonces; the zero value refuses them.
type DPoPConfig struct {
	// BaseURL is the scheme and authority clients address this API by
	// ("https://api.example.com", optionally with a path prefix the proxy
	// strips), against which a proof's htu is compared (RFC 9449 §4.3 item
	// 9). DPoP-bound tokens are accepted only when it is set: the request
	// itself cannot say which server it was meant for (the Host header and
	// an absolute-form request line are the caller's), so with the URL
	// rebuilt from them, a proof and token made for another API that
	// accepts the same audience would replay here. Unset, a DPoP-bound token
	// is refused (401 invalid_token) and the cause logged.
	BaseURL string
	// Algorithms narrows the proof algorithms (default dpop.Algorithms);
	// advertised in WWW-Authenticate algs (§7.1).
	Algorithms []jose.SignatureAlgorithm
	// Window is how old a proof's iat may be, and Leeway how far ahead of
	// this clock (defaults dpop.DefaultWindow and dpop.DefaultLeeway).
	Window, Leeway time.Duration
	// Replay records each proof's jti once (RFC 9449 §11.1). Nil: an
	// in-memory store for this process (1,000,000 proofs, a floor of 1,000
	// per client). Several replicas of an API share one — state.NewRedis — so a
	// proof spent on one is refused by the others.
	Replay state.Store
	// MaxProofsPerClient bounds the live jtis the proofs of one client's
	// tokens (their client_id, whatever keys they are bound to) may hold in
	// Replay (default 100,000: over 1,500 requests a second with the default
	// window). That client's next proof is refused past it; nobody else's.
	// The share is the client's, not the key's: a client can have tokens
	// bound to as many keys as it likes, so per-key shares would let one
	// client fill the store and have everyone else refused.
	MaxProofsPerClient int
	// Nonces, when set, requires a server nonce in every proof (RFC 9449 §9):
	// a proof without a valid one is answered 401 use_dpop_nonce with a fresh
	// DPoP-Nonce header. dpop.NewNonces with a key shared by every replica.
	Nonces dpop.NonceSource
}

// errDPoPNoBaseURL is why a DPoP-bound token is refused by a middleware
// that does not know its own URL (DPoPConfig.BaseURL).
var errDPoPNoBaseURL = errors.New("DPoP-bound token refused: DPoPConfig.BaseURL is not set, so the URL a proof must name is unknown")

// Defaults of the replay store the middleware makes for itself.
const (
	defaultMaxProofs          = 1_000_000
	defaultProofFloor         = 1_000
	defaultMaxProofsPerClient = 100_000
)

// initDPoP builds the proof verifier from cfg.DPoP.
func (v *Verifier) initDPoP() error {
	c := v.cfg.DPoP
	if c.BaseURL != "" {
		b := strings.TrimRight(c.BaseURL, "/")
		u, err := url.Parse(b)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || strings.ContainsAny(b, "?#") {
			return fmt.Errorf("resource: DPoP base URL %q is not an http(s) URL with a host and without query", c.BaseURL)
		}
		v.dpopBase = b
	}
	if c.MaxProofsPerClient < 0 {
		return errors.New("resource: DPoP MaxProofsPerClient is negative")
	}
	if c.MaxProofsPerClient == 0 {
		c.MaxProofsPerClient = defaultMaxProofsPerClient
	}
	store := c.Replay
	if store == nil {
		store = state.NewMemory(defaultMaxProofs, state.WithFloor(defaultProofFloor))
	}
	share := c.MaxProofsPerClient
	opts := []dpop.VerifierOption{dpop.WithReplay(dpop.ReplayFunc(func(ctx context.Context, owner, key string, exp time.Time) (bool, error) {
		return store.Once(ctx, state.Share{Owner: owner, Max: share}, key, exp)
	}))}
	if len(c.Algorithms) > 0 {
		opts = append(opts, dpop.WithAlgorithms(c.Algorithms...))
	}
	if c.Window != 0 || c.Leeway != 0 {
		w, l := c.Window, c.Leeway
		if w == 0 {
			w = dpop.DefaultWindow
		}
		if l == 0 {
			l = dpop.DefaultLeeway
		}
		opts = append(opts, dpop.WithWindow(w, l))
	}
	if c.Nonces != nil {
		opts = append(opts, dpop.WithNonces(c.Nonces))
	}
	var err error
	if v.proofs, err = dpop.NewVerifier(opts...); err != nil {
		return fmt.Errorf("resource: %w", err)
	}
	v.algs = strings.Join(v.proofs.Algorithms(), " ")
	return nil
}

// Authorization schemes (RFC 6750 §2.1, RFC 9449 §7.1).
const (
	schemeBearer = "Bearer"
	schemeDPoP   = dpop.TokenType
)

// credentials reads the one Authorization header with
// accesstoken.ParseAuthorization: the scheme (Bearer or DPoP,
// case-insensitive per RFC 9110 §11.1) and the token, a b64token (RFC 6750
// §2.1; token68, RFC 9449 §7.1). Tokens in the query or the body are not
// accepted, and one in the query beside the header is refused. Another scheme is no credentials at all (RFC 6750 §3.1: a bare
// challenge).
func credentials(r *http.Request) (scheme, token string, err error) {
	hs := r.Header.Values("Authorization")
	if len(hs) == 0 {
		return "", "", &Error{Status: http.StatusUnauthorized, Description: "access token required"}
	}
	if len(hs) > 1 {
		// RFC 9449 §7.2, Figure 19: more than one way in is ambiguous.
		return "", "", &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one Authorization header"}
	}
	s, tok, ok := accesstoken.ParseAuthorization(hs[0])
	switch {
	case strings.EqualFold(s, schemeBearer):
		scheme = schemeBearer
	case strings.EqualFold(s, schemeDPoP):
		scheme = schemeDPoP
	default:
		return "", "", &Error{Status: http.StatusUnauthorized, Description: "access token required"}
	}
	if !ok {
		return "", "", &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "malformed Authorization header", dpop: scheme == schemeDPoP}
	}
	if queryHasToken(r.URL.RawQuery) {
		// RFC 6750 §2: one method per request; §3.1: more than one is
		// invalid_request. Ignoring the query's token would hand the
		// handler a token nobody verified.
		return "", "", &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "access token in more than one place", dpop: scheme == schemeDPoP}
	}
	return scheme, tok, nil
}

// queryHasToken reports whether a raw query names the RFC 6750 §2.3
// access_token parameter, percent-encoded or not, with any value (empty,
// or one that does not decode).
func queryHasToken(raw string) bool {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, _, _ := strings.Cut(part, "=")
		if k == "access_token" {
			return true
		}
		if strings.Contains(k, "%") || strings.Contains(k, "+") {
			if u, err := url.QueryUnescape(k); err == nil && u == "access_token" {
				return true
			}
		}
	}
	return false
}

// checkScheme applies RFC 9449 §7 to a verified token presented with
// scheme: a DPoP-bound token only with the DPoP scheme (§7.2: never as a
// bearer token), and the DPoP scheme only for a DPoP-bound token (§7.1:
// the scheme names a binding the token must have). A DPoP header beside a
// Bearer token that is not DPoP-bound is ignored: RFC 6750 applies to it,
// and the proof proves nothing about it.
func checkScheme(scheme string, c *Claims) error {
	switch {
	case scheme == schemeBearer && c.DPoPBound():
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "DPoP-bound token presented as a bearer token"}
	case scheme == schemeDPoP && !c.DPoPBound():
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "token is not DPoP-bound", dpop: true}
	}
	return nil
}

// checkBindings checks every binding c carries on r
// (accesstoken.Claims.CheckBindings): the certificate (RFC 8705 §3) and,
// for a DPoP-bound token, RFC 9449 §7.1 — exactly one valid proof (§4.3)
// for this method and URL with the token's hash, by the key the token is
// bound to (cnf.jkt, §6.1), whose jti was never used before. The key is
// compared before the jti is recorded, so that only the key's holder can
// spend entries of the replay store, and only of its client's share
// (replayOwner).
func (v *Verifier) checkBindings(ctx context.Context, r *http.Request, token string, c *accesstoken.Claims) error {
	var proof *dpop.Proof
	if c.DPoPBound() {
		if v.dpopBase == "" {
			return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "DPoP-bound tokens are not accepted here", dpop: true, cause: errDPoPNoBaseURL}
		}
		var err error
		proof, err = v.proofs.Check(r.Header.Values(dpop.HeaderName), r.Method, []string{dpop.HTU(r, v.dpopBase)}, token)
		switch {
		case errors.Is(err, dpop.ErrUseNonce):
			return &Error{Status: http.StatusUnauthorized, Code: "use_dpop_nonce", Description: "resource server requires a nonce in the DPoP proof", dpop: true, nonce: true, cause: err}
		case err != nil:
			return &Error{Status: http.StatusUnauthorized, Code: "invalid_dpop_proof", Description: "invalid DPoP proof", dpop: true, cause: err}
		}
	}
	var presented *certs.Presented
	if c.Bound() {
		var err error
		if presented, err = certs.FromRequest(r, v.cfg.Proxy); err != nil {
			return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "malformed or untrusted client certificate header", cause: err}
		}
	}
	proofJKT := ""
	if proof != nil {
		proofJKT = proof.JKT
	}
	if err := c.CheckBindings(presented, proofJKT); err != nil {
		if errors.Is(err, accesstoken.ErrProofKeyMismatch) {
			// RFC 9449 §7.1, Figure 16: the binding failed — the token's error.
			return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "invalid DPoP key binding", dpop: true, cause: err}
		}
		return invalidToken(err.Error(), err)
	}
	if proof == nil {
		return nil
	}
	if err := v.proofs.Spend(ctx, replayOwner(c), proof); err != nil {
		switch {
		case errors.Is(err, dpop.ErrInvalidProof): // a replay (RFC 9449 §11.1)
			return &Error{Status: http.StatusUnauthorized, Code: "invalid_dpop_proof", Description: "invalid DPoP proof", dpop: true, cause: err}
		case errors.Is(err, state.ErrShareFull):
			// This client's own traffic filled its share: its proofs wait
			// for entries to expire; nobody else's are refused.
			return &Error{Status: http.StatusUnauthorized, Code: "invalid_dpop_proof", Description: "too many DPoP proofs for this client; retry later", dpop: true, cause: err}
		}
		// The store cannot tell (Redis down, or full): fail closed, and say
		// it is the server's trouble, not the request's.
		return &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "cannot check the DPoP proof now", dpop: true, cause: err}
	}
	// The key is bound to a token our issuer signed, and proved itself: its
	// next proofs may verify with a precomputed table (dpop.Verifier.Admit).
	v.proofs.Admit(proof)
	return nil
}

// replayOwner is whose share of the replay store a proof presented with c
// spends: the token's client (RFC 9068 §2.2 client_id), which the issuer
// vouches for. Not the proof's key: keys are free to make — each one costs
// a client only a token request — so a share per key would let one client
// hold unboundedly many shares (past the in-memory store's floors for
// everyone else, and without bound on Redis). A token without client_id
// (never one of ours) falls back to its key.
func replayOwner(c *accesstoken.Claims) string {
	if c.ClientID != "" {
		return "dpop:client:" + c.ClientID
	}
	return "dpop:jkt:" + c.DPoPThumbprint()
}

// challenges is the WWW-Authenticate value for e (RFC 6750 §3, RFC 9449
// §7.1, §7.2): a Bearer and a DPoP challenge, the one of the scheme the
// request used first and carrying the error; none carries an error when
// the request had no credentials (RFC 6750 §3.1, RFC 9449 Figure 17).
func (v *Verifier) challenges(e *Error) string {
	realm := fmt.Sprintf("realm=%q", v.cfg.Issuer)
	bearer := schemeBearer + " " + realm
	dp := schemeDPoP + " " + realm
	if e.Code != "" && e.Code != "server_error" && e.Code != "temporarily_unavailable" {
		params := fmt.Sprintf(`, error=%q, error_description=%q`, e.Code, e.Description)
		if e.Scope != "" {
			params += fmt.Sprintf(`, scope=%q`, e.Scope)
		}
		if e.dpop {
			dp += params
		} else {
			bearer += params
		}
	}
	dp += fmt.Sprintf(`, algs=%q`, v.algs)
	if e.dpop {
		return dp + ", " + bearer
	}
	return bearer + ", " + dp
}
