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
// DPoP-bound tokens (RFC 9449 §7) are accepted with "Authorization: DPoP" and
// a proof of the token's key for this request (authn/dpop), never as bearer
// tokens (§7.2); Config.DPoP tunes the proofs' URL behind a proxy, the
// replay store shared by replicas and server nonces (§9).
//
// Errors follow RFC 6750 §3 and RFC 9449 §7.1: 401 with WWW-Authenticate
// naming both schemes — error="invalid_token", "invalid_dpop_proof" or
// "use_dpop_nonce" in the challenge of the scheme the request used — and
// 403 with error="insufficient_scope".
package resource
