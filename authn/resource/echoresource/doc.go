// Package echoresource adapts the resource middleware (authn/resource) to
// Echo. It lives apart so that net/http users of authn/resource do not pull
// in Echo.
//
//	v, err := resource.New(ctx, resource.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com"})
//	e.GET("/admin", admin, echoresource.Middleware(v, resource.Scopes("admin"), resource.WithIntrospection()))
//	// in the handler:
//	claims, _ := echoresource.Claims(c) // or resource.FromContext(c.Request().Context())
package echoresource
