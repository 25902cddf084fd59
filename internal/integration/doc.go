// Package integration holds no code, only the tests that start whole
// brokers: a broker.Server with its real file backend, served over real TLS
// on loopback and driven by real clients (net/http, x/oauth2), behind a
// real nginx, on a real Redis shared by two replicas; a few drive a whole
// broker's handler in process over each backend (a record written behind
// the registry's back, in the file store and in Secrets Manager's local
// endpoint, awssmtest). The tests of one
// package's internals stay beside that package (broker, broker/runtime,
// authn, …); what needs the whole request path lives here.
//
// The shared harness is in env_test.go:
//
//   - newEnv(t, opts...) starts a broker (a file store in t.TempDir(), an
//     ES256 key, a server CA, two client CAs with the same name, a CRL,
//     every client authentication method) on two loopback listeners, the
//     issuer and the RFC 8705 §5 mTLS alias, and stops it in t.Cleanup,
//     failing the test if any secret or token it handed out reached a log;
//   - an envOpt edits the broker.Config and cache.Options before the
//     broker starts;
//   - e.client registers a client, e.post / e.postVia send token requests,
//     e.verify checks a token against the published JWKS, e.leafCert and
//     e.withCert make mTLS clients; startNginx (nginx_test.go) puts a real
//     nginx in front of an env.
//
// To add a test, write a new file here in package integration_test, named
// after the feature, that calls newEnv (with an envOpt for anything the
// feature configures) and drives the broker through its endpoints only. A
// test needing nginx or Redis (backends/state/statetest) skips when the
// binary is missing unless TB_TEST_REQUIRE_NGINX or TB_TEST_REQUIRE_REDIS
// is set, as in CI (.ci/test):
//
//	TB_TEST_REQUIRE_NGINX=1 TB_TEST_REQUIRE_REDIS=1 go test -race ./internal/integration
package integration
