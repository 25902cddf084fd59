// Package broker is tokenbroker's OAuth 2.0 authorization server: the Echo
// server and its endpoints (token, RFC 8414 metadata, JWKS, RFC 7662
// introspection, RFC 7009 revocation, RFC 7591/7592 registration), the
// policy that decides scopes, audiences and lifetimes, and the one OAuth
// error type with its single mapping to RFC 6749 §5.2 responses. Access
// tokens are minted and verified by authn/accesstoken with keys from a
// signing.Keyring (backends/signing: local keys by default, or
// Config.Signing); the caller's certificate is read by certs.FromRequest.
// Echo types stop here.
//
//	srv, err := broker.New(ctx, broker.Config{Issuer: "https://auth.example.com", Logger: log}, store)
//	defer srv.Close()
//	err = srv.Serve(ctx, listener, broker.TLSConfig(broker.StaticCertificate(cert), false)) // see cmd/tokenbroker
package broker
