// Package policy decides what an authenticated client gets at the token
// endpoint: scopes ⊆ registered (RFC 6749 §3.3), each resource one of the
// client's allowed audiences (RFC 8707), a lifetime ≤ the client's maximum ≤
// the configured maximum ≤ HardMaxLifetime (15 minutes), and the
// certificate binding of mTLS clients (RFC 8705 §3). It knows nothing of
// HTTP: a refusal is an *Error carrying the OAuth error code, which the
// broker turns into its response.
//
//	p := policy.Policy{DefaultAudience: "https://api.example.com", Lifetime: 5 * time.Minute}
//	grant, err := p.Decide(res, form.Get("scope"), form["resource"]) // res: authn.Result
//	var pe *policy.Error
//	if errors.As(err, &pe) {
//		// 400 pe.Code (invalid_scope, invalid_target …)
//	}
//	token, claims, err := accesstoken.Mint(ctx, signer, issuer, grant, now)
package policy
