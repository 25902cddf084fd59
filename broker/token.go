package broker

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker/audit"
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
// parse → authenticate → decide → mint → respond, with one audit event.
// Failed-authentication limits are charged only when authentication fails
// (see RateLimits): a request whose credentials verify never waits on them.
func (s *Server) token(c echo.Context) error {
	now := time.Now()
	req := c.Request()
	ev := s.newEvent(c, audit.EventTokenRefused, now)
	form, err := s.readForm(c, "resource")
	if err != nil {
		return s.tokenError(c, err, &ev, now)
	}
	ar := &authn.Request{Form: form, Authorization: req.Header.Get("Authorization"), Now: now}
	gt := form.Get("grant_type")
	switch {
	case gt == "":
		return s.authnError(c, ar, oauthErr(http.StatusBadRequest, "invalid_request", "grant_type is required", nil), &ev, now)
	case gt != backends.GrantClientCredentials:
		return s.authnError(c, ar, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported", nil), &ev, now)
	}
	// RFC 9449 §5: a DPoP proof is checked before the client authenticates,
	// so that no credential is spent on a request a bad proof refuses; its
	// jti is recorded only after (spendProof).
	proof, err := s.checkProof(req)
	if err != nil {
		return s.proofError(c, ar, err, &ev, now)
	}
	res, err := s.authenticate(c, ar)
	if err != nil {
		return s.authnError(c, ar, err, &ev, now)
	}
	ev.ClientID, ev.Method, ev.Template = res.Client.ClientID, res.Method, res.Template
	if res.Certificate != nil {
		ev.CertSubject, ev.CertThumbprint = res.Certificate.Subject(), res.Certificate.Thumbprint
	}
	g, err := s.policy.Decide(res, form.Get("scope"), form["resource"])
	if err == nil {
		err = bindProof(res, g, proof)
	}
	if err == nil && proof != nil {
		err = s.spendProof(req.Context(), res.Client.ClientID, proof)
	}
	if err != nil {
		return s.tokenError(c, err, &ev, now)
	}
	if e := s.limits.take(req.Context(), "issue", res.Client.ClientID, s.limits.IssuancePerClient, nil); e != nil {
		return s.tokenError(c, e, &ev, now)
	}
	tok, claims, err := s.tokens.mint(req.Context(), g, now)
	if err != nil {
		return s.tokenError(c, err, &ev, now)
	}
	ev.Event, ev.Outcome, ev.JTI, ev.Scope, ev.Audience = audit.EventTokenIssued, "success", claims.ID, claims.Scope, claims.Audience
	// The issuance is recorded before the token leaves (audit.fail_closed).
	if err := s.audit(ev); err != nil && s.cfg.AuditFailClosed {
		ev.Event, ev.JTI = audit.EventTokenRefused, ""
		return s.tokenError(c, oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "the request could not be recorded; retry later", err), &ev, now)
	}
	label := g.ClientID
	if res.Template != "" {
		// One series per template, not per workload: identities are many.
		label = "template:" + res.Template
	}
	s.metrics.issued.WithLabelValues(label, res.Method).Inc()
	s.metrics.latency.WithLabelValues("issued").Observe(time.Since(now).Seconds())
	if s.log.Enabled(req.Context(), slog.LevelInfo) { // skip building the attributes when they would be dropped
		s.log.Info("token issued", "request_id", ev.RequestID, "client_id", g.ClientID, "method", res.Method, "jti", claims.ID,
			"scope", claims.Scope, "aud", []string(claims.Audience), "exp", claims.Expiry, "bound", g.X5tS256 != "", "dpop_jkt", g.JKT, "remote", ev.Source, "peer", ev.Peer)
	}
	if proof != nil {
		s.nonceHeader(c)
	}
	// RFC 6749 §5.1: Cache-Control: no-store and Pragma: no-cache.
	h := c.Response().Header()
	h["Cache-Control"], h["Pragma"], h["Content-Type"] = hdrNoStore, hdrNoCache, hdrJSON
	c.Response().WriteHeader(http.StatusOK)
	_, err = c.Response().Write(appendTokenResponse(make([]byte, 0, len(tok)+128), tok, tokenType(g), int64(g.Lifetime/time.Second), claims.Scope))
	return err
}

// Shared header values for the hot path; net/http only reads them.
var (
	hdrNoStore = []string{"no-store"}
	hdrNoCache = []string{"no-cache"}
	hdrJSON    = []string{echo.MIMEApplicationJSON}
)

// requestID takes a caller's X-Request-Id when it is short and plain, else makes one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 && strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == "" {
		return id
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newEvent starts a request's audit event: the client's address (forwarded
// by a trusted proxy, see clientIP) as its source, the TCP peer beside it
// when they differ.
func (s *Server) newEvent(c echo.Context, event string, now time.Time) audit.Event {
	req := c.Request()
	ev := audit.Event{Time: now.UTC(), Event: event, RequestID: requestID(req), Source: c.RealIP()}
	if s.cfg.Proxy != nil {
		if peer := peerIP(req); peer != ev.Source {
			ev.Peer = peer
		}
	}
	return ev
}

// authnError refuses a request once authentication was attempted or could
// be: the audit event names the client and method the request claimed
// (authn.Authenticator.Identify, the step Authenticate began with), and a
// failed authentication is charged to the failure buckets — answered 429
// instead of 401 when one is empty.
func (s *Server) authnError(c echo.Context, ar *authn.Request, err error, ev *audit.Event, start time.Time) error {
	id, _ := s.auth.Identify(ar)
	ev.ClientID, ev.Method = id.ClientID, id.Method
	if errors.Is(err, authn.ErrInvalidClient) {
		if e := s.limits.authFailed(c.Request().Context(), ev.ClientID, ev.Source, err); e != nil {
			err = e
		}
	}
	return s.tokenError(c, err, ev, start)
}

// proofError refuses a request whose DPoP proof failed before client
// authentication: audited under the claimed client, and an invalid proof is
// charged to the failure buckets like a failed authentication (answered 429
// once they are empty) — it is a failed request from that address, and
// charging it never refuses a request whose credentials and proof verify.
// use_dpop_nonce is the protocol's normal first step and is not charged.
func (s *Server) proofError(c echo.Context, ar *authn.Request, err error, ev *audit.Event, start time.Time) error {
	id, _ := s.auth.Identify(ar)
	ev.ClientID, ev.Method = id.ClientID, id.Method
	var oe *Error
	if errors.As(err, &oe) && oe.Code == "invalid_dpop_proof" {
		if e := s.limits.authFailed(c.Request().Context(), ev.ClientID, ev.Source, err); e != nil {
			err = e
		}
	}
	return s.tokenError(c, err, ev, start)
}

// audit records ev; a failed write is logged and counted
// (tokenbroker_audit_write_failures_total) and returned for the caller's policy.
func (s *Server) audit(ev audit.Event) error {
	err := s.cfg.Audit.Record(ev)
	if err != nil {
		s.metrics.auditFailures.Inc()
		s.log.Error("audit trail write failed", "event", ev.Event, "request_id", ev.RequestID, "err", err)
	}
	return err
}

// authenticate runs client authentication for any endpoint that needs it
// (token, introspection, revocation); it adds the caller's certificate chain to ar.
func (s *Server) authenticate(c echo.Context, ar *authn.Request) (*authn.Result, error) {
	req := c.Request()
	chain, err := s.clientCertificates(req)
	if err != nil {
		return nil, err
	}
	ar.Certificates = chain
	return s.auth.Authenticate(req.Context(), ar)
}

// tokenError logs and audits the cause and writes the public error. RFC 6749
// §5.2: a failed Basic authentication answers 401 with WWW-Authenticate: Basic.
func (s *Server) tokenError(c echo.Context, err error, ev *audit.Event, start time.Time) error {
	oe := errorFor(err)
	ev.Outcome, ev.Reason = oe.Code, causeOf(oe)
	s.audit(*ev)
	method := ev.Method
	if method == "" {
		method = authn.ClaimedNone
	}
	s.metrics.failures.WithLabelValues(method, oe.Code).Inc()
	s.metrics.latency.WithLabelValues("refused").Observe(time.Since(start).Seconds())
	clientID := ev.ClientID
	if oe.Code == "invalid_client" {
		if scheme, _, _ := strings.Cut(c.Request().Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Basic") {
			oe.Challenge = `Basic realm="tokenbroker", charset="UTF-8"`
		}
	}
	level := s.log.Info
	if oe.Status >= 500 {
		level = s.log.Error
	}
	level("token request refused", "request_id", ev.RequestID, "client_id", clientID, "method", ev.Method, "error", oe.Code, "reason", audit.Clip(causeOf(oe), audit.MaxField), "remote", ev.Source, "peer", ev.Peer)
	writeError(c, oe)
	return nil
}

func causeOf(oe *Error) string {
	if oe.Cause != nil {
		return oe.Cause.Error()
	}
	return oe.Description
}

// clientCertificates returns the caller's certificate chain
// (certs.FromRequest): a certificate header counts only from a trusted proxy.
func (s *Server) clientCertificates(r *http.Request) (*certs.Presented, error) {
	p, err := certs.FromRequest(r, s.cfg.Proxy)
	switch {
	case errors.Is(err, certs.ErrUntrustedCertHeader):
		s.log.Warn("client certificate header from an untrusted peer refused", "remote", r.RemoteAddr)
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "client certificate headers are accepted only from trusted proxies", err)
	case err != nil:
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "malformed client certificate header", err)
	}
	return p, nil
}

// peerIP is the TCP peer's address.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientIP is Echo's IPExtractor: the address rate limits, the audit trail
// and the logs attribute a request to. It is the TCP peer, except when the
// peer is a trusted proxy: then the client address that proxy forwarded
// (certs.ProxyExtractor.ClientAddr) — never a header from anyone else.
func (s *Server) clientIP(r *http.Request) string {
	if s.cfg.Proxy == nil {
		return peerIP(r)
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return peerIP(r)
	}
	return s.cfg.Proxy.ClientAddr(peer.Addr(), r.Header).String()
}
