package broker

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/broker/audit"
)

// introspection is the RFC 7662 §2.2 response.
type introspection struct {
	Active    bool                      `json:"active"`
	Scope     string                    `json:"scope,omitempty"`
	ClientID  string                    `json:"client_id,omitempty"`
	Subject   string                    `json:"sub,omitempty"`
	Audience  accesstoken.Audience      `json:"aud,omitempty"`
	Issuer    string                    `json:"iss,omitempty"`
	Expiry    int64                     `json:"exp,omitempty"`
	IssuedAt  int64                     `json:"iat,omitempty"`
	NotBefore int64                     `json:"nbf,omitempty"`
	ID        string                    `json:"jti,omitempty"`
	TokenType string                    `json:"token_type,omitempty"`
	Cnf       *accesstoken.Confirmation `json:"cnf,omitempty"`
}

// introspect is RFC 7662. The caller authenticates as a client with any
// supported method. Any authenticated client may introspect: a JWT's claims
// are readable by whoever holds it, and resource servers are clients too.
// Expired, revoked, forged, foreign or garbage tokens are {"active": false}
// and nothing else (RFC 7662 §2.2).
func (s *Server) introspect(c echo.Context) error {
	res, claims, err := s.tokenRequest(c)
	if err != nil {
		return s.refuse(c, err, audit.EventIntrospectionRefused)
	}
	if claims.invalid != nil {
		s.log.Info("introspection: inactive", "caller", res.Client.ClientID, "reason", claims.invalid.Error())
		return writeJSON(c, http.StatusOK, introspection{})
	}
	revoked, err := s.state.Has(c.Request().Context(), s.revokedShare(claims.ClientID).Owner, claims.ID)
	if err != nil {
		// Cannot tell whether it was revoked: report inactive (fail closed).
		s.log.Warn("introspection: revocation state unavailable", "jti", claims.ID, "err", err)
		return writeJSON(c, http.StatusOK, introspection{})
	}
	if revoked {
		s.log.Info("introspection: revoked", "caller", res.Client.ClientID, "jti", claims.ID)
		return writeJSON(c, http.StatusOK, introspection{})
	}
	s.log.Info("introspection: active", "caller", res.Client.ClientID, "jti", claims.ID)
	return writeJSON(c, http.StatusOK, introspection{
		Active: true, Scope: claims.Scope, ClientID: claims.ClientID, Subject: claims.Subject, Audience: claims.Audience,
		Issuer: claims.Issuer, Expiry: claims.Expiry, IssuedAt: claims.IssuedAt, NotBefore: claims.NotBefore, ID: claims.ID,
		TokenType: introspectedType(claims.Claims), Cnf: claims.Cnf,
	})
}

// revoke is RFC 7009. A client can revoke only its own tokens; for any other
// token — another client's, expired, garbage — the answer is the same 200
// and nothing changes (RFC 7009 §2.2). Revoked ids are kept in the shared
// state until the token's own expiry.
func (s *Server) revoke(c echo.Context) error {
	res, claims, err := s.tokenRequest(c)
	if err != nil {
		return s.refuse(c, err, audit.EventRevocationRefused)
	}
	switch {
	case claims.invalid != nil:
		s.log.Info("revocation: not a live token of this broker; nothing to do", "caller", res.Client.ClientID, "reason", claims.invalid.Error())
	case claims.ClientID != res.Client.ClientID:
		s.log.Warn("revocation: token belongs to another client; ignored", "caller", res.Client.ClientID, "jti", claims.ID)
	default:
		if _, err := s.state.Once(c.Request().Context(), s.revokedShare(claims.ClientID), claims.ID, time.Unix(claims.Expiry, 0).Add(time.Minute)); err != nil {
			// RFC 7009 §2.2.1: the server may answer 503 when it cannot revoke now.
			return s.refuse(c, &clientError{oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "revocation could not be recorded, retry", err), res.Client.ClientID, res.Method}, audit.EventRevocationRefused)
		}
		s.log.Info("token revoked", "client_id", res.Client.ClientID, "jti", claims.ID)
		ev := s.newEvent(c, audit.EventTokenRevoked, claims.at)
		ev.ClientID, ev.Method, ev.JTI, ev.Outcome = res.Client.ClientID, res.Method, claims.ID, "success"
		s.audit(ev)
	}
	return c.NoContent(http.StatusOK)
}

// presented are the claims of the token an introspection or revocation
// request presents: invalid says why it is not a live token of this broker.
type presented struct {
	*accesstoken.Claims
	invalid error
	at      time.Time // the request's time
}

// tokenRequest is the common start of introspection and revocation: the
// form, the authenticated caller and the "token" parameter, verified as one
// of this broker's tokens. A failed authentication is charged to the
// failure buckets as at the token endpoint.
func (s *Server) tokenRequest(c echo.Context) (*authn.Result, *presented, error) {
	now := time.Now()
	form, err := s.readForm(c)
	if err != nil {
		return nil, nil, err
	}
	ar := &authn.Request{Form: form, Authorization: c.Request().Header.Get("Authorization"), Now: now}
	res, err := s.authenticate(c, ar)
	if err != nil {
		id, _ := s.auth.Identify(ar) // as Authenticate identified it
		ce := &clientError{err, id.ClientID, id.Method}
		if errors.Is(err, authn.ErrInvalidClient) {
			if e := s.limits.authFailed(c.Request().Context(), ce.clientID, c.RealIP(), err); e != nil {
				ce.error = e
			}
		}
		return nil, nil, ce
	}
	tok := form.Get("token")
	if tok == "" {
		return nil, nil, &clientError{oauthErr(http.StatusBadRequest, "invalid_request", "token is required", nil), res.Client.ClientID, res.Method}
	}
	noStore(c)
	p := &presented{at: now}
	p.Claims, p.invalid = s.tokens.verify(c.Request().Context(), tok, now)
	return res, p, nil
}

// clientError carries the (claimed or authenticated) client_id and method of a refusal, for the audit trail.
type clientError struct {
	error
	clientID, method string
}

func (e *clientError) Unwrap() error { return e.error }

// refuse answers an introspection or revocation error and audits it.
func (s *Server) refuse(c echo.Context, err error, event string) error {
	now := time.Now()
	ev := s.newEvent(c, event, now)
	var ce *clientError
	if errors.As(err, &ce) {
		ev.ClientID, ev.Method = ce.clientID, ce.method
	}
	return s.tokenError(c, err, &ev, now)
}

// revokedShare is the shared-state share holding clientID's revoked token
// ids (keyed by jti): one client revoking its tokens en masse fills only its
// own share.
func (s *Server) revokedShare(clientID string) state.Share {
	return state.Share{Owner: "revoked:" + clientID, Max: s.cfg.MaxRevocationsPerClient}
}

// introspectedType is the token_type of an introspection response: "DPoP"
// for a DPoP-bound token, whose cnf.jkt the response carries too (RFC 9449
// §6.2), else "Bearer".
func introspectedType(c *accesstoken.Claims) string {
	if c.DPoPBound() {
		return "DPoP"
	}
	return "Bearer"
}
