package registry_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/broker/registry"
)

// An operator registers a client; the client's own update may narrow its
// scope but never go beyond what the operator granted.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "registry")
	defer os.RemoveAll(dir)
	store, _ := file.New(dir)
	ctx := context.Background()
	reg := registry.New(store, registry.Config{Methods: []string{backends.AuthClientSecretBasic}})
	r, err := reg.Create(ctx, &backends.Client{ClientID: "billing", Scope: "read write"}, registry.WithRegistrationToken())
	fmt.Println(r.Client.ClientID, r.Secret != "", r.RegistrationToken != "", err)

	md, _ := registry.DecodeMetadata([]byte(`{"client_id":"billing","scope":"read"}`))
	r, err = reg.SelfUpdate(ctx, "billing", md)
	fmt.Println(r.Client.Scope, err)

	md, _ = registry.DecodeMetadata([]byte(`{"client_id":"billing","scope":"admin"}`))
	_, err = reg.SelfUpdate(ctx, "billing", md)
	var me *registry.MetadataError
	fmt.Println(errors.As(err, &me), me.Field)
	// Output:
	// billing true true <nil>
	// read <nil>
	// true scope
}
