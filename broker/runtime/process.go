package runtime

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenbroker/tokenbroker/backends/awskms"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/broker/audit"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// process is what one serve process owns across reloads (SIGHUP): the
// shared state (assertion jti replay cache, revocations), the rate-limit
// buckets, the metric series and the one audit writer. A reload builds a new
// broker instance over these; it never re-creates them, so a revoked token
// stays revoked, a spent assertion stays spent, counters keep counting and
// the audit chain has exactly one writer. Changing shared_state or audit
// (other than audit.fail_closed) needs a restart.
type process struct {
	// fc is the configuration the process parts were built from.
	fc      *config.Config
	state   state.Store
	limiter state.Limiter
	audit   *audit.Trail
	metrics *broker.Metrics
	closers []io.Closer
	// crls is the CRL set of the newest instance: the next one starts from
	// its lists, so a reload never moves a CRL backwards.
	crls atomic.Pointer[certs.CRLSet]
	// auditErr is a failure to open the audit trail that did not stop the
	// process (trail_opened not written), for the first instance to log.
	auditErr error
	// backend is the newest opened backend, shared by the instances built
	// from the same backend configuration.
	mu      sync.Mutex
	backend *sharedStore
	// kms is the bound toward AWS KMS (signing.type aws-kms), kept across reloads (kms.go).
	kms *awskms.Limiter
}

// openProcess builds the process-lived parts from fc: a Redis client
// (checked with a ping) or the in-memory state, and the audit writer.
func openProcess(ctx context.Context, fc *config.Config) (*process, error) {
	p := &process{fc: fc, metrics: broker.NewMetrics()}
	if fc.SharedState.Type == "redis" {
		rs, client, err := openRedis(ctx, fc)
		if err != nil {
			return nil, err
		}
		p.closers = append(p.closers, client, rs) // closed in reverse: the batcher first
		p.state, p.limiter = rs, rs
	} else {
		p.state, p.limiter = state.NewMemory(1_000_000), state.NewMemoryLimiter(100_000)
	}
	if fc.Audit.File != "" {
		aud, err := openAudit(fc)
		var notOpened *trailNotOpenedError
		if errors.As(err, &notOpened) {
			p.auditErr, err = err, nil
		}
		if err != nil {
			p.Close()
			return nil, err
		}
		p.audit = aud
		p.closers = append(p.closers, aud)
	}
	return p, nil
}

// Close releases the Redis client and the audit file; call it once, when
// the process stops serving.
func (p *process) Close() error {
	var errs []error
	for i := len(p.closers) - 1; i >= 0; i-- {
		errs = append(errs, p.closers[i].Close())
	}
	p.closers = nil
	return errors.Join(errs...)
}

// reopenAudit reopens the audit file at its configured path (SIGHUP), so
// that log rotation works: after a rename the trail continues in a new file
// at the old path, its first line linked to the last line of the renamed one.
// The one writer and its chain are kept; only the file handle changes. A
// chained trail records trail_closed in the old file and trail_opened in
// the new one (the same file again when it was not renamed).
func (p *process) reopenAudit() error {
	path := p.fc.Audit.File
	if p.audit == nil || path == "-" || path == "stdout" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return config.Errorf("audit.file", "not reopened, still writing to the previous file: %w", err)
	}
	if err := p.audit.Rotate(f); err != nil {
		return config.Errorf("audit.file", "reopened, but: %w", err)
	}
	return nil
}

// needsRestart names the process-lived settings that differ in fc: a reload
// keeps the running ones.
func (p *process) needsRestart(fc *config.Config) []string {
	var keys []string
	if !reflect.DeepEqual(p.fc.SharedState, fc.SharedState) {
		keys = append(keys, "shared_state")
	}
	a, b := p.fc.Audit, fc.Audit
	a.FailClosed, b.FailClosed = false, false // applies on reload
	if a != b {
		keys = append(keys, "audit")
	}
	return keys
}

// openRedis connects the shared state to Redis and pings it.
func openRedis(ctx context.Context, fc *config.Config) (*state.Redis, redis.UniversalClient, error) {
	r := fc.SharedState.Redis
	opt := &redis.UniversalOptions{Addrs: r.Addrs, DialTimeout: 2 * time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second}
	if r.PasswordFile != "" {
		b, err := config.ReadLimited(r.PasswordFile, 4096)
		if err != nil {
			return nil, nil, config.Errorf("shared_state.redis.password_file", "%w", err)
		}
		opt.Password = strings.TrimSpace(string(b))
	}
	if r.TLS {
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	client := redis.NewUniversalClient(opt)
	rs := state.NewRedis(client, r.Prefix)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := rs.Ping(pctx)
	cancel()
	if err != nil {
		client.Close()
		return nil, nil, config.Errorf("shared_state.redis", "%v unreachable: %w", r.Addrs, err)
	}
	return rs, client, nil
}
