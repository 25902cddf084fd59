package signing_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// Open the local source over a file backend, create its keys, and hold
// them in a Keyring that signs access tokens.
func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "keys")
	defer os.RemoveAll(dir)
	store, err := file.New(dir)
	if err != nil {
		log.Fatal(err)
	}
	m, err := signing.Open(ctx, store, signing.Options{Source: signing.LocalSource, Alg: "ES256",
		PublishDelay: 5 * time.Minute, MaxLifetime: 15 * time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Ensure(ctx); err != nil {
		log.Fatal(err)
	}
	ring, err := signing.NewKeyring(ctx, m, signing.WithRefresh(time.Minute), signing.WithType("at+jwt"))
	if err != nil {
		log.Fatal(err)
	}
	defer ring.Close()
	list, _ := m.List(ctx)
	for _, k := range list {
		fmt.Println(k.Alg, k.State)
	}
	fmt.Println(ring.Active().Alg())
	// Output:
	// ES256 active
	// ES256 next
	// ES256
}
