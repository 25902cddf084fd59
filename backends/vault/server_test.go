package vault_test

import (
	"os"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends/vault/vaulttest"
)

// shared is the package's Vault: file storage, so the outage tests can kill
// and restart it with its data; transit for the signing tests.
var shared = vaulttest.Shared(vaulttest.FileStorage(), vaulttest.Mount("transit", "transit"))

// server returns the package's shared Vault, starting it once.
func server(t testing.TB) *vaulttest.Server {
	t.Helper()
	return shared.Get(t)
}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
}
