package resource

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
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

// NewContext returns ctx carrying claims, for FromContext; adapters to
// other routers (echoresource) store the claims with it.
func NewContext(ctx context.Context, claims *Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, claims)
}

// Guard is one protected route's checks, for adapters to other routers
// (echoresource); net/http users call Middleware.
type Guard struct {
	v  *Verifier
	rt route
}

// Guard returns the checks of a route protected with opts.
func (v *Verifier) Guard(opts ...Option) *Guard {
	g := &Guard{v: v}
	for _, o := range opts {
		o(&g.rt)
	}
	return g
}

// Check runs everything the route requires on r — the bearer token
// (RFC 6750 §2.1), Verify, the scopes, introspection when asked for — and
// returns the claims. Its errors are for Refuse.
func (g *Guard) Check(r *http.Request) (*Claims, error) {
	tok, err := bearerToken(r)
	if err != nil {
		return nil, err
	}
	claims, err := g.v.Verify(r.Context(), r, tok)
	if err != nil {
		return nil, err
	}
	for _, s := range g.rt.scopes {
		if !claims.HasScope(s) {
			return nil, &Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the token lacks a required scope", Scope: strings.Join(g.rt.scopes, " ")}
		}
	}
	if g.rt.introspect {
		if g.v.cfg.Introspection == nil {
			return nil, &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "introspection not configured"}
		}
		if err := g.v.introspect(r.Context(), tok); err != nil {
			return nil, err
		}
	}
	return claims, nil
}

// Refuse answers a request Check refused, per RFC 6750 §3, and logs why.
func (g *Guard) Refuse(w http.ResponseWriter, r *http.Request, err error) { g.v.writeError(w, r, err) }

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
	scheme, tok, ok := accesstoken.ParseAuthorization(hs[0])
	if !strings.EqualFold(scheme, "Bearer") {
		return "", &Error{Status: http.StatusUnauthorized, Description: "bearer token required"}
	}
	if !ok {
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
	g := v.Guard(opts...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, err := g.Check(r)
			if err != nil {
				g.Refuse(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), claims)))
		})
	}
}
