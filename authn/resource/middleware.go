package resource

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
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

// Check runs everything the route requires on r — the token in the
// Authorization header (Bearer, RFC 6750 §2.1, or DPoP, RFC 9449 §7.1),
// Verify, the scheme fitting the token's binding (RFC 9449 §7.2), the
// scopes, introspection when asked for — and returns the claims. Its errors
// are for Refuse.
func (g *Guard) Check(r *http.Request) (*Claims, error) {
	scheme, tok, err := credentials(r)
	if err != nil {
		return nil, err
	}
	claims, err := g.v.verify(r.Context(), r, tok, true, scheme)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && scheme == schemeDPoP {
			e.dpop = true // the mechanism the request used carries the error (RFC 9449 §7.2)
		}
		return nil, err
	}
	for _, s := range g.rt.scopes {
		if !claims.HasScope(s) {
			return nil, &Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "the token lacks a required scope", Scope: strings.Join(g.rt.scopes, " "), dpop: scheme == schemeDPoP}
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

// Accepted adds to the response of a request Check accepted what it
// carries: with DPoP nonces on, a fresh DPoP-Nonce for a DPoP-bound token,
// so the client's next proof has one without a use_dpop_nonce round trip
// (RFC 9449 §9, as §8.2 for the token endpoint).
func (g *Guard) Accepted(w http.ResponseWriter, claims *Claims) {
	if n := g.v.cfg.DPoP.Nonces; n != nil && claims.DPoPBound() {
		w.Header().Set(dpop.NonceHeader, n.Nonce(time.Now()))
	}
}

// Refuse answers a request Check refused, per RFC 6750 §3, and logs why.
func (g *Guard) Refuse(w http.ResponseWriter, r *http.Request, err error) { g.v.writeError(w, r, err) }

// writeError answers per RFC 6750 §3 and RFC 9449 §7.1, §9.
func (v *Verifier) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "internal error", cause: err}
	}
	v.log.Info("request refused", "path", r.URL.Path, "error", e.Code, "reason", e.Error(), "remote", r.RemoteAddr)
	w.Header().Set("WWW-Authenticate", v.challenges(e))
	if e.nonce && v.cfg.DPoP.Nonces != nil {
		w.Header().Set(dpop.NonceHeader, v.cfg.DPoP.Nonces.Nonce(time.Now()))
	}
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
			g.Accepted(w, claims)
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), claims)))
		})
	}
}
