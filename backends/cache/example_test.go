package cache_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/file"
)

// A client cache that re-validates every record it loads: a record the
// validator refuses is backends.ErrInvalidRecord (refuse that client), not an outage.
func ExampleWithValidator() {
	dir, _ := os.MkdirTemp("", "cache-example")
	defer os.RemoveAll(dir)
	store, _ := file.New(dir)
	ctx := context.Background()
	store.CreateClient(ctx, &backends.Client{ClientID: "ops", TokenEndpointAuthMethod: backends.AuthClientSecretBasic, GrantTypes: []string{"password"}})

	clients := cache.NewClients(store, cache.Options{TTL: time.Minute, Logger: quiet()}, cache.WithValidator(func(c *backends.Client) error {
		for _, g := range c.GrantTypes {
			if g != backends.GrantClientCredentials {
				return fmt.Errorf("grant_types: %s", g)
			}
		}
		return nil
	}))
	defer clients.Close()
	_, err := clients.Get(ctx, "ops")
	fmt.Println(errors.Is(err, backends.ErrInvalidRecord), clients.Degraded())
	// Output: true false
}
