package broker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/broker/audit"
	"github.com/tokenbroker/tokenbroker/broker/policy"
	"github.com/tokenbroker/tokenbroker/broker/registry"
)

// Endpoint paths, relative to the issuer.
const (
	PathToken      = "/token"
	PathJWKS       = "/jwks.json"
	PathMetadata   = "/.well-known/oauth-authorization-server"
	PathRegister   = "/register"
	PathIntrospect = "/introspect"
	PathRevoke     = "/revoke"
)

// The client cache is the authenticator's client source (authn owns the interface).
var _ authn.ClientSource = (*cache.Clients)(nil)

// Server is the authorization server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	clients  *cache.Clients
	tokens   *ownTokens // mints, verifies and publishes this broker's tokens
	auth     *authn.Authenticator
	registry *registry.Registry
	policy   policy.Policy
	echo     *echo.Echo
	metadata []byte
	base     string // issuer without a trailing slash
	state    state.Store
	metrics  *Metrics
	admin    http.Handler
	ready    stateProbe
	limits   *limiter
	dpop     *dpop.Verifier // RFC 9449 proofs at the token endpoint
	htus     []string       // the token endpoint's URIs (dpopHTUs)
}

// Option configures optional parts of a Server.
type Option func(*options)

type options struct {
	cacheOpt cache.Options
}

// WithCache sets the client cache options.
func WithCache(o cache.Options) Option { return func(op *options) { op.cacheOpt = o } }

// New builds a Server over store. It loads the signing keys (which must exist:
// see signing.Manager.Ensure) and validates cfg.
func New(ctx context.Context, cfg Config, store backends.Store, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var op options
	for _, o := range opts {
		o(&op)
	}
	if op.cacheOpt.Logger == nil {
		op.cacheOpt.Logger = cfg.Logger
	}
	s := &Server{cfg: cfg, log: cfg.Logger, base: strings.TrimSuffix(cfg.Issuer, "/"), state: cfg.State,
		policy: policy.Policy{DefaultAudience: cfg.DefaultAudience, Lifetime: cfg.TokenLifetime, MaxLifetime: cfg.MaxTokenLifetime}}
	if s.state == nil {
		s.state = state.NewMemory(1_000_000)
	}
	var err error
	if s.tokens, err = openOwnTokens(ctx, cfg, store); err != nil {
		return nil, err
	}
	// Every record loaded is re-validated: a bad one refuses its client only.
	s.clients = cache.NewClients(store, op.cacheOpt, cache.WithValidator(func(c *backends.Client) error { return s.registry.Validate(c) }))
	var src authn.ClientSource = s.clients
	if cfg.WrapClients != nil {
		src = cfg.WrapClients(src)
	}
	if s.auth, err = authn.New(src, cfg.Methods); err != nil {
		s.Close()
		return nil, err
	}
	s.registry = registry.New(store, registry.Config{
		Methods:              s.auth.Methods(),
		ScopesSupported:      cfg.ScopesSupported,
		MaxLifetime:          cfg.MaxTokenLifetime,
		DefaultLifetime:      cfg.TokenLifetime,
		RotationGrace:        cfg.SecretRotationGrace,
		OnChange:             s.clients.Invalidate,
		Audit:                func(ev audit.Event) { _ = s.audit(ev) }, // failures are logged and counted by s.audit
		SelfServiceResources: cfg.RegistrationResources,
		ReservedSANURI:       cfg.ReservedSANURI,
	})
	s.warm(ctx, store) // after the registry: the warm start validates too
	if s.dpop, err = s.newDPoP(); err != nil {
		s.Close()
		return nil, err
	}
	s.htus = s.dpopHTUs()
	if s.metadata, err = s.buildMetadata(); err != nil {
		s.Close()
		return nil, err
	}
	s.metrics = cfg.Metrics
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.metrics.attach(s)
	s.limits = &limiter{RateLimits: cfg.RateLimits, limited: s.metrics.limited, log: s.log}
	s.echo = s.routes()
	s.admin = s.adminRoutes()
	return s, nil
}

// warm loads every client into the cache when the store can list them at
// once. Not fatal: clients load one by one on first use instead.
func (s *Server) warm(ctx context.Context, store backends.Store) {
	w, ok := store.(backends.Warmer)
	if !ok {
		return
	}
	if n, err := s.clients.Warm(ctx, w); errors.Is(err, backends.ErrIncomplete) {
		s.log.Warn("warm start incomplete; the rest load on first use", "clients", n, "err", err)
	} else if err != nil {
		s.log.Warn("warm start failed; clients will load on first use", "err", err)
	} else {
		s.log.Info("warm start", "clients", n)
	}
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Registry returns the client registry the server writes through.
func (s *Server) Registry() *registry.Registry { return s.registry }

// Degraded reports whether client data may be served stale.
func (s *Server) Degraded() bool { return s.clients.Degraded() }

// Close stops background work; safe to call twice.
func (s *Server) Close() error {
	if s.metrics != nil {
		s.metrics.detach(s)
	}
	if s.clients != nil {
		s.clients.Close()
	}
	if s.tokens != nil {
		s.tokens.keys.Close()
	}
	return nil
}

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// The TCP peer, or the address a trusted proxy forwarded: never a
	// forwarding header from anyone else.
	e.IPExtractor = s.clientIP
	e.HTTPErrorHandler = s.httpError
	e.POST(PathToken, s.token)
	e.POST(PathIntrospect, s.introspect)
	e.POST(PathRevoke, s.revoke)
	e.GET(PathMetadata, s.serveMetadata)
	e.GET(PathJWKS, s.serveJWKS)
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", s.readyz)
	if len(s.cfg.InitialAccessTokenHashes) > 0 {
		e.POST(PathRegister, s.register)
		e.GET(PathRegister+"/:client_id", s.readClient)
		e.PUT(PathRegister+"/:client_id", s.updateClient)
		e.DELETE(PathRegister+"/:client_id", s.deleteClient)
	}
	return e
}

func (s *Server) readyz(c echo.Context) error {
	code, body := s.readiness(c.Request().Context())
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.String(code, body)
}

// httpError turns Echo's own errors (404, 405, 413 …) and anything unexpected
// into RFC 6749 §5.2 JSON.
func (s *Server) httpError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	var oe *Error
	switch {
	case errors.As(err, &oe):
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusMethodNotAllowed:
			oe = oauthErr(he.Code, "invalid_request", "method not allowed", err)
		case http.StatusRequestEntityTooLarge:
			oe = oauthErr(he.Code, "invalid_request", "request body too large", err)
		case http.StatusNotFound:
			oe = oauthErr(he.Code, "not_found", "no such endpoint", nil)
		default:
			oe = oauthErr(http.StatusBadRequest, "invalid_request", "bad request", err)
		}
	default:
		oe = errorFor(err)
	}
	if oe.Status >= 500 {
		s.log.Error("request failed", "path", c.Path(), "code", oe.Code, "err", oe.Cause)
	}
	writeError(c, oe)
}

func writeError(c echo.Context, oe *Error) {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if oe.Challenge != "" {
		h.Set("WWW-Authenticate", oe.Challenge)
	}
	if oe.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(oe.retryAfter))
	}
	if oe.dpopNonce != "" {
		h.Set("DPoP-Nonce", oe.dpopNonce)
	}
	if oe.Status == http.StatusMethodNotAllowed {
		h.Set("Allow", allowFor(c.Request().URL.Path))
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(oe.Status)
		return
	}
	_ = c.JSON(oe.Status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{oe.Code, oe.Description})
}

func allowFor(path string) string {
	switch {
	case path == PathToken, path == PathRegister, path == PathIntrospect, path == PathRevoke:
		return http.MethodPost
	case strings.HasPrefix(path, PathRegister+"/"):
		return "GET, PUT, DELETE"
	}
	return http.MethodGet
}

func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Blob(status, echo.MIMEApplicationJSON, b)
}
