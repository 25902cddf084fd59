package cache

import (
	"context"
	"errors"

	"github.com/tokenbroker/tokenbroker/backends"
)

// ClientEntry is what the token endpoint needs about one client: its record
// and its secrets, loaded together and never mutated once cached.
type ClientEntry struct {
	Client  *backends.Client
	Secrets *backends.SecretSet // empty, never nil, for clients without secrets
}

// Clients caches client records with their secrets.
type Clients struct {
	*Cache[*ClientEntry]
}

// NewClients returns a client cache over store.
func NewClients(store backends.Store, opt Options) *Clients {
	load := func(ctx context.Context, id string) (*ClientEntry, error) {
		c, err := store.GetClient(ctx, id)
		if err != nil {
			return nil, err
		}
		s, err := store.GetSecrets(ctx, id)
		if errors.Is(err, backends.ErrNotFound) {
			s, err = &backends.SecretSet{}, nil
		}
		if err != nil {
			return nil, err
		}
		return &ClientEntry{Client: c, Secrets: s}, nil
	}
	return &Clients{New(load, opt)}
}
