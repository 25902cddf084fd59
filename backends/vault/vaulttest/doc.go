// Package vaulttest starts a real Vault server (the pinned v1.21.0 build) for
// tests: the one launcher every test that needs Vault uses.
//
// The binary is TB_TEST_VAULT_BIN, else the cache .ci/vault-tool/build.sh
// fills (~/.cache/tokenbroker/vault-v1.21.0/vault). Without one a test is
// skipped, unless TB_TEST_REQUIRE_VAULT is set: then it fails (.ci/test sets
// both).
//
// Two modes:
//   - dev (the default): in memory, root token "root", KV v2 at secret/;
//     with TLS, the server certificate is signed by a CA in CACert.
//   - FileStorage: initialised and unsealed by the launcher, KV v2 at
//     secret/, data on disk — so the server can be killed (Kill), frozen
//     (Hang, Resume) and brought back with its data (Restart), as outage
//     tests need.
//
// One server per test:
//
//	func TestTransit(t *testing.T) {
//		v := vaulttest.Start(t, vaulttest.Mount("transit", "transit"))
//		store, err := vault.New(ctx, vault.Config{Address: v.URL(), Auth: vault.Token(v.RootToken())})
//		...
//	}
//
// One server shared by a package (started on first use, stopped in TestMain):
//
//	var shared = vaulttest.Shared(vaulttest.FileStorage())
//
//	func TestMain(m *testing.M) { code := m.Run(); shared.Close(); os.Exit(code) }
//
//	func TestOutage(t *testing.T) {
//		v := shared.Get(t)
//		v.Kill()
//		if err := v.Restart(); err != nil { t.Fatal(err) }
//	}
package vaulttest
