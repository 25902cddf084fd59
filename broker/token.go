package broker

import (
	"crypto/x509"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/certs"
)

// tokenResponse is RFC 6749 §5.1 (no refresh token: RFC 6749 §4.4.3).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

// token is the RFC 6749 §4.4 client credentials token endpoint:
// parse → authenticate → decide → mint → respond.
func (s *Server) token(c echo.Context) error {
	now := time.Now()
	req := c.Request()
	form, err := s.readForm(c, "resource")
	if err != nil {
		return s.tokenError(c, err, "")
	}
	gt := form.Get("grant_type")
	switch {
	case gt == "":
		return s.tokenError(c, oauthErr(http.StatusBadRequest, "invalid_request", "grant_type is required", nil), "")
	case gt != backends.GrantClientCredentials:
		return s.tokenError(c, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported", nil), "")
	}
	res, err := s.authenticate(c, form, now)
	if err != nil {
		return s.tokenError(c, err, form.Get("client_id"))
	}
	g, err := s.decide(res, form.Get("scope"), form["resource"])
	if err != nil {
		return s.tokenError(c, err, res.Client.ClientID)
	}
	tok, claims, err := mint(req.Context(), s.keys, s.cfg.Issuer, g, now)
	if err != nil {
		return s.tokenError(c, err, res.Client.ClientID)
	}
	s.log.Info("token issued", "client_id", g.ClientID, "method", res.Method, "jti", claims.ID,
		"scope", claims.Scope, "aud", []string(claims.Audience), "exp", claims.Expiry, "bound", g.X5tS256 != "", "remote", c.RealIP())
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	return writeJSON(c, http.StatusOK, tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(g.Lifetime / time.Second), Scope: claims.Scope})
}

// authenticate runs client authentication for any endpoint that needs it
// (token, introspection, revocation).
func (s *Server) authenticate(c echo.Context, form url.Values, now time.Time) (*authn.Result, error) {
	req := c.Request()
	chain, err := s.clientCertificates(req)
	if err != nil {
		return nil, err
	}
	return s.auth.Authenticate(req.Context(), &authn.Request{Form: form, Authorization: req.Header.Get("Authorization"), PeerCertificates: chain, Now: now})
}

// tokenError logs the cause and writes the public error. RFC 6749 §5.2: a
// failed Basic authentication answers 401 with WWW-Authenticate: Basic.
func (s *Server) tokenError(c echo.Context, err error, clientID string) error {
	oe := errorFor(err)
	if oe.Code == "invalid_client" {
		if scheme, _, _ := strings.Cut(c.Request().Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Basic") {
			oe.Challenge = `Basic realm="tokenbroker", charset="UTF-8"`
		}
	}
	level := s.log.Info
	if oe.Status >= 500 {
		level = s.log.Error
	}
	level("token request refused", "client_id", clientID, "error", oe.Code, "reason", causeOf(oe), "remote", c.RealIP())
	writeError(c, oe)
	return nil
}

func causeOf(oe *Error) string {
	if oe.Cause != nil {
		return oe.Cause.Error()
	}
	return oe.Description
}

// clientCertificates returns the caller's certificate chain: from a trusted
// proxy's header when the TCP peer is a trusted proxy (never the proxy's own
// TLS certificate), else from this connection's TLS handshake. A certificate
// header from any other peer is refused: it can only be a spoof.
func (s *Server) clientCertificates(r *http.Request) ([]*x509.Certificate, error) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil && s.cfg.Proxy.Trusted(peer.Addr()) {
		chain, err := s.cfg.Proxy.Extract(r.Header)
		if err != nil {
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", "malformed client certificate header", err)
		}
		return chain, nil
	}
	if s.cfg.Proxy.HasCertHeader(r.Header) {
		s.log.Warn("client certificate header from an untrusted peer refused", "remote", r.RemoteAddr)
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "client certificate headers are accepted only from trusted proxies", certs.ErrUntrustedCertHeader)
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return r.TLS.PeerCertificates, nil
	}
	return nil, nil
}
