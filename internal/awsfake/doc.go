// Package awsfake holds what the tests' local AWS endpoints
// (backends/awssm/awssmtest, backends/awskms/kmstest) share beyond the
// SigV4 check (internal/sigv4check): the per-operation call counts tests
// assert on ("one KMS Sign per token", "the cache made no backend call").
// Test support only; no production code imports it.
package awsfake
