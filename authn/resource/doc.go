// Package resource is the resource-server side of tokenbroker: middleware
// for Echo and for net/http that accepts only valid RFC 9068 access tokens
// from one issuer and — RFC 8705 §3 — only from the client holding the
// certificate a token is bound to.
//
//	v, err := resource.New(ctx, resource.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com"})
//	defer v.Close()
//	mux.Handle("/orders", v.Middleware(resource.Scopes("orders:read"))(ordersHandler))
//	// in the handler:
//	claims, _ := resource.FromContext(r.Context())
//
// Errors follow RFC 6750 §3: 401 with WWW-Authenticate: Bearer error="invalid_token",
// 403 with error="insufficient_scope".
package resource
