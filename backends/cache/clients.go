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

// Warmer is implemented by backends that can load every client in a few
// bulk calls (AWS BatchGetSecretValue); the broker primes its cache with them
// at start so steady-state token issuance makes no backend calls.
type Warmer interface {
	WarmClients(ctx context.Context) ([]*ClientEntry, error)
}

// Warm primes the cache from w and returns how many clients it loaded.
func (c *Clients) Warm(ctx context.Context, w Warmer) (int, error) {
	entries, err := w.WarmClients(ctx)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		c.Prime(e.Client.ClientID, e)
	}
	return len(entries), nil
}
