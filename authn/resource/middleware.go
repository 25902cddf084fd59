package resource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// Option configures one protected route.
type Option func(*route)

type route struct {
	scopes     []string
	introspect bool
}

// Scopes requires every one of the scopes.
func Scopes(s ...string) Option { return func(r *route) { r.scopes = append(r.scopes, s...) } }

// WithIntrospection asks the issuer about every token on this route, so a
// revoked token is refused at once (costs a round trip per request).
func WithIntrospection() Option { return func(r *route) { r.introspect = true } }

type ctxKey struct{}

// FromContext returns the verified claims stored by the middleware.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Claims)
	return c, ok
}

// EchoContextKey is where the Echo middleware also stores the claims (c.Get).
const EchoContextKey = "tokenbroker.claims"

// check runs everything a route requires and returns the claims.
func (v *Verifier) check(r *http.Request, rt *route) (*Claims, error) {
	tok, err := bearerToken(r)
	if err != nil {
		return nil, err
	}
	claims, err := v.Verify(r.Context(), r, tok)
	if err != nil {
		return nil, err
	}
	for _, s := range rt.scopes {
		if !claims.HasScope(s) {
			return nil, &Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the token lacks a required scope", Scope: strings.Join(rt.scopes, " ")}
		}
	}
	if rt.introspect {
		if v.cfg.Introspection == nil {
			return nil, &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "introspection not configured"}
		}
		if err := v.introspect(r.Context(), tok); err != nil {
			return nil, err
		}
	}
	return claims, nil
}

// bearerToken reads RFC 6750 §2.1 "Authorization: Bearer <token>"; tokens in
// the query string or the body are not accepted.
func bearerToken(r *http.Request) (string, error) {
	hs := r.Header.Values("Authorization")
	if len(hs) == 0 {
		return "", &Error{Status: http.StatusUnauthorized, Description: "bearer token required"}
	}
	if len(hs) > 1 {
		return "", &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one Authorization header"}
	}
	scheme, tok, ok := strings.Cut(hs[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", &Error{Status: http.StatusUnauthorized, Description: "bearer token required"}
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "malformed Authorization header"}
	}
	return tok, nil
}

// writeError answers per RFC 6750 §3.
func (v *Verifier) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "internal error", cause: err}
	}
	v.log.Info("request refused", "path", r.URL.Path, "error", e.Code, "reason", e.Error(), "remote", r.RemoteAddr)
	chal := `Bearer realm="` + v.cfg.Issuer + `"`
	if e.Code != "" && e.Code != "server_error" && e.Code != "temporarily_unavailable" {
		chal += fmt.Sprintf(`, error=%q, error_description=%q`, e.Code, e.Description)
	}
	if e.Scope != "" {
		chal += fmt.Sprintf(`, scope=%q`, e.Scope)
	}
	w.Header().Set("WWW-Authenticate", chal)
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, e.Description, e.Status)
}

// Middleware protects a net/http handler.
func (v *Verifier) Middleware(opts ...Option) func(http.Handler) http.Handler {
	rt := &route{}
	for _, o := range opts {
		o(rt)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, err := v.check(r, rt)
			if err != nil {
				v.writeError(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, claims)))
		})
	}
}

// Echo protects Echo routes; the claims are in c.Get(EchoContextKey) and the request context.
func (v *Verifier) Echo(opts ...Option) echo.MiddlewareFunc {
	rt := &route{}
	for _, o := range opts {
		o(rt)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			claims, err := v.check(r, rt)
			if err != nil {
				v.writeError(c.Response(), r, err)
				return nil
			}
			c.Set(EchoContextKey, claims)
			c.SetRequest(r.WithContext(context.WithValue(r.Context(), ctxKey{}, claims)))
			return next(c)
		}
	}
}
