// Package awssm is the AWS Secrets Manager backend. It uses the SDK's default
// credential chain (environment, shared config/profile, web identity/IRSA,
// instance role), a region, and an optional endpoint override.
//
// Layout (prefix default "tokenbroker"):
//
//	<prefix>/clients/<client_id>   one secret per client: the RFC 7591 client record's members,
//	                               plus "client_secret" (a plain secret) or "client_secrets"
//	                               (the broker's hashed secrets) and "registration_token_hash"
//	<prefix>/signing-keys          the local signing key set (next/active/retired), or
//	<prefix>/signing-key           one signing key per version, driven by version stages
//	                               (StagedKeys; signing source "aws-version-stages")
//
// Rotation follows AWS version stages: a client's AWSCURRENT and AWSPENDING
// secrets are both accepted while a rotation is in progress, and AWSPREVIOUS
// for a grace period. Writes are check-and-set: the ClientRequestToken of a
// write is derived from the version it replaces, so two writers that read the
// same version cannot both succeed.
//
//	s, err := awssm.New(ctx, awssm.Config{Region: "eu-west-1"})
package awssm
