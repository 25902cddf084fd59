package vault

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// TransitConfig configures signing with a Vault Transit key that never leaves Vault.
type TransitConfig struct {
	// Mount of the transit engine (default "transit"); Key the key name (default "tokenbroker").
	Mount, Key string
	// Alg is the JWS algorithm: ES256 (ecdsa-p256, default), EdDSA (ed25519), RS256/PS256 (rsa-2048).
	Alg string
	// PublishDelay: a new key version is published at once but signs only
	// after this long (the JWKS cache lifetime), so every relying party has
	// seen it first (default 5m).
	PublishDelay time.Duration
	// MaxLifetime of access tokens: a superseded version stays published this
	// long (+Skew) after it stopped signing (default 15m).
	MaxLifetime time.Duration
	// Skew is added to how long a superseded version stays published (default 1m).
	Skew time.Duration
	// Workers sign concurrently; each sends whatever requests queued up while
	// the previous call was in flight as one batch (default 4, batches up to 128).
	Workers int
	// Now is the clock versions' ages are judged by (tests; default time.Now).
	Now func() time.Time
}

// Transit is a signing.Manager backed by Vault Transit. Concurrent
// Sign calls are coalesced into transit/sign batch requests.
type Transit struct {
	s        *Store
	cfg      TransitConfig
	keyType  string
	log      *slog.Logger
	reqs     chan *signReq
	wg       sync.WaitGroup
	stop     chan struct{}
	once     sync.Once
	calls    atomic.Uint64
	signed   atomic.Uint64
	maxBatch int
}

var _ signing.Manager = (*Transit)(nil)

// SigningSource is the name of the source in signing.Open.
const SigningSource = "vault-transit"

func init() {
	signing.Register(SigningSource, func(ctx context.Context, store backends.KeyStore, o signing.Options) (signing.Manager, error) {
		s, ok := store.(*Store)
		if !ok {
			return nil, errors.New("needs the vault backend")
		}
		return s.Transit(ctx, TransitConfig{Mount: o.Mount, Key: o.Key, Alg: o.Alg, PublishDelay: o.PublishDelay, MaxLifetime: o.MaxLifetime})
	})
}

// transitAlgs maps the JWS algorithms (signing.Algs) Transit can sign with
// to a Transit key type and the transit/sign parameters that produce a JWS
// signature; an algorithm missing here is refused.
var transitAlgs = map[string]struct {
	keyType string
	params  map[string]any
}{
	// RFC 7518 §3.4: raw r||s, which Transit produces with JWS marshaling.
	"ES256": {"ecdsa-p256", map[string]any{"hash_algorithm": "sha2-256", "marshaling_algorithm": "jws"}},
	"EdDSA": {"ed25519", nil},
	"RS256": {"rsa-2048", map[string]any{"hash_algorithm": "sha2-256", "signature_algorithm": "pkcs1v15"}},
	// RFC 7518 §3.5: salt as long as the hash.
	"PS256": {"rsa-2048", map[string]any{"hash_algorithm": "sha2-256", "signature_algorithm": "pss", "salt_length": "hash"}},
}

// Transit returns a signing source over a Transit key, creating the key
// (of the type alg needs) when it does not exist yet.
func (s *Store) Transit(ctx context.Context, cfg TransitConfig) (*Transit, error) {
	if cfg.Mount == "" {
		cfg.Mount = "transit"
	}
	if cfg.Key == "" {
		cfg.Key = "tokenbroker"
	}
	if cfg.Alg == "" {
		cfg.Alg = "ES256"
	}
	if cfg.PublishDelay == 0 {
		cfg.PublishDelay = 5 * time.Minute
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = 15 * time.Minute
	}
	if cfg.Skew == 0 {
		cfg.Skew = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	ta, ok := transitAlgs[cfg.Alg]
	kt := ta.keyType
	if !ok {
		return nil, fmt.Errorf("vault transit: alg %q not supported", cfg.Alg)
	}
	t := &Transit{s: s, cfg: cfg, keyType: kt, log: s.log, reqs: make(chan *signReq, 4096), stop: make(chan struct{}), maxBatch: 128}
	if err := s.checkCapabilities(ctx, t.needs()); err != nil {
		return nil, err
	}
	if _, err := t.Ensure(ctx); err != nil {
		return nil, err
	}
	for range cfg.Workers {
		t.wg.Go(t.worker)
	}
	return t, nil
}

// Ensure creates the Transit key (of the type Alg needs) when it does not
// exist yet, and checks that an existing key has that type. Store.Transit
// has called it already.
func (t *Transit) Ensure(ctx context.Context) (created bool, err error) {
	info, err := t.readKey(ctx)
	if errors.Is(err, backends.ErrNotFound) {
		p := t.cfg.Mount + "/keys/" + t.cfg.Key
		if err := t.s.checkCapabilities(ctx, []need{{p, "", []string{transitCreate}, "create the signing key on first start"}}); err != nil {
			return false, err
		}
		if _, err := t.s.client.Logical().WriteWithContext(ctx, p, map[string]any{"type": t.keyType}); err != nil {
			return false, t.s.explain(err, p, transitCreate)
		}
		created = true
		info, err = t.readKey(ctx)
	}
	if err != nil {
		return false, err
	}
	if info.typ != t.keyType {
		return false, fmt.Errorf("vault transit: key %s/%s is %s, but %s needs %s", t.cfg.Mount, t.cfg.Key, info.typ, t.cfg.Alg, t.keyType)
	}
	return created, nil
}

// transitCreate is the capability a write that creates a Transit key
// needs: the keys path has no existence check, so Vault treats the create
// as an update.
const transitCreate = "update"

// needs lists what signing with, and rotating, the key takes.
func (t *Transit) needs() []need {
	k := t.cfg.Mount + "/keys/" + t.cfg.Key
	return []need{
		{k, "", []string{"read"}, "publish the key's versions"},
		{t.cfg.Mount + "/sign/" + t.cfg.Key, "", []string{"update"}, "sign access tokens"},
		{k + "/rotate", "", []string{"update"}, "tokenbroker keys rotate"},
	}
}

type keyVersion struct {
	version int
	created time.Time
	public  crypto.PublicKey
}

type keyInfo struct {
	typ      string
	versions []keyVersion // ascending
}

func (t *Transit) readKey(ctx context.Context) (*keyInfo, error) {
	p := t.cfg.Mount + "/keys/" + t.cfg.Key
	ctx, cancel := context.WithTimeout(ctx, t.s.cfg.Timeout)
	defer cancel()
	sec, err := t.s.client.Logical().ReadWithContext(ctx, p)
	if err != nil {
		return nil, t.s.explain(err, p, "read")
	}
	if sec == nil || sec.Data == nil {
		return nil, backends.ErrNotFound
	}
	info := &keyInfo{}
	info.typ, _ = sec.Data["type"].(string)
	keys, _ := sec.Data["keys"].(map[string]any)
	for v, raw := range keys {
		n, err := strconv.Atoi(v)
		if err != nil {
			continue
		}
		m, _ := raw.(map[string]any)
		kv := keyVersion{version: n}
		if ct, _ := m["creation_time"].(string); ct != "" {
			kv.created, _ = time.Parse(time.RFC3339Nano, ct)
		}
		pub, _ := m["public_key"].(string)
		if kv.public, err = parseTransitPublic(info.typ, pub); err != nil {
			return nil, fmt.Errorf("vault transit: %s version %d: %w", p, n, err)
		}
		info.versions = append(info.versions, kv)
	}
	slices.SortFunc(info.versions, func(a, b keyVersion) int { return a.version - b.version })
	if len(info.versions) == 0 {
		return nil, fmt.Errorf("vault transit: %s has no key versions", p)
	}
	return info, nil
}

func parseTransitPublic(typ, pub string) (crypto.PublicKey, error) {
	if typ == "ed25519" {
		b, err := base64.StdEncoding.DecodeString(pub)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, errors.New("bad ed25519 public key")
		}
		return ed25519.PublicKey(b), nil
	}
	blk, _ := pem.Decode([]byte(pub))
	if blk == nil {
		return nil, errors.New("public key is not PEM")
	}
	return x509.ParsePKIXPublicKey(blk.Bytes)
}

func (t *Transit) kid(version int) string { return fmt.Sprintf("%s-v%d", t.cfg.Key, version) }

// SigningSet implements signing.Source: the newest version that has
// been published for PublishDelay signs (the first version signs at once);
// newer versions are published ahead; older ones stay published until the
// tokens they signed have expired.
func (t *Transit) SigningSet(ctx context.Context) (*signing.Set, error) {
	info, err := t.readKey(ctx)
	if err != nil {
		return nil, err
	}
	now := t.cfg.Now()
	active := 0
	for i, v := range info.versions {
		if i == 0 || !now.Before(v.created.Add(t.cfg.PublishDelay)) {
			active = i
		}
	}
	set := &signing.Set{Active: &transitSigner{t: t, version: info.versions[active].version, kid: t.kid(info.versions[active].version)}}
	for i, v := range info.versions {
		if i < active {
			// Version i stopped signing when version i+1 became active.
			stopped := info.versions[i+1].created.Add(t.cfg.PublishDelay)
			if now.After(stopped.Add(t.cfg.MaxLifetime + t.cfg.Skew)) {
				continue
			}
		}
		set.Published = append(set.Published, signing.PublicKey{KID: t.kid(v.version), Alg: t.cfg.Alg, Key: v.public})
	}
	return set, nil
}

// Rotate adds a new key version; it signs once PublishDelay has passed, so
// rotating is never too soon and force changes nothing.
func (t *Transit) Rotate(ctx context.Context, _ bool) error {
	p := t.cfg.Mount + "/keys/" + t.cfg.Key + "/rotate"
	if _, err := t.s.client.Logical().WriteWithContext(ctx, p, nil); err != nil {
		return t.s.explain(err, p, "update")
	}
	return nil
}

// List describes the key's versions, oldest first.
func (t *Transit) List(ctx context.Context) ([]signing.KeyInfo, error) {
	info, err := t.readKey(ctx)
	if err != nil {
		return nil, err
	}
	set, err := t.SigningSet(ctx)
	if err != nil {
		return nil, err
	}
	var out []signing.KeyInfo
	for _, v := range info.versions {
		state := "published"
		switch {
		case t.kid(v.version) == set.Active.KeyID():
			state = "active"
		case !slices.ContainsFunc(set.Published, func(p signing.PublicKey) bool { return p.KID == t.kid(v.version) }):
			state = "unpublished"
		case v.version > info.versions[0].version && v.created.Add(t.cfg.PublishDelay).After(t.cfg.Now()):
			state = "next"
		default:
			state = "retired"
		}
		out = append(out, signing.KeyInfo{KID: t.kid(v.version), Alg: t.cfg.Alg, State: state, Created: v.created})
	}
	return out, nil
}

// Stats reports Transit sign calls and signatures (signatures/calls is the mean batch size).
func (t *Transit) Stats() (calls, signatures uint64) { return t.calls.Load(), t.signed.Load() }

// Close stops the workers; safe to call twice.
func (t *Transit) Close() error {
	t.once.Do(func() { close(t.stop) })
	t.wg.Wait()
	return nil
}
