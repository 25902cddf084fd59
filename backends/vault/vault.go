package vault

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	vapi "github.com/hashicorp/vault/api"

	"github.com/tokenbroker/tokenbroker/backends"
)

// Config configures the Vault backend.
type Config struct {
	// Address of the Vault server (required).
	Address string
	// Mount is the KV v2 mount (default "secret"); Prefix the path inside it (default "tokenbroker").
	Mount, Prefix string
	// Auth logs in; Token("…") for a static token.
	Auth Auth
	// CACert is a PEM file to trust for Vault's TLS certificate (default: system roots).
	CACert string
	// ClientCert and ClientKey are presented to Vault (required for TLS certificate auth).
	ClientCert, ClientKey string
	// Timeout bounds every Vault call (default 5s).
	Timeout time.Duration
	// ReadOnly: this process never writes to the KV mount (clients
	// provisioned by other tooling, no registration, Transit signing), so
	// start-up requires only the capabilities reads need.
	ReadOnly bool
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Store is the Vault backend.
type Store struct {
	cfg    Config
	client *vapi.Client
	kv     *vapi.KVv2
	log    *slog.Logger
	login  *loginKeeper
	once   sync.Once
}

var _ backends.Store = (*Store)(nil)

// New connects, logs in and checks — at start, not at the first token
// request — every capability the broker needs on the KV mount (reading
// client records and secrets, writing them unless ReadOnly, listing) and
// that the mount is KV version 2. Errors say which path and capability are
// missing.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Address == "" {
		return nil, errors.New("vault: address is required")
	}
	if cfg.Auth == nil {
		return nil, errors.New("vault: an auth method is required")
	}
	if cfg.Mount == "" {
		cfg.Mount = "secret"
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "tokenbroker"
	}
	cfg.Mount, cfg.Prefix = strings.Trim(cfg.Mount, "/"), strings.Trim(cfg.Prefix, "/")
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// DefaultConfig reads VAULT_* variables; everything it may have taken from
	// the environment is overwritten here, so only cfg decides (no hidden
	// VAULT_SKIP_VERIFY, VAULT_TOKEN or namespace).
	vc := vapi.DefaultConfig()
	vc.Address = cfg.Address
	vc.Timeout = cfg.Timeout
	vc.MaxRetries = 1
	vc.SRVLookup = false
	vc.Limiter = nil
	if tr, ok := vc.HttpClient.Transport.(*http.Transport); ok {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.CACert != "" || cfg.ClientCert != "" {
		if err := vc.ConfigureTLS(&vapi.TLSConfig{CACert: cfg.CACert, ClientCert: cfg.ClientCert, ClientKey: cfg.ClientKey}); err != nil {
			return nil, fmt.Errorf("vault: tls: %w", err)
		}
	}
	if vc.Error != nil {
		return nil, fmt.Errorf("vault: %w", vc.Error)
	}
	client, err := vapi.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	client.ClearToken()
	client.ClearNamespace()
	s := &Store{cfg: cfg, client: client, kv: client.KVv2(cfg.Mount), log: cfg.Logger}
	if err := s.preflight(ctx); err != nil {
		return nil, err
	}
	s.login, err = startLogin(ctx, client, cfg.Auth, cfg.Logger)
	if err != nil {
		return nil, err
	}
	if err := s.checkCapabilities(ctx, s.kvNeeds()); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.checkMount(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// preflight reports a sealed or unreachable Vault clearly.
func (s *Store) preflight(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	h, err := s.client.Sys().HealthWithContext(ctx)
	if err != nil {
		return fmt.Errorf("vault %s unreachable: %w", s.cfg.Address, err)
	}
	if !h.Initialized {
		return fmt.Errorf("vault %s is not initialized", s.cfg.Address)
	}
	if h.Sealed {
		return fmt.Errorf("vault %s is sealed: unseal it before starting the broker", s.cfg.Address)
	}
	return nil
}

// checkMount verifies the mount is KV v2 and the key set path is readable.
func (s *Store) checkMount(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	sec, err := s.client.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+s.cfg.Mount)
	if err != nil {
		return s.explain(err, "sys/internal/ui/mounts/"+s.cfg.Mount, "read")
	}
	if sec == nil || sec.Data == nil {
		return fmt.Errorf("vault: mount %q does not exist (enable it: vault secrets enable -path=%s kv-v2)", s.cfg.Mount, s.cfg.Mount)
	}
	typ, _ := sec.Data["type"].(string)
	opts, _ := sec.Data["options"].(map[string]any)
	version, _ := opts["version"].(string)
	if typ != "kv" || version != "2" {
		return fmt.Errorf("vault: mount %q is %s version %q, not a KV version 2 mount", s.cfg.Mount, typ, version)
	}
	if _, err := s.GetKeySet(ctx); err != nil && !errors.Is(err, backends.ErrNotFound) {
		return err
	}
	return nil
}

func (s *Store) dataPath(p ...string) string {
	return path.Join(append([]string{s.cfg.Prefix}, p...)...)
}

// explain turns a Vault error into one that says what to fix.
func (s *Store) explain(err error, p, capability string) error {
	var re *vapi.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusForbidden:
			return fmt.Errorf("vault: permission denied on %s: the broker's policy needs %q on that path: %w", p, capability, err)
		case http.StatusServiceUnavailable:
			return fmt.Errorf("vault: sealed or in standby (%s): %w", p, errors.Join(err, backends.ErrUnavailable))
		case http.StatusBadRequest:
			if strings.Contains(strings.Join(re.Errors, " "), "check-and-set") {
				return backends.ErrConflict
			}
		}
		if re.StatusCode >= 500 {
			return fmt.Errorf("vault: %s: %w", p, errors.Join(err, backends.ErrUnavailable))
		}
		return fmt.Errorf("vault: %s: %w", p, err)
	}
	// Transport errors: connection refused, timeouts.
	return fmt.Errorf("vault: %s: %w", p, errors.Join(err, backends.ErrUnavailable))
}

// get reads a KV v2 secret and returns its data as JSON and its version.
func (s *Store) get(ctx context.Context, p string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	sec, err := s.kv.Get(ctx, p)
	if errors.Is(err, vapi.ErrSecretNotFound) {
		return nil, "", backends.ErrNotFound
	}
	if err != nil {
		return nil, "", s.explain(err, s.cfg.Mount+"/data/"+p, "read")
	}
	if sec == nil || sec.Data == nil || sec.VersionMetadata == nil {
		return nil, "", backends.ErrNotFound
	}
	// Vault parsed the stored JSON into a map (duplicates collapsed, keys
	// sorted on output); re-encode it compact and unescaped so the size
	// bounds apply to what was stored.
	b, err := backends.MarshalCompact(sec.Data)
	if err != nil {
		return nil, "", fmt.Errorf("vault: %s: %w: %w", p, backends.ErrInvalidRecord, err)
	}
	return b, strconv.Itoa(sec.VersionMetadata.Version), nil
}

// getJSON reads a KV v2 secret into v; a document that does not decode is ErrInvalidRecord.
func (s *Store) getJSON(ctx context.Context, p string, v any) (string, error) {
	b, rev, err := s.get(ctx, p)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return "", fmt.Errorf("vault: %s: %w: %w", p, backends.ErrInvalidRecord, err)
	}
	return rev, nil
}

// put writes v with check-and-set: expect "" creates (cas=0), else must match the version.
func (s *Store) put(ctx context.Context, p string, v any, expect string) error {
	b, err := backends.MarshalCompact(v)
	if err != nil {
		return err
	}
	// Numbers stay exact (an int64 through float64 would not).
	var data map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&data); err != nil {
		return err
	}
	cas := 0
	if expect != "" {
		if cas, err = strconv.Atoi(expect); err != nil {
			return fmt.Errorf("vault: bad revision %q: %w", expect, backends.ErrConflict)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if _, err := s.kv.Put(ctx, p, data, vapi.WithCheckAndSet(cas)); err != nil {
		err = s.explain(err, s.cfg.Mount+"/data/"+p, "create/update")
		if errors.Is(err, backends.ErrConflict) && expect == "" {
			return backends.ErrExists
		}
		if errors.Is(err, backends.ErrConflict) {
			// A version mismatch on a deleted secret means it is gone.
			if _, gerr := s.kv.GetMetadata(ctx, p); gerr != nil && errors.Is(gerr, vapi.ErrSecretNotFound) {
				return backends.ErrNotFound
			}
		}
		return err
	}
	return nil
}

// GetClient implements backends.ClientStore.
func (s *Store) GetClient(ctx context.Context, id string) (*backends.Client, error) {
	if !backends.ValidClientID(id) {
		return nil, backends.ErrNotFound
	}
	var c backends.Client
	rev, err := s.getJSON(ctx, s.dataPath("clients", id), &c)
	if err != nil {
		return nil, err
	}
	if c.ClientID == "" {
		c.ClientID = id // a record provisioned without the redundant member
	}
	if c.ClientID != id {
		return nil, fmt.Errorf("vault: clients/%s holds client_id %q: %w", id, c.ClientID, backends.ErrInvalidRecord)
	}
	c.Revision = rev
	return &c, nil
}

// ListClients implements backends.ClientStore.
func (s *Store) ListClients(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	p := s.cfg.Mount + "/metadata/" + s.dataPath("clients")
	sec, err := s.client.Logical().ListWithContext(ctx, p)
	if err != nil {
		return nil, s.explain(err, p, "list")
	}
	var names []string
	if sec != nil {
		keys, _ := sec.Data["keys"].([]any)
		for _, k := range keys {
			if id, ok := k.(string); ok {
				names = append(names, id)
			}
		}
	}
	return backends.ListedClientIDs(names), nil
}

// CreateClient implements backends.ClientStore.
func (s *Store) CreateClient(ctx context.Context, c *backends.Client) error {
	if !backends.ValidClientID(c.ClientID) {
		return fmt.Errorf("vault: invalid client_id %q", c.ClientID)
	}
	return s.put(ctx, s.dataPath("clients", c.ClientID), c, "")
}

// UpdateClient implements backends.ClientStore.
func (s *Store) UpdateClient(ctx context.Context, c *backends.Client) error {
	if !backends.ValidClientID(c.ClientID) {
		return backends.ErrNotFound
	}
	if c.Revision == "" {
		return fmt.Errorf("vault: update without a revision: %w", backends.ErrConflict)
	}
	return s.put(ctx, s.dataPath("clients", c.ClientID), c, c.Revision)
}

// DeleteClient implements backends.ClientStore: every version of the
// record and of its secrets is destroyed.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if !backends.ValidClientID(id) {
		return backends.ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	p := s.dataPath("clients", id)
	if _, err := s.kv.GetMetadata(ctx, p); err != nil {
		if errors.Is(err, vapi.ErrSecretNotFound) {
			return backends.ErrNotFound
		}
		return s.explain(err, s.cfg.Mount+"/metadata/"+p, "read")
	}
	for _, q := range []string{p, s.dataPath("secrets", id)} {
		if err := s.kv.DeleteMetadata(ctx, q); err != nil && !errors.Is(err, vapi.ErrSecretNotFound) {
			return s.explain(err, s.cfg.Mount+"/metadata/"+q, "delete")
		}
	}
	return nil
}

// secretDoc accepts the broker's own form and the simple {"client_secret": "…"}.
type secretDoc struct {
	backends.SecretSet
	ClientSecret string `json:"client_secret,omitempty"`
}

// GetSecrets implements backends.SecretStore.
func (s *Store) GetSecrets(ctx context.Context, clientID string) (*backends.SecretSet, error) {
	if !backends.ValidClientID(clientID) {
		return nil, backends.ErrNotFound
	}
	var d secretDoc
	rev, err := s.getJSON(ctx, s.dataPath("secrets", clientID), &d)
	if err != nil {
		return nil, err
	}
	set := d.SecretSet
	if d.ClientSecret != "" {
		set.Secrets = append(set.Secrets, backends.Secret{Plain: d.ClientSecret})
	}
	set.Revision = rev
	return &set, nil
}

// PutSecrets implements backends.SecretStore.
func (s *Store) PutSecrets(ctx context.Context, clientID string, set *backends.SecretSet) error {
	if !backends.ValidClientID(clientID) {
		return fmt.Errorf("vault: invalid client_id %q", clientID)
	}
	return s.put(ctx, s.dataPath("secrets", clientID), set, set.Revision)
}

// GetKeySet implements backends.KeyStore.
func (s *Store) GetKeySet(ctx context.Context) (*backends.KeySet, error) {
	b, rev, err := s.get(ctx, s.dataPath("signing-keys"))
	if err != nil {
		return nil, err
	}
	var ks backends.KeySet
	if err := json.Unmarshal(b, &ks); err != nil {
		return nil, fmt.Errorf("vault: signing-keys: %w", err)
	}
	ks.Revision = rev
	return &ks, nil
}

// PutKeySet implements backends.KeyStore.
func (s *Store) PutKeySet(ctx context.Context, ks *backends.KeySet) error {
	return s.put(ctx, s.dataPath("signing-keys"), ks, ks.Revision)
}

// Close stops token renewal; safe to call twice.
func (s *Store) Close() error {
	s.once.Do(func() {
		if s.login != nil {
			s.login.stop()
		}
	})
	return nil
}
