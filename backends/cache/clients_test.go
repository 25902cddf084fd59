package cache_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/file"
)

// countingStore counts the backend reads behind a file store.
type countingStore struct {
	*file.Store
	clients, secrets atomic.Int64
}

func (s *countingStore) GetClient(ctx context.Context, id string) (*backends.Client, error) {
	s.clients.Add(1)
	return s.Store.GetClient(ctx, id)
}

func (s *countingStore) GetSecrets(ctx context.Context, id string) (*backends.SecretSet, error) {
	s.secrets.Add(1)
	return s.Store.GetSecrets(ctx, id)
}

// Review 2 item 10: the first lookup of an id takes the same backend calls
// (one GetClient, one GetSecrets) whether the client exists, has no secrets,
// does not exist, or is refused (an invalid record, a record the validator
// refuses); afterwards each answer is cached.
func TestFirstLookupCostsTheSameBackendCalls(t *testing.T) {
	fs, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"with-secrets", "without-secrets", "refused"} {
		if err := fs.CreateClient(ctx, &backends.Client{ClientID: id, TokenEndpointAuthMethod: backends.AuthClientSecretBasic}); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.PutSecrets(ctx, "with-secrets", &backends.SecretSet{Secrets: []backends.Secret{{Hash: backends.HashSecret("s")}}}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fs.Dir(), "clients", "undecodable.json"), []byte(`{"client_id":`), 0o600); err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Store: fs}
	c := cache.NewClients(store, cache.Options{Logger: quiet()}, cache.WithValidator(func(rec *backends.Client) error {
		if rec.ClientID == "refused" {
			return errors.New("refused by the validator")
		}
		return nil
	}))
	defer c.Close()
	for _, tc := range []struct {
		id   string
		want error
	}{
		{"with-secrets", nil},
		{"without-secrets", nil},
		{"no-such-client", backends.ErrNotFound},
		{"undecodable", backends.ErrInvalidRecord},
		{"refused", backends.ErrInvalidRecord},
	} {
		t.Run(tc.id, func(t *testing.T) {
			cl, se := store.clients.Load(), store.secrets.Load()
			for range 2 {
				if _, err := c.Get(ctx, tc.id); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
					t.Fatalf("Get = %v, want %v", err, tc.want)
				}
			}
			if n, m := store.clients.Load()-cl, store.secrets.Load()-se; n != 1 || m != 1 {
				t.Fatalf("%d GetClient and %d GetSecrets for two lookups, want 1 and 1", n, m)
			}
		})
	}
}
