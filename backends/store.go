package backends

import (
	"context"
	"errors"
)

// Sentinel errors every backend returns (wrapped) for the decisions callers make.
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("backends: not found")
	// ErrExists: a create found the record already there.
	ErrExists = errors.New("backends: already exists")
	// ErrConflict: a check-and-set write found a newer revision than the one it read.
	ErrConflict = errors.New("backends: revision conflict")
	// ErrUnavailable: the backend could not be reached; the caller may serve stale data.
	ErrUnavailable = errors.New("backends: unavailable")
	// ErrInvalidRecord: the record exists but does not decode or validate. It
	// refuses that one client (401 invalid_client, cause logged); it is not an
	// outage, so caches remember it like ErrNotFound and stay ready.
	ErrInvalidRecord = errors.New("backends: invalid record")
	// ErrIncomplete: a bulk read (Warmer) could not read some records; what
	// it returns is usable but not the whole registry, so a caller that
	// decides on absence (no client holds this identity) must not trust it.
	ErrIncomplete = errors.New("backends: bulk read incomplete")
)

// ClientStore holds client records.
type ClientStore interface {
	// GetClient returns the client with its Revision set, or ErrNotFound.
	GetClient(ctx context.Context, id string) (*Client, error)
	// ListClients returns every client id, sorted.
	ListClients(ctx context.Context) ([]string, error)
	// CreateClient stores a new client or returns ErrExists.
	CreateClient(ctx context.Context, c *Client) error
	// UpdateClient replaces a client if its stored revision is still c.Revision,
	// else returns ErrConflict (check-and-set: two writers never silently overwrite).
	UpdateClient(ctx context.Context, c *Client) error
	// DeleteClient removes a client and its secrets; ErrNotFound if absent.
	DeleteClient(ctx context.Context, id string) error
}

// SecretStore holds client secrets, kept apart from the records so that a
// policy can grant read on records without read on secrets.
type SecretStore interface {
	// GetSecrets returns the client's secrets or ErrNotFound.
	GetSecrets(ctx context.Context, clientID string) (*SecretSet, error)
	// PutSecrets replaces the client's secrets (check-and-set on Revision; an
	// empty Revision means "must not exist yet").
	PutSecrets(ctx context.Context, clientID string, s *SecretSet) error
}

// KeyStore holds the broker's own signing key set.
type KeyStore interface {
	// GetKeySet returns the key set or ErrNotFound when none was created yet.
	GetKeySet(ctx context.Context) (*KeySet, error)
	// PutKeySet replaces the key set (check-and-set on Revision; empty means create).
	PutKeySet(ctx context.Context, ks *KeySet) error
}

// Store is what a backend provides.
type Store interface {
	ClientStore
	SecretStore
	KeyStore
	// Close releases the backend; safe to call twice.
	Close() error
}
