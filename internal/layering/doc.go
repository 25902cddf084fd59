// Package layering holds no code, only the test that keeps tokenbroker's
// layers pointing down (docs/architecture.md, "The layers"):
//
//	cmd → broker → authn → backends → certs
//
// with internal/ below them all (nobody's API: the ES256 primitive, the
// refresh loop, the JSON appenders). It reads the import graph with
// `go list -deps -json` and fails on any import that points up, and on the
// narrower rules:
//
//   - no backend (file, vault, awssm, state, …) imports the cache that wraps
//     it; the backends model imports no other backends package;
//   - authn imports no cache: it owns the small ClientSource interface the
//     cache implements;
//   - certs and internal/ import nothing above them;
//   - the client kit (authn/tokensource) pulls in neither the broker, the
//     backends nor Echo;
//   - no library (broker, authn, backends, certs) imports internal/config:
//     configuration keys are named there and mapped to typed options by
//     the process runtime (broker/runtime), which sits beside the broker.
//
// Run it with the rest of the suite:
//
//	go test ./internal/layering
package layering
