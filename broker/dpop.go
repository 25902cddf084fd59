package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/backends/state"
)

// DPoPConfig configures DPoP proofs at the token endpoint (RFC 9449 §5).
// DPoP is always offered; these only tune it.
type DPoPConfig struct {
	// Nonces, when set, makes every proof carry a nonce from it (RFC 9449
	// §8): a proof without one is answered use_dpop_nonce with a fresh
	// DPoP-Nonce header. Every replica must share its key (dpop.Nonces).
	Nonces dpop.NonceSource
	// MaxAge is how old a proof's iat may be (default dpop.DefaultWindow,
	// at most 5m); a proof may be dated up to dpop.DefaultLeeway ahead.
	MaxAge time.Duration
	// MaxJTIsPerClient bounds the live proof jtis one client may hold in
	// the shared state (default authn.DefaultMaxJTIsPerClient): a client
	// that fills its share has its own proofs refused, nobody else's.
	MaxJTIsPerClient int
}

// maxProofAge is the largest MaxAge. Every proof jti is remembered for it,
// whatever MaxAge this server runs with: a replica (or this one after a
// reload) with a longer MaxAge must still refuse a proof spent here (RFC 9449
// §11.1).
const maxProofAge = 5 * time.Minute

func (d *DPoPConfig) fill() {
	if d.MaxAge == 0 {
		d.MaxAge = dpop.DefaultWindow
	}
	if d.MaxJTIsPerClient == 0 {
		d.MaxJTIsPerClient = authn.DefaultMaxJTIsPerClient
	}
}

func (d *DPoPConfig) validate() []error {
	var errs []error
	if d.MaxAge < time.Second || d.MaxAge > maxProofAge {
		errs = append(errs, fieldf("DPoP.MaxAge", "%s is outside [1s, 5m]", d.MaxAge))
	}
	if d.MaxJTIsPerClient < 0 {
		errs = append(errs, fieldf("DPoP.MaxJTIsPerClient", "%d is negative", d.MaxJTIsPerClient))
	}
	return errs
}

// newDPoP is the token endpoint's proof verifier: the assertion
// algorithms (RFC 9449 §4.3 item 5: "the algorithms we accept for
// assertions"), proofs' jtis in the shared state.
func (s *Server) newDPoP() (*dpop.Verifier, error) {
	opts := []dpop.VerifierOption{
		dpop.WithAlgorithms(authn.AssertionAlgs...),
		dpop.WithWindow(s.cfg.DPoP.MaxAge, dpop.DefaultLeeway),
		dpop.WithRetention(maxProofAge),
		dpop.WithReplay(dpop.ReplayFunc(func(ctx context.Context, owner, key string, exp time.Time) (bool, error) {
			return s.state.Once(ctx, state.Share{Owner: owner, Max: s.cfg.DPoP.MaxJTIsPerClient}, key, exp)
		})),
	}
	if s.cfg.DPoP.Nonces != nil {
		opts = append(opts, dpop.WithNonces(s.cfg.DPoP.Nonces))
	}
	return dpop.NewVerifier(opts...)
}

// dpopHTUs are the URIs a token request may be sent to, in the form a
// proof's htu is compared in (RFC 9449 §4.3 item 9): the token endpoint
// under the issuer and under the mTLS alias (RFC 8705 §5). They come from
// the configuration, never from the request's Host header: behind a trusted
// proxy the issuer is the URL clients use, and a proof made for another
// server cannot be made to match by naming that server in Host.
func (s *Server) dpopHTUs() []string {
	out := []string{s.base + PathToken}
	if s.cfg.MTLSBaseURL != "" {
		out = append(out, strings.TrimSuffix(s.cfg.MTLSBaseURL, "/")+PathToken)
	}
	return out
}

// checkProof checks a token request's DPoP proof, if it carries one, before
// client authentication (RFC 9449 §5): everything but the jti's single use,
// which needs the client (spendProof). nil, nil: no DPoP header.
func (s *Server) checkProof(r *http.Request) (*dpop.Proof, error) {
	values := r.Header.Values(dpop.HeaderName)
	if len(values) == 0 {
		return nil, nil
	}
	p, err := s.dpop.Check(values, r.Method, s.htus, "")
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		return nil, s.useNonce(err)
	case err != nil:
		return nil, oauthErr(http.StatusBadRequest, "invalid_dpop_proof", "invalid DPoP proof", err)
	}
	return p, nil
}

// useNonce is RFC 9449 §8: use_dpop_nonce, with a nonce to use.
func (s *Server) useNonce(cause error) *Error {
	e := oauthErr(http.StatusBadRequest, "use_dpop_nonce", "authorization server requires nonce in DPoP proof", cause)
	e.dpopNonce = s.cfg.DPoP.Nonces.Nonce(time.Now())
	return e
}

// spendProof records the proof's jti once the client authenticated: under
// the client's own share, so that nobody without credentials can fill the
// replay cache, and one client fills only its own (RFC 9449 §11.1).
func (s *Server) spendProof(ctx context.Context, clientID string, p *dpop.Proof) error {
	err := s.dpop.Spend(ctx, "dpop:"+clientID, p)
	switch {
	case err == nil:
		s.dpop.Admit(p) // an authenticated client's key: its next proofs verify faster
		return nil
	case errors.Is(err, dpop.ErrInvalidProof):
		return oauthErr(http.StatusBadRequest, "invalid_dpop_proof", "invalid DPoP proof", err)
	case errors.Is(err, state.ErrShareFull):
		return oauthErr(http.StatusBadRequest, "invalid_dpop_proof", "invalid DPoP proof",
			fmt.Errorf("client holds %d live proof jtis, its share of the replay cache: refusing (fail closed): %w", s.cfg.DPoP.MaxJTIsPerClient, err))
	}
	// The replay cache cannot tell: refuse (fail closed), as a 503.
	return oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "retry later", err)
}

// bindProof applies the one-binding rule (docs/dpop.md, "Which binding"):
// a client that registered dpop_bound_access_tokens must send a proof (RFC
// 9449 §5.2); a client that registered tls_client_certificate_bound_access_tokens
// gets certificate-bound tokens only (RFC 8705 §3.4) and may not send one;
// otherwise a proof binds the token to its key (cnf.jkt) and replaces the
// certificate binding an mTLS client would get — the client asked for DPoP
// explicitly, and it answers token_type DPoP, so it presents the token
// with proofs (RFC 9449 §5, §7).
func bindProof(res *authn.Result, g *accesstoken.Grant, p *dpop.Proof) error {
	c := res.Client
	switch {
	case p == nil && c.DPoPBoundAccessTokens:
		return oauthErr(http.StatusBadRequest, "invalid_dpop_proof", "this client requires a DPoP proof", errors.New("no DPoP proof from a client registered with dpop_bound_access_tokens"))
	case p == nil:
		return nil
	case c.TLSClientCertificateBoundAccessTokens && !c.DPoPBoundAccessTokens:
		return oauthErr(http.StatusBadRequest, "invalid_request", "this client's tokens are certificate-bound; send no DPoP proof", errors.New("DPoP proof from a client registered with tls_client_certificate_bound_access_tokens"))
	}
	g.X5tS256, g.JKT = "", p.JKT
	return nil
}

// tokenType is the token_type of a grant (RFC 9449 §5).
func tokenType(g *accesstoken.Grant) string {
	if g.JKT != "" {
		return dpop.TokenType
	}
	return "Bearer"
}

// nonceHeader adds a fresh DPoP-Nonce to a response when nonces are on
// (RFC 9449 §8.2: the server may supply a new nonce with any response).
func (s *Server) nonceHeader(c echo.Context) {
	if s.cfg.DPoP.Nonces != nil {
		c.Response().Header().Set(dpop.NonceHeader, s.cfg.DPoP.Nonces.Nonce(time.Now()))
	}
}
