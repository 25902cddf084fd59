// Package dpop is OAuth 2.0 Demonstrating Proof of Possession (DPoP,
// RFC 9449) proofs, both ends: a Prover signs proofs with a client's key,
// a Verifier checks them exactly as RFC 9449 §4.3 says, for the token
// endpoint (broker) and for resource servers (authn/resource) alike.
//
// All cryptography is go-jose's: a proof is a compact JWS whose protected
// header carries the public key (jwk) that signed it; the binding a token
// gets is that key's RFC 7638 thumbprint (cnf.jkt, RFC 9449 §6.1).
//
// Client side:
//
//	p, err := dpop.NewProver(key) // *ecdsa.PrivateKey, ed25519.PrivateKey, *rsa.PrivateKey or any crypto.Signer of those
//	proof, err := p.Proof("POST", "https://auth.example.com/token", "", nonce)
//	req.Header.Set("DPoP", proof)
//
// Server side:
//
//	v, err := dpop.NewVerifier(dpop.WithReplay(cache), dpop.WithNonces(nonces))
//	proof, err := v.Verify(ctx, r.Header.Values("DPoP"), r.Method, dpop.HTU(r, base), accessToken)
//	switch {
//	case errors.Is(err, dpop.ErrUseNonce): // 400 use_dpop_nonce + DPoP-Nonce: nonces.Nonce(now)
//	case err != nil: // 400 invalid_dpop_proof (401 + WWW-Authenticate: DPoP at a resource server)
//	}
//
// The token endpoint splits Verify in two: Check (everything that needs no
// shared state, before client authentication) and Spend (the jti, recorded
// once the client authenticated, so that an unauthenticated caller cannot
// fill the replay cache).
//
// The package depends on no backend: the replay cache and the nonce source
// are small interfaces (ReplayCache, NonceSource) the caller implements,
// e.g. over backends/state, so the client kit can use the Prover without
// pulling in the server.
package dpop
