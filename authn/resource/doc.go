// Package resource is the resource-server side of tokenbroker: net/http
// middleware that accepts only valid RFC 9068 access tokens from one issuer
// and — RFC 8705 §3 — only from the client holding the certificate a token is
// bound to. Tokens are checked by authn/accesstoken (the same rules the
// broker applies to its own), the caller's certificate is read by
// certs.FromRequest (TLS handshake, or a trusted proxy's header). Echo users
// take the adapter in authn/resource/echoresource; this package does not
// import Echo.
//
//	v, err := resource.New(ctx, resource.Config{Issuer: "https://auth.example.com", Audience: "https://api.example.com"})
//	defer v.Close()
//	mux.Handle("/orders", v.Middleware(resource.Scopes("orders:read"))(ordersHandler))
//	srv := &http.Server{Handler: mux, ConnContext: certs.ConnContext} // optional: derive each client certificate once per connection
//	// in the handler:
//	claims, _ := resource.FromContext(r.Context())
//
// Errors follow RFC 6750 §3: 401 with WWW-Authenticate: Bearer error="invalid_token",
// 403 with error="insufficient_scope".
package resource
