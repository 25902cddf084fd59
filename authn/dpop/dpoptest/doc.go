// Package dpoptest forges DPoP proofs for tests: any header, any claims,
// signed (ES256) or not — the proofs a conforming Prover never makes, to
// check that a verifier refuses each (RFC 9449 §4.3).
//
//	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
//	proof := dpoptest.Forge(t, k, map[string]any{"typ": "JWT"}, dpoptest.Claims("POST", "https://as.example/token", time.Now()))
package dpoptest
