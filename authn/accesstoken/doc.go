// Package accesstoken is tokenbroker's access-token profile, RFC 9068: the
// claims, minting, verification and the certificate binding (RFC 8705 §3).
// The broker mints with it and verifies its own tokens with it
// (introspection, revocation); the resource middleware (authn/resource)
// verifies with the same Verifier, so both apply one rule.
//
// Minting takes a Grant (what policy decided) and a Signer (the signing
// keys, behind one method):
//
//	tok, claims, err := accesstoken.Mint(ctx, signer, "https://auth.example.com", &accesstoken.Grant{
//		ClientID: "payments", Scopes: []string{"orders:read"}, Audience: []string{"https://api.example.com"},
//		Lifetime: 5 * time.Minute, X5tS256: certs.Thumbprint(leaf)}, time.Now())
//
// Verifying takes the issuer's published keys (a KeySet) and what a token
// must say:
//
//	v, err := accesstoken.NewVerifier(keys, accesstoken.Expected{Issuer: "https://auth.example.com", Audience: "https://api.example.com", Leeway: 30 * time.Second})
//	claims, err := v.Verify(ctx, tok, time.Now())
//	p, err := certs.FromRequest(r, proxy) // the certificate on this request
//	err = claims.CheckBinding(p)
//
// Time rule: exp is exact; Leeway lets nbf and iat lie a little ahead of
// this clock (see Verifier).
package accesstoken
