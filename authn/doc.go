// Package authn authenticates OAuth clients at the token endpoint. Each client
// authentication method (RFC 6749 §2.3.1 secrets, RFC 7523 private_key_jwt,
// RFC 8705 mutual TLS) is one Method in its own file; the Authenticator
// enforces the rules that span them: a request carries exactly one method, the
// method is the one the client registered, and every failure looks the same
// from outside. Clients come from a ClientSource, the small interface authn
// owns so that it depends on no cache: the broker hands in its client cache.
// Request.Claimed names the client and method a request claims, verifying
// nothing (for failure limits, metrics and the audit trail, never for trust);
// JWKSFetcher fetches clients' jwks_uri documents (HTTPS, bounded, public
// addresses only).
//
//	a, err := authn.New(clients, []authn.Method{authn.ClientSecretBasic(), authn.ClientSecretPost()})
//	res, err := a.Authenticate(ctx, &authn.Request{Form: form, Authorization: r.Header.Get("Authorization")})
//	switch {
//	case errors.Is(err, authn.ErrInvalidRequest): // 400 invalid_request
//	case errors.Is(err, authn.ErrInvalidClient):  // 401 invalid_client
//	case errors.Is(err, backends.ErrUnavailable): // 503 temporarily_unavailable
//	}
package authn
