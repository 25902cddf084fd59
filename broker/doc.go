// Package broker is tokenbroker's OAuth 2.0 authorization server: the Echo
// server and its endpoints (token, RFC 8414 metadata, JWKS, RFC 7591/7592
// registration), the policy that decides scopes, audiences and lifetimes, the
// RFC 9068 access-token minter over a signing.Keyring (backends/signing: local
// keys by default, or Config.Signing), and the one OAuth error type with its
// single mapping to RFC 6749 §5.2 responses. Echo types stop here.
//
//	srv, err := broker.New(cfg, store, broker.WithLogger(log))
//	defer srv.Close()
//	err = srv.Serve(ctx, listener) // TLS listener; see cmd/tokenbroker
package broker
