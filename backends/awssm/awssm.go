package awssm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/tokenbroker/tokenbroker/backends"
)

// Config configures the backend.
type Config struct {
	// Region (required unless the shared config names one).
	Region string
	// Endpoint overrides the service endpoint (LocalStack, a local endpoint).
	Endpoint string
	// Prefix of every secret name (default "tokenbroker").
	Prefix string
	// KMSKeyID encrypts secrets the broker creates (default: the AWS managed key).
	KMSKeyID string
	// PreviousGrace: how long after a rotation the AWSPREVIOUS secret is still accepted (default 24h).
	PreviousGrace time.Duration
	// RecoveryDays for deleted clients (7–30; 0 deletes at once, without recovery). Default 0.
	RecoveryDays int64
	// Timeout bounds each call (default 5s); MaxAttempts for throttling and 5xx (default 6, exponential backoff).
	Timeout     time.Duration
	MaxAttempts int
	// AWS overrides the SDK configuration (tests); default: the SDK's default chain.
	AWS    *aws.Config
	Logger *slog.Logger
}

// Store is the Secrets Manager backend.
type Store struct {
	cfg Config
	c   *sm.Client
	log *slog.Logger
}

var _ backends.Store = (*Store)(nil)

// New builds the client from the SDK's default credential chain.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "tokenbroker"
	}
	cfg.Prefix = strings.Trim(cfg.Prefix, "/")
	if cfg.PreviousGrace == 0 {
		cfg.PreviousGrace = 24 * time.Hour
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 6
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var ac aws.Config
	if cfg.AWS != nil {
		ac = cfg.AWS.Copy()
	} else {
		opts := []func(*awsconfig.LoadOptions) error{}
		if cfg.Region != "" {
			opts = append(opts, awsconfig.WithRegion(cfg.Region))
		}
		var err error
		if ac, err = awsconfig.LoadDefaultConfig(ctx, opts...); err != nil {
			return nil, fmt.Errorf("awssm: %w", err)
		}
	}
	if cfg.Region != "" {
		ac.Region = cfg.Region
	}
	if ac.Region == "" {
		return nil, errors.New("awssm: no region configured")
	}
	// Throttling (ThrottlingException) and 5xx back off exponentially
	// instead of failing; the cache keeps serving meanwhile.
	ac.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = cfg.MaxAttempts
			o.MaxBackoff = 2 * time.Second
		})
	}
	c := sm.NewFromConfig(ac, func(o *sm.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &Store{cfg: cfg, c: c, log: cfg.Logger}, nil
}

// Close implements backends.Store.
func (s *Store) Close() error { return nil }

func (s *Store) clientName(id string) string { return s.cfg.Prefix + "/clients/" + id }
func (s *Store) keysName() string            { return s.cfg.Prefix + "/signing-keys" }

// classify maps AWS errors to the backend vocabulary.
func classify(err error, name string) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ResourceNotFoundException":
			return backends.ErrNotFound
		case "InvalidRequestException":
			if strings.Contains(ae.ErrorMessage(), "marked for deletion") || strings.Contains(ae.ErrorMessage(), "scheduled for deletion") {
				return backends.ErrNotFound
			}
		case "ResourceExistsException":
			return backends.ErrExists
		case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException":
			return fmt.Errorf("awssm: %s: %w", name, err)
		case "ThrottlingException", "InternalServiceError":
			return fmt.Errorf("awssm: %s: %w", name, errors.Join(err, backends.ErrUnavailable))
		}
		return fmt.Errorf("awssm: %s: %w", name, err)
	}
	// Transport errors and timeouts.
	return fmt.Errorf("awssm: %s: %w", name, errors.Join(err, backends.ErrUnavailable))
}

func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	// Each attempt is bounded by Timeout, and each backoff by 2s.
	return context.WithTimeout(ctx, (s.cfg.Timeout+2*time.Second)*time.Duration(s.cfg.MaxAttempts))
}

type versioned struct {
	id      string
	value   string
	created time.Time
}

func (s *Store) getStage(ctx context.Context, name, stage string) (*versioned, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	out, err := s.c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(name), VersionStage: aws.String(stage)})
	if err != nil {
		return nil, classify(err, name)
	}
	v := &versioned{id: aws.ToString(out.VersionId), value: aws.ToString(out.SecretString)}
	if out.CreatedDate != nil {
		v.created = *out.CreatedDate
	}
	return v, nil
}

// casToken derives the ClientRequestToken of a write replacing version prev:
// two writers replacing the same version with different content collide, and
// the second gets ResourceExistsException — check-and-set.
func casToken(name, prev string) string {
	sum := sha256.Sum256([]byte(name + "\x00" + prev))
	return hex.EncodeToString(sum[:16])
}

// write stores doc as the new AWSCURRENT version if the current one is prev
// ("" = the secret must not exist yet).
func (s *Store) write(ctx context.Context, name string, doc any, prev string) error {
	b, err := backends.MarshalCompact(doc)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if prev == "" {
		in := &sm.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(string(b)), ClientRequestToken: aws.String(casToken(name, "create:"+string(b)))}
		if s.cfg.KMSKeyID != "" {
			in.KmsKeyId = aws.String(s.cfg.KMSKeyID)
		}
		_, err := s.c.CreateSecret(ctx, in)
		if err != nil {
			return classify(err, name)
		}
		return nil
	}
	_, err = s.c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(string(b)), ClientRequestToken: aws.String(casToken(name, prev))})
	if err != nil {
		err = classify(err, name)
		if errors.Is(err, backends.ErrExists) {
			return backends.ErrConflict
		}
		return err
	}
	return nil
}

// clientDoc is one client's secret: the record's members plus its secrets.
type clientDoc struct {
	client *backends.Client // nil when only secrets were written so far
	set    backends.SecretSet
}

// secretMembers are the document's own members beside the record's metadata:
// a team-managed plain secret, the broker's hashed secrets, the RFC 7592 token hash.
var secretMembers = []string{"client_secret", "client_secrets", "registration_token_hash"}

// parseDoc decodes a client document strictly (backends.DecodeRecord): the
// secret members come only from their exact names, and a metadata member can
// never become one (nor shadow one by letter case).
func parseDoc(s string) (*clientDoc, error) {
	c, held, err := backends.DecodeRecord([]byte(s), secretMembers...)
	if err != nil {
		return nil, err
	}
	d := &clientDoc{}
	if raw, ok := held["client_secret"]; ok {
		var plain string
		if err := json.Unmarshal(raw, &plain); err != nil {
			return nil, &backends.MemberError{Member: "client_secret", Reason: "not a string"}
		}
		if plain != "" {
			d.set.Secrets = append(d.set.Secrets, backends.Secret{Plain: plain})
		}
	}
	if raw, ok := held["client_secrets"]; ok {
		var l []backends.Secret
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, &backends.MemberError{Member: "client_secrets", Reason: "not a list of secrets"}
		}
		d.set.Secrets = append(d.set.Secrets, l...)
	}
	if raw, ok := held["registration_token_hash"]; ok {
		if err := json.Unmarshal(raw, &d.set.RegistrationTokenHash); err != nil {
			return nil, &backends.MemberError{Member: "registration_token_hash", Reason: "not a string"}
		}
	}
	// A document written by registration before its record holds only secrets.
	if c.TokenEndpointAuthMethod != "" {
		d.client = c
	}
	return d, nil
}

func (d *clientDoc) MarshalJSON() ([]byte, error) {
	m := map[string]json.RawMessage{}
	if d.client != nil {
		// Client.MarshalJSON refuses reserved names in Extra, so no metadata
		// member collides with the secret members added below.
		b, err := backends.MarshalCompact(d.client)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
	}
	for _, k := range secretMembers {
		if _, ok := m[k]; ok {
			return nil, fmt.Errorf("awssm: client metadata holds the reserved member %q", k)
		}
	}
	var hashed []backends.Secret
	for _, sec := range d.set.Secrets {
		if _, ok := m["client_secret"]; !ok && sec.Plain != "" && sec.ExpiresAt == nil {
			b, _ := json.Marshal(sec.Plain)
			m["client_secret"] = b
			continue
		}
		hashed = append(hashed, sec)
	}
	if len(hashed) > 0 {
		b, _ := json.Marshal(hashed)
		m["client_secrets"] = b
	}
	if d.set.RegistrationTokenHash != "" {
		b, _ := json.Marshal(d.set.RegistrationTokenHash)
		m["registration_token_hash"] = b
	}
	return backends.MarshalCompact(m)
}

func (s *Store) current(ctx context.Context, id string) (*clientDoc, *versioned, error) {
	if !backends.ValidClientID(id) {
		return nil, nil, backends.ErrNotFound
	}
	v, err := s.getStage(ctx, s.clientName(id), "AWSCURRENT")
	if err != nil {
		return nil, nil, err
	}
	d, err := parseDoc(v.value)
	if err != nil {
		// A document that does not decode refuses this client only.
		return nil, nil, fmt.Errorf("awssm: %s: %w: %w", s.clientName(id), backends.ErrInvalidRecord, err)
	}
	return d, v, nil
}

// GetClient implements backends.ClientStore.
func (s *Store) GetClient(ctx context.Context, id string) (*backends.Client, error) {
	d, v, err := s.current(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.client == nil {
		return nil, backends.ErrNotFound
	}
	c := d.client
	if c.ClientID == "" {
		c.ClientID = id
	}
	if c.ClientID != id {
		return nil, fmt.Errorf("awssm: %s holds client_id %q: %w", s.clientName(id), c.ClientID, backends.ErrInvalidRecord)
	}
	c.Revision = v.id
	return c, nil
}

// ListClients implements backends.ClientStore.
func (s *Store) ListClients(ctx context.Context) ([]string, error) {
	names, _, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, n := range names {
		ids = append(ids, strings.TrimPrefix(n, s.cfg.Prefix+"/clients/"))
	}
	return ids, nil
}

// list returns the client secret names and their version stages.
func (s *Store) list(ctx context.Context) ([]string, map[string]map[string][]string, error) {
	prefix := s.cfg.Prefix + "/clients/"
	var names []string
	stages := map[string]map[string][]string{}
	p := sm.NewListSecretsPaginator(s.c, &sm.ListSecretsInput{Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{prefix}}}, MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		cctx, cancel := s.ctx(ctx)
		page, err := p.NextPage(cctx)
		cancel()
		if err != nil {
			return nil, nil, classify(err, prefix+"*")
		}
		for _, e := range page.SecretList {
			n := aws.ToString(e.Name)
			if !strings.HasPrefix(n, prefix) || !backends.ValidClientID(strings.TrimPrefix(n, prefix)) {
				continue
			}
			names = append(names, n)
			stages[n] = e.SecretVersionsToStages
		}
	}
	slices.Sort(names)
	return names, stages, nil
}

// CreateClient implements backends.ClientStore.
func (s *Store) CreateClient(ctx context.Context, c *backends.Client) error {
	if !backends.ValidClientID(c.ClientID) {
		return fmt.Errorf("awssm: invalid client_id %q", c.ClientID)
	}
	d, v, err := s.current(ctx, c.ClientID)
	switch {
	case errors.Is(err, backends.ErrNotFound):
		return s.write(ctx, s.clientName(c.ClientID), &clientDoc{client: c}, "")
	case err != nil:
		return err
	case d.client != nil:
		return backends.ErrExists
	}
	// The secrets were written first (registration does that): add the record.
	d.client = c
	return s.write(ctx, s.clientName(c.ClientID), d, v.id)
}

// UpdateClient implements backends.ClientStore.
func (s *Store) UpdateClient(ctx context.Context, c *backends.Client) error {
	if c.Revision == "" {
		return fmt.Errorf("awssm: update without a revision: %w", backends.ErrConflict)
	}
	d, v, err := s.current(ctx, c.ClientID)
	if err != nil {
		return err
	}
	if d.client == nil {
		return backends.ErrNotFound
	}
	if v.id != c.Revision {
		return backends.ErrConflict
	}
	d.client = c
	return s.write(ctx, s.clientName(c.ClientID), d, v.id)
}

// DeleteClient implements backends.ClientStore.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	// An invalid record can be deleted: that is how an operator clears it.
	if _, err := s.GetClient(ctx, id); err != nil && !errors.Is(err, backends.ErrInvalidRecord) {
		return err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	in := &sm.DeleteSecretInput{SecretId: aws.String(s.clientName(id))}
	if s.cfg.RecoveryDays > 0 {
		in.RecoveryWindowInDays = aws.Int64(s.cfg.RecoveryDays)
	} else {
		in.ForceDeleteWithoutRecovery = aws.Bool(true)
	}
	if _, err := s.c.DeleteSecret(ctx, in); err != nil {
		return classify(err, s.clientName(id))
	}
	return nil
}

// GetSecrets implements backends.SecretStore: AWSCURRENT's secrets, the
// AWSPENDING ones while a rotation is in progress, and AWSPREVIOUS's until
// PreviousGrace after the current version was created.
func (s *Store) GetSecrets(ctx context.Context, id string) (*backends.SecretSet, error) {
	d, v, err := s.current(ctx, id)
	if err != nil {
		return nil, err
	}
	set := d.set
	set.Revision = v.id
	name := s.clientName(id)
	if p, err := s.getStage(ctx, name, "AWSPENDING"); err == nil {
		if pd, err := parseDoc(p.value); err == nil {
			set.Secrets = append(set.Secrets, pd.set.Secrets...)
		}
	} else if !errors.Is(err, backends.ErrNotFound) {
		return nil, err
	}
	if p, err := s.getStage(ctx, name, "AWSPREVIOUS"); err == nil {
		if pd, err := parseDoc(p.value); err == nil {
			until := v.created.Add(s.cfg.PreviousGrace)
			for _, sec := range pd.set.Secrets {
				if sec.ExpiresAt == nil || sec.ExpiresAt.After(until) {
					sec.ExpiresAt = &until
				}
				set.Secrets = append(set.Secrets, sec)
			}
		}
	} else if !errors.Is(err, backends.ErrNotFound) {
		return nil, err
	}
	return &set, nil
}

// PutSecrets implements backends.SecretStore: the set becomes the new
// AWSCURRENT version, and the previous one AWSPREVIOUS — a rotation.
func (s *Store) PutSecrets(ctx context.Context, id string, set *backends.SecretSet) error {
	if !backends.ValidClientID(id) {
		return fmt.Errorf("awssm: invalid client_id %q", id)
	}
	d, v, err := s.current(ctx, id)
	switch {
	case errors.Is(err, backends.ErrNotFound):
		if set.Revision != "" {
			return backends.ErrNotFound
		}
		return s.write(ctx, s.clientName(id), &clientDoc{set: *set}, "")
	case err != nil:
		return err
	case set.Revision == "" && (len(d.set.Secrets) > 0 || d.set.RegistrationTokenHash != ""):
		return backends.ErrExists
	case set.Revision != "" && set.Revision != v.id:
		return backends.ErrConflict
	}
	// Keep only the secrets that belong in the new current version: expired ones go.
	now := time.Now()
	d.set = backends.SecretSet{RegistrationTokenHash: set.RegistrationTokenHash}
	for _, sec := range set.Secrets {
		if sec.Active(now) {
			d.set.Secrets = append(d.set.Secrets, sec)
		}
	}
	return s.write(ctx, s.clientName(id), d, v.id)
}

// GetKeySet implements backends.KeyStore.
func (s *Store) GetKeySet(ctx context.Context) (*backends.KeySet, error) {
	v, err := s.getStage(ctx, s.keysName(), "AWSCURRENT")
	if err != nil {
		return nil, err
	}
	var ks backends.KeySet
	if err := json.Unmarshal([]byte(v.value), &ks); err != nil {
		return nil, fmt.Errorf("awssm: %s: %w", s.keysName(), err)
	}
	ks.Revision = v.id
	return &ks, nil
}

// PutKeySet implements backends.KeyStore.
func (s *Store) PutKeySet(ctx context.Context, ks *backends.KeySet) error {
	if ks.Revision != "" {
		cur, err := s.getStage(ctx, s.keysName(), "AWSCURRENT")
		if err != nil {
			return err
		}
		if cur.id != ks.Revision {
			return backends.ErrConflict
		}
	}
	err := s.write(ctx, s.keysName(), ks, ks.Revision)
	if ks.Revision == "" && errors.Is(err, backends.ErrExists) {
		return backends.ErrExists
	}
	return err
}
