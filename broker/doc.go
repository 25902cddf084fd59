// Package broker is tokenbroker's OAuth 2.0 authorization server, the HTTP
// face: the Echo server and its endpoints — token (RFC 6749 §4.4), RFC 8414
// metadata, JWKS, RFC 7662 introspection, RFC 7009 revocation, RFC
// 7591/7592 registration, health and readiness — with the failure rate
// limits and the one OAuth error type mapped to RFC 6749 §5.2 responses.
// Echo types stop here. What the endpoints decide lives beside it, in
// packages of their own: authn identifies and verifies the client,
// broker/policy decides scopes, audiences and lifetimes, broker/registry
// keeps the client records (strict metadata, the operator ceiling), and
// broker/audit writes the trail. Access tokens are minted and verified by
// authn/accesstoken with keys from a signing.Keyring (backends/signing:
// local keys by default, or Config.Signing); the caller's certificate is
// read by certs.FromRequest.
//
//	srv, err := broker.New(ctx, broker.Config{Issuer: "https://auth.example.com", Logger: log}, store)
//	defer srv.Close()
//	err = srv.Serve(ctx, listener, broker.TLSConfig(broker.StaticCertificate(cert), false)) // see cmd/tokenbroker
package broker
