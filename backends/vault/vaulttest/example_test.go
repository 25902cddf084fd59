package vaulttest_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends/vault/vaulttest"
)

// One Vault for a test: dev mode with a transit engine, stopped at cleanup.
// (Examples without output are compiled, not run: this one needs a binary.)
func ExampleStart() {
	var t *testing.T // the test's
	v := vaulttest.Start(t, vaulttest.Mount("transit", "transit"))
	fmt.Println(v.URL(), v.RootToken())
}

// A Vault on file storage shared by a package, for outage tests.
func ExampleShared() {
	shared := vaulttest.Shared(vaulttest.FileStorage())
	defer shared.Close() // in TestMain, after m.Run

	var t *testing.T // a test's
	v := shared.Get(t)
	v.Kill() // an outage
	if err := v.Restart(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// TLS for a login with a client certificate: trust CACert.
func ExampleTLS() {
	var t *testing.T // the test's
	v := vaulttest.Start(t, vaulttest.TLS())
	fmt.Println(v.URL(), v.CACert())
}
