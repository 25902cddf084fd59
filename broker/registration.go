package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tokenbroker/tokenbroker/backends"
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

// MarshalJSON merges the client's own JSON (with its unknown members) and the extra members.
func (r registrationResponse) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(r.Client)
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
	return append(append(b[:len(b)-1], ','), extra[1:]...), nil
}

func (s *Server) registrationURI(id string) string { return s.base + PathRegister + "/" + id }

func (s *Server) registered(reg *Registered) registrationResponse {
	out := registrationResponse{Client: reg.Client, RegistrationToken: reg.RegistrationToken, RegistrationClientURI: s.registrationURI(reg.Client.ClientID)}
	if reg.Secret != "" {
		never := int64(0) // RFC 7591 §3.2.1: 0 = does not expire
		out.ClientSecret, out.ClientSecretExpiresAt = reg.Secret, &never
	}
	return out
}

// register is RFC 7591 §3.1, guarded by an initial access token (§3.1, Bearer).
func (s *Server) register(c echo.Context) error {
	tok, ok := bearer(c)
	if !ok || !s.validInitialToken(tok) {
		return s.regError(c, s.regAuthFailed(c, "", bearerErr("initial access token required")))
	}
	md, err := s.readMetadata(c)
	if err != nil {
		return s.regError(c, err)
	}
	// The server assigns identifiers (RFC 7591 §3.2.1); a requested one is ignored.
	md.ClientID = ""
	if err := s.checkSelfService(md); err != nil {
		return s.regError(c, err)
	}
	reg, err := s.registry.Create(c.Request().Context(), md)
	if err != nil {
		return s.regError(c, err)
	}
	s.log.Info("client registered", "client_id", reg.Client.ClientID, "method", reg.Client.TokenEndpointAuthMethod, "remote", c.RealIP())
	noStore(c)
	return writeJSON(c, http.StatusCreated, s.registered(reg))
}

// readClient is RFC 7592 §2.1.
func (s *Server) readClient(c echo.Context) error {
	id, err := s.checkRAT(c)
	if err != nil {
		return s.regError(c, err)
	}
	cl, err := s.registry.Get(c.Request().Context(), id)
	if err != nil {
		return s.regError(c, err)
	}
	noStore(c)
	return writeJSON(c, http.StatusOK, registrationResponse{Client: cl, RegistrationClientURI: s.registrationURI(id)})
}

// updateClient is RFC 7592 §2.2: the body replaces the metadata.
func (s *Server) updateClient(c echo.Context) error {
	id, err := s.checkRAT(c)
	if err != nil {
		return s.regError(c, err)
	}
	md, err := s.readMetadata(c)
	if err != nil {
		return s.regError(c, err)
	}
	if md.ClientID != id {
		// RFC 7592 §2.2: the client_id member is required and must match.
		return s.regError(c, &MetadataError{"client_id", "must be present and match the client being updated"})
	}
	if err := s.checkSelfService(md); err != nil {
		return s.regError(c, err)
	}
	// "disabled" is the operator's switch: a client cannot re-enable itself.
	cur, err := s.registry.Get(c.Request().Context(), id)
	if err != nil {
		return s.regError(c, err)
	}
	md.Disabled = cur.Disabled
	reg, err := s.registry.Update(c.Request().Context(), id, md)
	if err != nil {
		return s.regError(c, err)
	}
	s.log.Info("client updated", "client_id", id, "remote", c.RealIP())
	noStore(c)
	return writeJSON(c, http.StatusOK, s.registered(reg))
}

// deleteClient is RFC 7592 §2.3.
func (s *Server) deleteClient(c echo.Context) error {
	id, err := s.checkRAT(c)
	if err != nil {
		return s.regError(c, err)
	}
	if err := s.registry.Delete(c.Request().Context(), id); err != nil {
		return s.regError(c, err)
	}
	s.log.Info("client deleted", "client_id", id, "remote", c.RealIP())
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
	// A disabled client cannot manage itself either.
	if cl, err := s.registry.Get(c.Request().Context(), id); err == nil && cl.Disabled {
		return "", bearerErr("client is disabled")
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

func (s *Server) readMetadata(c echo.Context) (*backends.Client, error) {
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get("Content-Type"))
	if mt != "application/json" {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", "content type must be application/json", nil)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, s.cfg.MaxBodyBytes))
	if err != nil {
		return nil, oauthErr(http.StatusRequestEntityTooLarge, "invalid_request", "request body too large", err)
	}
	return DecodeMetadata(body)
}

// DecodeMetadata decodes RFC 7591 client metadata from untrusted JSON.
func DecodeMetadata(body []byte) (*backends.Client, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var md backends.Client
	if err := dec.Decode(&md); err != nil {
		return nil, &MetadataError{Field: fieldOf(err), Reason: "malformed JSON or wrong type"}
	}
	if dec.More() {
		return nil, &MetadataError{Field: "(body)", Reason: "trailing data after the JSON object"}
	}
	return &md, nil
}

func fieldOf(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return te.Field
	}
	return "(body)"
}

func bearer(c echo.Context) (string, bool) {
	h := c.Request().Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 1024 {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

func bearerErr(desc string) *Error {
	e := oauthErr(http.StatusUnauthorized, "invalid_token", desc, nil)
	e.Challenge = `Bearer realm="tokenbroker", error="invalid_token"`
	return e
}

func (s *Server) regError(c echo.Context, err error) error {
	var me *MetadataError
	var oe *Error
	switch {
	case errors.As(err, &me):
		// RFC 7591 §3.2.2.
		oe = oauthErr(http.StatusBadRequest, "invalid_client_metadata", me.Error(), err)
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
	writeError(c, oe)
	return nil
}

func noStore(c echo.Context) {
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Pragma", "no-cache")
}

// checkSelfService keeps self-registration from granting itself audiences:
// allowed_resources and default_audience must come from the operator's
// registration.allowed_resources list.
func (s *Server) checkSelfService(md *backends.Client) error {
	for _, r := range md.AllowedResources {
		if !slices.Contains(s.cfg.RegistrationResources, r) {
			return &MetadataError{"allowed_resources", fmt.Sprintf("%q is not one the operator allows clients to register (registration.allowed_resources)", r)}
		}
	}
	if a := md.DefaultAudience; a != "" && !slices.Contains(s.cfg.RegistrationResources, a) {
		return &MetadataError{"default_audience", fmt.Sprintf("%q is not one the operator allows clients to register", a)}
	}
	return nil
}
