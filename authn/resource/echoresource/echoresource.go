package echoresource

import (
	"github.com/labstack/echo/v4"

	"github.com/tokenbroker/tokenbroker/authn/resource"
)

// ContextKey is where Middleware stores the claims in the Echo context (c.Get).
const ContextKey = "tokenbroker.claims"

// Middleware protects Echo routes with v: the route's checks
// (resource.Verifier.Guard), RFC 6750 §3 errors. The claims are in
// c.Get(ContextKey) and, for resource.FromContext, in the request's context.
func Middleware(v *resource.Verifier, opts ...resource.Option) echo.MiddlewareFunc {
	g := v.Guard(opts...)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			claims, err := g.Check(r)
			if err != nil {
				g.Refuse(c.Response(), r, err)
				return nil
			}
			g.Accepted(c.Response(), claims)
			c.Set(ContextKey, claims)
			c.SetRequest(r.WithContext(resource.NewContext(r.Context(), claims)))
			return next(c)
		}
	}
}

// Claims returns the claims Middleware stored in c.
func Claims(c echo.Context) (*resource.Claims, bool) {
	claims, ok := c.Get(ContextKey).(*resource.Claims)
	return claims, ok
}
