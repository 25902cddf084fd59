// Package backends defines the data tokenbroker keeps — client records (RFC 7591
// metadata), client secrets and the broker's signing keys — and the small store
// interfaces every backend implements: file (the embedded default), Vault and
// AWS Secrets Manager. The cache subpackage wraps any Store so the token
// endpoint never waits on a backend; backendtest holds the conformance suite;
// signing signs access tokens with keys from any of them. The model itself
// holds no crypto.
//
// Records decode strictly (DecodeClient: exact member names, no duplicates or
// case variants, reserved names refused, bounded size and depth) wherever they
// come from; a stored record that does not is ErrInvalidRecord for that client.
// Each record carries the operator's Ceiling, which self-management narrows
// within and never widens.
//
// The token endpoint needs a client's record and secrets together: a
// ClientEntry, which the cache loads per client and primes at start from a
// backend that is a Warmer (lists every client in a few bulk calls). This
// package is the bottom of its layer: it imports no backend, cache, authn or
// broker code (internal/layering checks it).
//
// Each backend package registers itself from init (Register, a Driver over
// its own settings struct); the process runtime opens whichever the
// configuration's backend type names, and the configuration names the keys
// of backend.NAME after the settings' fields. Adding a backend is one
// package and one blank import (broker/runtime/backends.go).
//
//	store, err := file.New("/var/lib/tokenbroker")
//	c, err := store.GetClient(ctx, "payments-api")
//	if errors.Is(err, backends.ErrNotFound) { … }
package backends
