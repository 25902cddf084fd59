package file_test

import (
	"context"
	"fmt"
	"os"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/file"
)

func ExampleNew() {
	dir, _ := os.MkdirTemp("", "tokenbroker-example")
	defer os.RemoveAll(dir)
	store, err := file.New(dir)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_ = store.CreateClient(ctx, &backends.Client{ClientID: "billing", TokenEndpointAuthMethod: backends.AuthClientSecretBasic, Scope: "read"})
	c, _ := store.GetClient(ctx, "billing")
	fmt.Println(c.ClientID, c.Scope)
	// Output: billing read
}
