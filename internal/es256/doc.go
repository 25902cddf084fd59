// Package es256 signs and verifies ES256 (ECDSA P-256 with SHA-256, RFC 7518
// §3.4) about twice as fast as crypto/ecdsa, for the token endpoint's hot
// paths: signing every access token, verifying private_key_jwt assertions.
//
// It is ECDSA as FIPS 186-5 §6.4 defines it, built from constant-time
// primitives: point arithmetic is filippo.io/nistec (the same assembly as
// Go's crypto/internal/fips140/nistec) and scalar arithmetic
// filippo.io/bigmod (Go's constant-time modular arithmetic).
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
// scalar. When Go runs in FIPS 140-3 mode (GODEBUG=fips140=on) callers should
// use crypto/ecdsa instead; backends.NewLocalSigner does.
//
// Verification (PublicKey) handles only public values, so it may run in
// variable time: a per-key table of multiples (~50 KB) replaces the
// doublings of the variable-base multiplication; authn keeps tables for the
// keys in use. Tests check its verdicts against crypto/ecdsa, including a
// fuzz target.
package es256
