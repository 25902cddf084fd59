package broker

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker/audit"
	"github.com/tokenbroker/tokenbroker/broker/registry"
)

// registrationResponse is RFC 7591 §3.2.1 / RFC 7592 §3: the metadata plus
// the credentials and management members.
type registrationResponse struct {
	*backends.Client
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationToken     string `json:"registration_access_token,omitempty"`
	RegistrationClientURI string `json:"registration_client_uri"`
}

// MarshalJSON merges the client's own JSON (with its unknown members) and the
// extra members. Every member appears once: the extra ones are reserved names
// that Client.MarshalJSON refuses in Extra. The operator's members (disabled,
// operator_ceiling) are not client metadata and stay out, so a client can
// send back what it read (RFC 7592 §2.2).
func (r registrationResponse) MarshalJSON() ([]byte, error) {
	pub := r.Client.Clone()
	pub.Disabled, pub.Ceiling = false, nil
	b, err := backends.MarshalCompact(pub)
	if err != nil {
		return nil, err
	}
	extra, err := json.Marshal(struct {
		ClientSecret          string `json:"client_secret,omitempty"`
		ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
		RegistrationToken     string `json:"registration_access_token,omitempty"`
		RegistrationClientURI string `json:"registration_client_uri"`
	}{r.ClientSecret, r.ClientSecretExpiresAt, r.RegistrationToken, r.RegistrationClientURI})
	if err != nil {
		return nil, err
	}
	if len(b) == 2 {
		return extra, nil
	}
	return append(append(b[:len(b)-1], ','), extra[1:]...), nil
}

func (s *Server) registrationURI(id string) string { return s.base + PathRegister + "/" + id }

func (s *Server) registered(reg *registry.Registered) registrationResponse {
	out := registrationResponse{Client: reg.Client, RegistrationToken: reg.RegistrationToken, RegistrationClientURI: s.registrationURI(reg.Client.ClientID)}
	if reg.Secret != "" {
		never := int64(0) // RFC 7591 §3.2.1: 0 = does not expire
		out.ClientSecret, out.ClientSecretExpiresAt = reg.Secret, &never
	}
	return out
}

// regAudit records one registration event (RFC 7591/7592 writes and their refusals).
func (s *Server) regAudit(c echo.Context, event, clientID string, cl *backends.Client, oe *Error) {
	ev := audit.Event{Time: time.Now().UTC(), Event: event, RequestID: requestID(c.Request()), ClientID: clientID, Outcome: "success", Source: c.RealIP()}
	if cl != nil {
		ev.Method, ev.Scope = cl.TokenEndpointAuthMethod, cl.Scope
	}
	if oe != nil {
		ev.Outcome, ev.Reason = oe.Code, causeOf(oe)
	}
	s.audit(ev)
}

// register is RFC 7591 §3.1, guarded by an initial access token (§3.1, Bearer).
func (s *Server) register(c echo.Context) error {
	const event = audit.EventClientRegistered
	tok, ok := bearer(c)
	if !ok || !s.validInitialToken(tok) {
		return s.regError(c, event, "", s.regAuthFailed(c, "", bearerErr("initial access token required")))
	}
	md, secret, err := s.readMetadata(c)
	if err != nil {
		return s.regError(c, event, "", err)
	}
	if secret != nil {
		// RFC 7591 §3.2.1: the server issues the secret.
		return s.regError(c, event, "", &registry.MetadataError{Field: "client_secret", Reason: "issued by the server; a client cannot choose it"})
	}
	// The server assigns identifiers (RFC 7591 §3.2.1); a requested one is ignored.
	md.ClientID = ""
	if err := s.registry.CheckSelfService(md); err != nil {
		return s.regError(c, event, "", err)
	}
	// Each initial access token may register so many clients per second:
	// without a bound one holder registers sybils until their per-client
	// shares fill the shared state (see state.Memory's floor).
	if e := s.limits.take(c.Request().Context(), "register", registrationKey(tok), s.limits.Registrations, nil); e != nil {
		return s.regError(c, event, "", e)
	}
	// The ceiling is what this registration was allowed to register.
	reg, err := s.registry.Create(c.Request().Context(), md, registry.WithRegistrationToken())
	if err != nil {
		return s.regError(c, event, "", err)
	}
	s.log.Info("client registered", "client_id", reg.Client.ClientID, "method", reg.Client.TokenEndpointAuthMethod, "remote", c.RealIP())
	s.regAudit(c, event, reg.Client.ClientID, reg.Client, nil)
	noStore(c)
	return writeJSON(c, http.StatusCreated, s.registered(reg))
}

// readClient is RFC 7592 §2.1.
func (s *Server) readClient(c echo.Context) error {
	id, err := s.checkRAT(c)
	if err != nil {
		return s.regError(c, "", "", err)
	}
	cl, err := s.registry.Get(c.Request().Context(), id)
	if err != nil {
		return s.regError(c, "", id, err)
	}
	noStore(c)
	return writeJSON(c, http.StatusOK, registrationResponse{Client: cl, RegistrationClientURI: s.registrationURI(id)})
}

// updateClient is RFC 7592 §2.2: the body replaces the metadata, within the
// operator's ceiling, check-and-set on the revision SelfUpdate reads.
func (s *Server) updateClient(c echo.Context) error {
	const event = audit.EventClientUpdated
	id, err := s.checkRAT(c)
	if err != nil {
		return s.regError(c, event, audit.Clip(c.Param("client_id"), 128), err)
	}
	md, secret, err := s.readMetadata(c)
	if err != nil {
		return s.regError(c, event, id, err)
	}
	if md.ClientID != id {
		// RFC 7592 §2.2: the client_id member is required and must match.
		return s.regError(c, event, id, &registry.MetadataError{Field: "client_id", Reason: "must be present and match the client being updated"})
	}
	if secret != nil {
		// RFC 7592 §2.2: a client_secret sent back must be the current one.
		ok, err := s.registry.CheckSecret(c.Request().Context(), id, *secret)
		if err != nil {
			return s.regError(c, event, id, err)
		}
		if !ok {
			return s.regError(c, event, id, &registry.MetadataError{Field: "client_secret", Reason: "does not match the current secret; a client cannot choose its secret"})
		}
	}
	reg, err := s.registry.SelfUpdate(c.Request().Context(), id, md)
	if err != nil {
		return s.regError(c, event, id, err)
	}
	s.log.Info("client updated", "client_id", id, "remote", c.RealIP())
	s.regAudit(c, event, id, reg.Client, nil)
	noStore(c)
	return writeJSON(c, http.StatusOK, s.registered(reg))
}

// deleteClient is RFC 7592 §2.3.
func (s *Server) deleteClient(c echo.Context) error {
	const event = audit.EventClientDeleted
	id, err := s.checkRAT(c)
	if err != nil {
		return s.regError(c, event, audit.Clip(c.Param("client_id"), 128), err)
	}
	if err := s.registry.Delete(c.Request().Context(), id); err != nil {
		return s.regError(c, event, id, err)
	}
	s.log.Info("client deleted", "client_id", id, "remote", c.RealIP())
	s.regAudit(c, event, id, nil, nil)
	return c.NoContent(http.StatusNoContent)
}

// checkRAT verifies the registration access token for the path's client.
// RFC 7592 §2: an unknown client and a wrong token both answer 401.
func (s *Server) checkRAT(c echo.Context) (string, error) {
	id := c.Param("client_id")
	tok, ok := bearer(c)
	if !ok {
		return "", s.regAuthFailed(c, id, bearerErr("registration access token required"))
	}
	if err := s.registry.CheckRegistrationToken(c.Request().Context(), id, tok); err != nil {
		if errors.Is(err, backends.ErrUnavailable) {
			return "", err
		}
		return "", s.regAuthFailed(c, id, bearerErr("invalid registration access token"))
	}
	// A disabled client cannot manage itself either (SelfUpdate checks again
	// on the revision it writes against).
	if cl, err := s.registry.Get(c.Request().Context(), id); err == nil && cl.Disabled {
		return "", registry.ErrDisabled
	}
	return id, nil
}

func (s *Server) validInitialToken(tok string) bool {
	ok := false
	for _, h := range s.cfg.InitialAccessTokenHashes {
		ok = backends.VerifyToken(tok, h) || ok
	}
	return ok
}

// readMetadata reads a registration request body: the metadata, and the
// client_secret member when one was sent (RFC 7592 §2.2 allows the current one).
func (s *Server) readMetadata(c echo.Context) (*backends.Client, *string, error) {
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	if mt != "application/json" {
		return nil, nil, oauthErr(http.StatusBadRequest, "invalid_request", "content type must be application/json", nil)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return nil, nil, oauthErr(http.StatusRequestEntityTooLarge, "invalid_request", "request body too large", err)
	}
	return registry.DecodeUpdate(body)
}

// bearer is the RFC 6750 §2.1 token of the request (an initial or a
// registration access token, RFC 7591 §3 / RFC 7592 §3), bounded.
func bearer(c echo.Context) (string, bool) {
	scheme, tok, ok := accesstoken.ParseAuthorization(c.Request().Header.Get("Authorization"))
	if !ok || !strings.EqualFold(scheme, "Bearer") || len(tok) > 1024 {
		return "", false
	}
	return tok, true
}

func bearerErr(desc string) *Error {
	e := oauthErr(http.StatusUnauthorized, "invalid_token", desc, nil)
	e.Challenge = `Bearer realm="tokenbroker", error="invalid_token"`
	return e
}

// regError writes the RFC 7591 §3.2.2 / RFC 7592 error for err and, for a
// write (event set), records the refusal in the audit trail.
func (s *Server) regError(c echo.Context, event, clientID string, err error) error {
	var me *registry.MetadataError
	var oe *Error
	switch {
	case errors.As(err, &me):
		// RFC 7591 §3.2.2.
		oe = oauthErr(http.StatusBadRequest, "invalid_client_metadata", me.Error(), err)
	case errors.Is(err, registry.ErrDisabled):
		oe = bearerErr("client is disabled")
	case errors.Is(err, backends.ErrInvalidRecord):
		// The stored record does not validate: the operator must repair it.
		oe = bearerErr("the client's registration is invalid; ask the operator")
		oe.Cause = err
	case errors.Is(err, backends.ErrNotFound):
		oe = bearerErr("invalid registration access token")
	case errors.Is(err, backends.ErrConflict):
		oe = oauthErr(http.StatusConflict, "invalid_request", "the client was changed concurrently; read it again and retry", err)
	case errors.Is(err, backends.ErrExists):
		oe = oauthErr(http.StatusConflict, "invalid_client_metadata", "client_id already exists", err)
	default:
		oe = errorFor(err)
	}
	s.log.Info("registration request refused", "path", c.Request().URL.Path, "error", oe.Code, "reason", causeOf(oe), "remote", c.RealIP())
	if event != "" {
		s.regAudit(c, event, clientID, nil, oe)
	}
	writeError(c, oe)
	return nil
}

func noStore(c echo.Context) {
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Pragma", "no-cache")
}
