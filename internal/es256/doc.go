// Package es256 signs and verifies ES256 (ECDSA P-256 with SHA-256, RFC 7518
// §3.4) about twice as fast as crypto/ecdsa, for the token endpoint's hot
// paths: signing every access token, verifying private_key_jwt assertions
// and the DPoP proofs (RFC 9449) of keys admitted after their client
// authenticated (authn/dpop).
// It is internal: the one fenced exception to "crypto comes from the
// standard library", nobody's API.
//
// It is ECDSA as FIPS 186-5 §6.4 defines it, built from constant-time
// primitives: point arithmetic is filippo.io/nistec (the same assembly as
// Go's crypto/internal/fips140/nistec) and scalar arithmetic
// filippo.io/bigmod (Go's constant-time modular arithmetic). It takes a
// SHA-256 digest and R ‖ S signature bytes and knows nothing of JWS: the
// header rules (alg, crit, b64) and the signing input live with the callers
// (authn/internal/jws).
//
//	key, err := es256.New(priv)         // *ecdsa.PrivateKey on P-256
//	sig, err := key.Sign(digest[:])     // 64 bytes, R ‖ S
//	pub, err := es256.NewPublicKey(&priv.PublicKey)
//	ok := pub.Verify(digest[:], sig)
//
// Signing (Key) differs from crypto/ecdsa in where the time goes:
//
//   - The per-signature nonce k is hedged (as in crypto/ecdsa and
//     draft-irtf-cfrg-det-sigs-with-noise): SHA-512 over a domain label, the
//     private key, 32 fresh bytes from crypto/rand and the digest, then
//     rejection sampling (FIPS 186-5 A.3.2) instead of an HMAC-DRBG per
//     signature. k depends on the message and on fresh randomness, so neither
//     a failed RNG nor a cloned VM can make two messages share a nonce.
//   - k⁻¹ is computed as b·(k·b)⁻¹ with a fresh random blinding factor b: the
//     inversion itself runs in math/big (variable time) but only ever sees k·b,
//     which is uniformly distributed and independent of k.
//
// Nothing is precomputed or cached between signatures except the private
// scalar.
//
// Verification (PublicKey) handles only public values, so it may run in
// variable time: a per-key table of multiples (~50 KB) replaces the
// doublings of the variable-base multiplication; Tables keeps tables for the
// keys in use. Tests hold its verdicts to every vector of Project
// Wycheproof's ecdsa_secp256r1_sha256_p1363_test.json (testdata/wycheproof,
// Apache-2.0) and to crypto/ecdsa's, including a fuzz target.
//
// In FIPS 140-3 mode (crypto/fips140.Enabled: GODEBUG=fips140=on or a
// GOFIPS140 build) the package switches its own arithmetic off, signing and
// verification alike: Key signs and PublicKey verifies with crypto/ecdsa, no
// table is built, and Tables leaves every verification to the caller's
// standard path. Callers need no check of their own.
package es256
