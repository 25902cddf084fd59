// Package proctest is what the launchers of real servers for tests
// (backends/vault/vaulttest, authn/spiffe/spiretest) share: finding a
// binary the .ci build script cached, skipping — or, in CI, failing — a
// test when it is missing, and starting a server process that logs to a
// file and dies with the test binary.
//
//	d := proctest.Cached("vault-v1.21.0", "vault")
//	if d == "" {
//		proctest.Unavailable(t, "Vault", "TB_TEST_REQUIRE_VAULT", errNoBinary)
//	}
//	cmd := exec.Command(filepath.Join(d, "vault"), "server", "-dev")
//	if err := proctest.Start(cmd, logPath, false); err != nil { … }
//
// It is test support: only *test packages and _test files import it.
package proctest
