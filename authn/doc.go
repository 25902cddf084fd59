// Package authn authenticates OAuth clients at the token endpoint, in two
// steps. Identify works out, verifying nothing, which client a request
// claims to be and with which method (the Basic user name, the client
// assertion's sub, or the client_id parameter) — the Identity that rate
// limits, metrics and the audit trail use; Authenticate begins with that
// same step, worked out once per Request, then loads the client's record
// and verifies the credentials against it. Each client authentication
// method (RFC 6749 §2.3.1 secrets, RFC 7523 private_key_jwt, RFC 8705
// mutual TLS) is one Method in its own file; the Authenticator enforces the
// rules that span them: a request carries exactly one method, the method is
// the one the client registered, and every failure looks the same from
// outside. Clients come from a ClientSource, the small interface authn owns
// so that it depends on no cache: the broker hands in its client cache.
// JWKSFetcher fetches clients' jwks_uri documents (HTTPS, bounded, public
// addresses only).
//
//	a, err := authn.New(clients, []authn.Method{authn.ClientSecretBasic(), authn.ClientSecretPost()})
//	r := &authn.Request{Form: form, Authorization: req.Header.Get("Authorization")}
//	res, err := a.Authenticate(ctx, r)
//	switch {
//	case errors.Is(err, authn.ErrInvalidRequest): // 400 invalid_request
//	case errors.Is(err, authn.ErrInvalidClient):  // 401 invalid_client
//	case errors.Is(err, backends.ErrUnavailable): // 503 temporarily_unavailable
//	}
//	claimed, _ := a.Identify(r) // who the refusal is counted against
package authn
