package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tokenbroker/tokenbroker/backends"
)

// Clients caches client records with their secrets.
type Clients struct {
	*Cache[*backends.ClientEntry]
	validate func(*backends.Client) error
	log      *slog.Logger
}

// ClientsOption configures NewClients.
type ClientsOption func(*Clients)

// WithValidator re-validates every record loaded from the backend (warm
// start included). A record it refuses is cached as
// backends.ErrInvalidRecord: that one client is refused, the backend is not
// considered down.
func WithValidator(validate func(*backends.Client) error) ClientsOption {
	return func(c *Clients) { c.validate = validate }
}

// NewClients returns a client cache over store. Each load reads the record
// and the secrets, also for a client that is not found or refused (the
// secrets answer is then ignored): the first lookup of any id takes the same
// backend calls.
func NewClients(store backends.Store, opt Options, opts ...ClientsOption) *Clients {
	cl := &Clients{}
	for _, o := range opts {
		o(cl)
	}
	load := func(ctx context.Context, id string) (*backends.ClientEntry, error) {
		c, err := store.GetClient(ctx, id)
		if err == nil {
			err = cl.check(c)
		}
		if errors.Is(err, backends.ErrNotFound) || errors.Is(err, backends.ErrInvalidRecord) {
			// The secrets read a client that exists costs, spent (and its
			// answer ignored) for one that does not or is refused: the first
			// lookup of any id takes the same backend calls, so its latency
			// does not tell which ids exist.
			_, _ = store.GetSecrets(ctx, id)
			return nil, err
		}
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
		return &backends.ClientEntry{Client: c, Secrets: s}, nil
	}
	cl.Cache = New(load, opt)
	cl.log = cl.Cache.opt.Logger
	return cl
}

// check applies the validator, if any.
func (c *Clients) check(rec *backends.Client) error {
	if c.validate == nil {
		return nil
	}
	if err := c.validate(rec); err != nil {
		return fmt.Errorf("client %q: %w: %w", rec.ClientID, backends.ErrInvalidRecord, err)
	}
	return nil
}

// Warm primes the cache from w (a backend that lists its clients in bulk)
// and returns how many clients it loaded.
// Records the validator refuses are left out (and logged): they load, and
// are refused, one by one on first use.
func (c *Clients) Warm(ctx context.Context, w backends.Warmer) (int, error) {
	entries, err := w.WarmClients(ctx)
	if err != nil && !errors.Is(err, backends.ErrIncomplete) {
		return 0, err
	}
	// Incomplete: prime what was read; the rest load one by one on first use.
	n := 0
	for _, e := range entries {
		if err := c.check(e.Client); err != nil {
			c.log.Warn("warm start: invalid client record left out", "client_id", e.Client.ClientID, "err", err)
			continue
		}
		c.Prime(e.Client.ClientID, e)
		n++
	}
	return n, err
}
