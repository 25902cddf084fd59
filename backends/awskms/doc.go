// Package awskms is the "aws-kms" signing source: access tokens signed by
// asymmetric AWS KMS keys whose private halves never leave KMS (FIPS 140-3
// validated HSMs). ES256 uses an ECC_NIST_P256 key (KMS answers DER, which
// is converted to the R‖S form of RFC 7518 §3.4), RS256 and PS256 an
// RSA_2048/3072/4096 key. Each token costs exactly one KMS call: Sign with
// MessageType DIGEST over the SHA-256 of the JWS signing input.
//
// Keys and rotation. Settings.Key names the signing key: an alias
// (alias/tokenbroker) or a key id or ARN. KMS cannot rotate asymmetric keys
// in place, so rotation ("tokenbroker keys rotate", Source.Rotate) creates
// a key, points <alias>-previous at the current target and the alias at
// the new key. The source publishes the alias target, the -previous target
// and Settings.Keys; after the alias moved (its LastUpdatedDate, read with
// ListAliases) the previous key keeps signing for PublishDelay
// (keys.jwks_max_age: publish before use), then the new key signs and the
// previous one stays published until its tokens have expired. Everything
// is read from KMS, so every replica decides alike. The kid is "kms-" and
// a 128-bit SHA-256 prefix of the key ARN (no account id in the JWKS).
//
// Limits. KMS enforces a per-account request quota for asymmetric Sign.
// Calls are bounded (Settings.Concurrency in flight, MaxQueue waiting,
// QueueWait at most); a ThrottlingException opens a jittered exponential
// backoff; what cannot be signed in time fails with a
// *signing.UnavailableError that the token endpoint answers 503
// temporarily_unavailable with Retry-After — never a hang, never a 500.
// Latency, throttles and the queue are reported to signing.Options.Observer.
// The bound is a Limiter, which a process shares across the sources it
// opens (Settings.Limiter) so that it outlives configuration reloads.
//
// Start-up (Ensure) checks DescribeKey, GetPublicKey and one Sign that must
// verify, naming the key and the missing permission on failure; a disabled
// key or one pending deletion fails it.
//
//	m, err := signing.Open(ctx, store, signing.Options{Source: awskms.SigningSource, Alg: "ES256",
//		PublishDelay: 5 * time.Minute, MaxLifetime: 15 * time.Minute,
//		Settings: awskms.Settings{Key: "alias/tokenbroker", Region: "eu-west-1"}})
//	if err != nil { … }
//	if _, err := m.Ensure(ctx); err != nil { … } // the start-up check
//
// backends/awskms/kmstest is the local KMS endpoint the tests use.
package awskms
