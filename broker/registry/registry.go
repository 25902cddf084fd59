package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker/audit"
	"github.com/tokenbroker/tokenbroker/broker/policy"
)

// Config configures client registration rules.
type Config struct {
	// Methods are the registrable token_endpoint_auth_method values.
	Methods []string
	// ScopesSupported, when set, bounds registrable scopes.
	ScopesSupported []string
	// MaxLifetime bounds access_token_lifetime.
	MaxLifetime time.Duration
	// DefaultLifetime is the lifetime of a client registered with
	// access_token_lifetime 0 (the broker's tokens.lifetime, default 5m). A
	// ceiling of 0 grants this default, so a client's own update cannot go
	// beyond it.
	DefaultLifetime time.Duration
	// RotationGrace is how long an old secret stays valid after rotate-secret.
	RotationGrace time.Duration
	// OnChange is called with a client_id after every write (cache invalidation).
	OnChange func(clientID string)
	// Audit, when set, records the writes the registry makes on its own
	// account (secret rotation); the HTTP handlers record theirs.
	Audit func(audit.Event)
	// SelfServiceResources bounds the allowed_resources and default_audience
	// a client may give itself through RFC 7591 registration
	// (CheckSelfService): audiences are the operator's to grant.
	SelfServiceResources []string
	// ReservedSANURI, when set, reports a tls_client_auth_san_uri that is a
	// workload identity a client template covers: a registered client
	// naming it would take the identity from the template (authn/template's
	// Index refuses it), so only the operator may register it — RFC 7591
	// registration refuses it (CheckSelfService).
	ReservedSANURI func(uri string) bool
}

// Registry creates, reads, updates and deletes clients in a backend. The HTTP
// registration endpoints (RFC 7591/7592) and the CLI both go through it.
type Registry struct {
	store backends.Store
	cfg   Config
}

// New returns a Registry over store.
func New(store backends.Store, cfg Config) *Registry {
	if cfg.RotationGrace == 0 {
		cfg.RotationGrace = 24 * time.Hour
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = policy.HardMaxLifetime
	}
	if cfg.DefaultLifetime == 0 {
		cfg.DefaultLifetime = policy.DefaultLifetime
	}
	if cfg.OnChange == nil {
		cfg.OnChange = func(string) {}
	}
	if cfg.Audit == nil {
		cfg.Audit = func(audit.Event) {}
	}
	return &Registry{store: store, cfg: cfg}
}

// ErrDisabled: the operator disabled the client; it cannot manage itself.
var ErrDisabled = errors.New("client is disabled")

// CreateOption adjusts Create.
type CreateOption func(*createOptions)

type createOptions struct{ managed bool }

// WithRegistrationToken issues an RFC 7592 registration access token, so the
// client can read, update (within its ceiling) and delete its registration.
// Self-registration always has one; an operator-created client only when asked.
func WithRegistrationToken() CreateOption { return func(o *createOptions) { o.managed = true } }

// Registered is the outcome of a create or a secret rotation. Secret and
// RegistrationToken are shown once and stored only as hashes.
type Registered struct {
	Client            *backends.Client
	Secret            string
	RegistrationToken string
}

// NewSecret returns 256 random bits, base64url encoded.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func newClientID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// isSecretMethod reports whether a method authenticates with a client secret.
func isSecretMethod(m string) bool {
	return m == backends.AuthClientSecretBasic || m == backends.AuthClientSecretPost
}

// Create validates md, assigns a client_id when md has none, and stores the
// client with a new secret (for secret methods) and, WithRegistrationToken, a
// registration access token. The operator ceiling is md.Ceiling, or else
// exactly what the record grants: for a self-registered client, what the
// registration policy allowed it to register. Either way a
// self_signed_tls_client_auth client's certificate is pinned to the record's
// jwks / jwks_uri (Ceiling.PinKeys).
func (r *Registry) Create(ctx context.Context, md *backends.Client, opts ...CreateOption) (*Registered, error) {
	var o createOptions
	for _, opt := range opts {
		opt(&o)
	}
	c := md.Clone()
	if c.ClientID == "" {
		c.ClientID = newClientID()
	}
	if c.TokenEndpointAuthMethod == "" {
		// RFC 7591 §2 defaults to client_secret_basic.
		c.TokenEndpointAuthMethod = backends.AuthClientSecretBasic
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{backends.GrantClientCredentials}
	}
	c.ClientIDIssuedAt = time.Now().Unix()
	if c.Ceiling == nil {
		c.Ceiling = backends.CeilingOf(c)
	}
	c.Ceiling.PinKeys(c) // the operator's record is the granted certificate
	if err := r.Validate(c); err != nil {
		return nil, err
	}
	out := &Registered{Client: c}
	set := &backends.SecretSet{}
	if o.managed {
		out.RegistrationToken = NewSecret()
		set.RegistrationTokenHash = backends.HashSecret(out.RegistrationToken)
	}
	if isSecretMethod(c.TokenEndpointAuthMethod) {
		out.Secret = NewSecret()
		set.Secrets = []backends.Secret{{Hash: backends.HashSecret(out.Secret), CreatedAt: time.Now().UTC()}}
	}
	// Secrets first: a record never exists without its credentials.
	if err := r.store.PutSecrets(ctx, c.ClientID, set); err != nil {
		if errors.Is(err, backends.ErrExists) || errors.Is(err, backends.ErrConflict) {
			return nil, fmt.Errorf("client %q: %w", c.ClientID, backends.ErrExists)
		}
		return nil, err
	}
	if err := r.store.CreateClient(ctx, c); err != nil {
		return nil, err
	}
	r.cfg.OnChange(c.ClientID)
	return out, nil
}

// Get returns a client.
func (r *Registry) Get(ctx context.Context, id string) (*backends.Client, error) {
	return r.store.GetClient(ctx, id)
}

// List returns every client id.
func (r *Registry) List(ctx context.Context) ([]string, error) { return r.store.ListClients(ctx) }

// Update is the operator's write: md replaces a client's metadata, keeping
// client_id and client_id_issued_at. If md.Revision is set it must match the
// stored revision; otherwise the current revision is used, and a concurrent
// writer still makes the store refuse (check-and-set). The ceiling is
// md.Ceiling, or else exactly what md grants; a self_signed_tls_client_auth
// certificate pin is always md's jwks / jwks_uri, so the operator rebinds a
// self-signed client here (clients update --jwks). A switch to a secret method
// without a usable secret issues one. A client's own update is SelfUpdate.
func (r *Registry) Update(ctx context.Context, id string, md *backends.Client) (*Registered, error) {
	cur, err := r.store.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	c := md.Clone()
	if c.ClientID != "" && c.ClientID != id {
		return nil, &MetadataError{"client_id", "does not match the client being updated"}
	}
	c.ClientID, c.ClientIDIssuedAt = id, cur.ClientIDIssuedAt
	if c.Revision == "" {
		c.Revision = cur.Revision
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = backends.AuthClientSecretBasic
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{backends.GrantClientCredentials}
	}
	if c.Ceiling == nil {
		c.Ceiling = backends.CeilingOf(c)
	}
	c.Ceiling.PinKeys(c) // the operator's record is the granted certificate
	if err := r.Validate(c); err != nil {
		return nil, err
	}
	// The record first: a conflict leaves nothing half-written. Then, when the
	// client switched to a secret method without a usable secret, issue one.
	if err := r.store.UpdateClient(ctx, c); err != nil {
		return nil, err
	}
	out := &Registered{Client: c}
	if isSecretMethod(c.TokenEndpointAuthMethod) {
		set, err := r.store.GetSecrets(ctx, id)
		if errors.Is(err, backends.ErrNotFound) {
			set, err = &backends.SecretSet{}, nil
		}
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(set.Secrets, func(s backends.Secret) bool { return s.Active(time.Now()) }) {
			out.Secret = NewSecret()
			set.Secrets = append(set.Secrets, backends.Secret{Hash: backends.HashSecret(out.Secret), CreatedAt: time.Now().UTC()})
			if err := r.store.PutSecrets(ctx, id, set); err != nil {
				return nil, err
			}
		}
	}
	r.cfg.OnChange(id)
	return out, nil
}

// SelfUpdate is RFC 7592 §2.2 for the client itself: md replaces the
// metadata within the operator's ceiling (narrow), never beyond it. The
// operator's fields (disabled, the ceiling, client_id_issued_at) and the
// revision come from the one read here, and the write is check-and-set on
// that revision: an operator change made meanwhile makes it fail with
// ErrConflict, never silently undone. A record without a ceiling (written
// before ceilings existed, or by the backend's own tooling) has its current
// values as the ceiling, stored from now on; so does a self-signed client's
// certificate when its ceiling predates certificate pins.
func (r *Registry) SelfUpdate(ctx context.Context, id string, md *backends.Client) (*Registered, error) {
	cur, err := r.store.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	if cur.Disabled {
		return nil, ErrDisabled
	}
	ceil := cur.Ceiling
	switch {
	case ceil == nil:
		ceil = backends.CeilingOf(cur)
	case ceil.TokenEndpointAuthMethod == backends.AuthSelfSignedTLSClient && !ceil.PinsKeys():
		// A ceiling from before certificates were pinned: the stored
		// certificate is the grant, pinned from now on.
		ceil = ceil.Clone()
		ceil.PinKeys(cur)
	}
	c := md.Clone()
	if c.ClientID != "" && c.ClientID != id {
		return nil, &MetadataError{"client_id", "does not match the client being updated"}
	}
	c.ClientID, c.ClientIDIssuedAt, c.Disabled, c.Ceiling, c.Revision = id, cur.ClientIDIssuedAt, cur.Disabled, ceil, cur.Revision
	// The federated subject is the operator's, like the ceiling: never set,
	// changed or dropped by the client itself.
	c.FederatedSubject = cur.FederatedSubject
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{backends.GrantClientCredentials}
	}
	if err := narrow(c, cur, ceil, r.cfg.DefaultLifetime); err != nil {
		return nil, err
	}
	if err := r.Validate(c); err != nil {
		return nil, err
	}
	if err := r.store.UpdateClient(ctx, c); err != nil {
		return nil, err
	}
	r.cfg.OnChange(id)
	return &Registered{Client: c}, nil
}

// CheckSecret reports whether secret is one of the client's active secrets
// (RFC 7592 §2.2: a client_secret in an update must match the current one).
func (r *Registry) CheckSecret(ctx context.Context, id, secret string) (bool, error) {
	set, err := r.store.GetSecrets(ctx, id)
	if err != nil {
		return false, err
	}
	got := sha256.Sum256([]byte(secret))
	ok := false
	for _, s := range set.Secrets {
		d, valid := s.Digest()
		ok = valid && s.Active(time.Now()) && subtle.ConstantTimeCompare(got[:], d[:]) == 1 || ok
	}
	return ok, nil
}

// Delete removes a client and its secrets.
func (r *Registry) Delete(ctx context.Context, id string) error {
	if err := r.store.DeleteClient(ctx, id); err != nil {
		return err
	}
	r.cfg.OnChange(id)
	return nil
}

// RotateSecret issues a new secret and keeps the newest previous one valid
// for the grace period, so a client can hold two valid secrets while it rolls
// out the new one. Older secrets are dropped.
func (r *Registry) RotateSecret(ctx context.Context, id string, grace time.Duration) (string, error) {
	c, err := r.store.GetClient(ctx, id)
	if err != nil {
		return "", err
	}
	if !isSecretMethod(c.TokenEndpointAuthMethod) {
		return "", fmt.Errorf("client %q authenticates with %s, not a secret", id, c.TokenEndpointAuthMethod)
	}
	if grace == 0 {
		grace = r.cfg.RotationGrace
	}
	set, err := r.store.GetSecrets(ctx, id)
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	var keep []backends.Secret
	// Keep the newest still-active secret, ending at now+grace (or its own earlier end).
	for i := len(set.Secrets) - 1; i >= 0; i-- {
		s := set.Secrets[i]
		if s.Active(now) {
			end := now.Add(grace)
			if s.ExpiresAt == nil || s.ExpiresAt.After(end) {
				s.ExpiresAt = &end
			}
			keep = append(keep, s)
			break
		}
	}
	secret := NewSecret()
	set.Secrets = append(keep, backends.Secret{Hash: backends.HashSecret(secret), CreatedAt: now})
	if err := r.store.PutSecrets(ctx, id, set); err != nil {
		return "", err
	}
	r.cfg.OnChange(id)
	r.cfg.Audit(audit.Event{Time: now, Event: audit.EventSecretRotated, ClientID: id, Method: c.TokenEndpointAuthMethod, Outcome: "success", Source: "registry"})
	return secret, nil
}

// CheckRegistrationToken verifies an RFC 7592 registration access token.
func (r *Registry) CheckRegistrationToken(ctx context.Context, id, token string) error {
	set, err := r.store.GetSecrets(ctx, id)
	if err != nil {
		return err
	}
	if set.RegistrationTokenHash == "" || !backends.VerifyToken(token, set.RegistrationTokenHash) {
		return errors.New("registration access token does not match")
	}
	return nil
}
