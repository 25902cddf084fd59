package backends

import "context"

// ClientEntry is what the token endpoint needs about one client: its record
// and its secrets, loaded together and never mutated once handed out (the
// client cache shares one entry between requests).
type ClientEntry struct {
	Client  *Client
	Secrets *SecretSet // empty, never nil, for clients without secrets
	// Template names the operator's client template this entry was
	// synthesized from (a workload identity matched a pattern); "" for a
	// registered client. Audit events carry it.
	Template string
}

// Warmer is implemented by backends that can load every client in a few
// bulk calls (AWS BatchGetSecretValue); the client cache is primed with them
// at start so steady-state token issuance makes no backend calls.
type Warmer interface {
	// WarmClients returns every client it could read. When some could not
	// be read (other than records that fail validation, refused one by one
	// on use) it returns those it read and an error wrapping ErrIncomplete.
	WarmClients(ctx context.Context) ([]*ClientEntry, error)
}
