// Package interop holds no code, only tests against independent
// implementations of what tokenbroker speaks — today panva's oauth4webapi
// (npm, Node ≥ 20) for DPoP (RFC 9449): a proof made by that library gets a
// DPoP-bound token from a real broker and passes the resource middleware,
// and a proof made by the client kit (authn/tokensource) passes that
// library's resource-server check (validateJwtAccessToken) pointed at the
// broker's metadata and JWKS.
//
// The Node side lives in node/ (package.json and package-lock.json pin the
// versions; node_modules is never committed). Install it once, then run the
// tests:
//
//	(cd internal/interop/node && npm ci)
//	go test ./internal/interop
//
// Without node or node_modules the tests skip, unless TB_TEST_REQUIRE_NODE=1
// (set by .ci/test), when they fail.
package interop
