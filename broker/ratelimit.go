package broker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends/state"
)

// Rate is a token bucket: Burst requests at once, refilled at PerSecond.
type Rate struct {
	PerSecond float64
	Burst     float64
}

func (r Rate) on() bool { return r.PerSecond > 0 && r.Burst > 0 }

// Validate checks a bucket: both halves or neither — one alone would
// silently disable the limit. Its errors are *FieldError naming PerSecond
// or Burst (or "" for the bucket as a whole).
func (r Rate) Validate() error {
	switch {
	case r.PerSecond < 0 || r.Burst < 0:
		return &FieldError{Err: errors.New("per second and burst must not be negative")}
	case r.PerSecond > 0 && r.Burst == 0:
		return &FieldError{Field: "Burst", Err: errors.New("required when the rate per second is set")}
	case r.Burst > 0 && r.PerSecond == 0:
		return &FieldError{Field: "PerSecond", Err: errors.New("required when the burst is set")}
	}
	return nil
}

// RateLimits bound failed authentications and, optionally, issuance.
//
// Failed authentications are charged after verification failed, never
// before: a request whose credentials verify never consults a failure
// bucket, so no number of bad requests naming a client — or coming from
// its address — can refuse that client, and a successful request costs no
// limiter round trip. Each failure takes one token from the bucket of its
// source address and one from the bucket of the pair (claimed client,
// source address); a failing request that finds either empty is answered
// 429 with Retry-After instead of 401, telling a misconfigured or hostile
// caller to back off.
type RateLimits struct {
	// FailedPerClient bounds failed authentications per claimed client_id
	// and source address (rate_limits.failed_per_client).
	FailedPerClient Rate
	// FailedPerAddress bounds failed authentications per source address, an
	// IPv6 source counted per /64 (rate_limits.failed_per_address).
	FailedPerAddress Rate
	// IssuancePerClient, when set, is a quota of tokens per client
	// (rate_limits.issuance_per_client); it costs a limiter round trip per token.
	IssuancePerClient Rate
	// Registrations, when set, bounds successful RFC 7591 registrations per
	// initial access token (rate_limits.registrations): whoever holds one
	// can otherwise mint clients without end, each with its own shares of
	// the shared state (sybils). Charged after the token and the metadata
	// were accepted, so a refused registration costs nothing.
	Registrations Rate
	// Limiter holds the buckets (default in memory; Redis shares them across replicas).
	Limiter state.Limiter
}

func (rl RateLimits) validate() []error {
	var errs []error
	for _, b := range []struct {
		field string
		r     Rate
	}{{"FailedPerClient", rl.FailedPerClient}, {"FailedPerAddress", rl.FailedPerAddress}, {"IssuancePerClient", rl.IssuancePerClient}, {"Registrations", rl.Registrations}} {
		if err := b.r.Validate(); err != nil {
			errs = append(errs, fieldErr("RateLimits."+b.field, err))
		}
	}
	return errs
}

// limiter takes from the buckets of RateLimits: one per Server, over the
// process's Limiter and counted in its tokenbroker_rate_limited_total.
type limiter struct {
	RateLimits
	empty   emptyBuckets // buckets known to be empty
	limited *prometheus.CounterVec
	log     *slog.Logger
}

// authFailed charges one failed authentication by clientID (as claimed, ""
// when none) from source, and returns the 429 to answer instead of the
// failure when a bucket was already empty; nil otherwise. cause, the
// failure itself, stays in the 429's cause for the log and audit trail.
func (l *limiter) authFailed(ctx context.Context, clientID, source string, cause error) *Error {
	src := sourceKey(source)
	e := l.take(ctx, "fail-addr", src, l.FailedPerAddress, cause)
	if e == nil && clientID != "" {
		// The source address cannot contain '|': the key is unambiguous.
		e = l.take(ctx, "fail-client", src+"|"+clientID, l.FailedPerClient, cause)
	}
	return e
}

// take removes one token from bucket kind:key and returns a 429 when it is
// empty. A limiter error lets the request through — rate limits protect,
// they must not take the service down — and is logged.
func (l *limiter) take(ctx context.Context, kind, key string, r Rate, cause error) *Error {
	if !r.on() || key == "" {
		return nil
	}
	bucket := kind + ":" + key
	retry, known := l.empty.until(bucket)
	if !known {
		ok, wait, err := l.Limiter.Take(ctx, bucket, 1, r.PerSecond, r.Burst)
		if err != nil {
			l.log.Warn("rate limiter unavailable; not limiting", "limit", kind, "err", err)
			return nil
		}
		if ok {
			return nil
		}
		retry = wait
		l.empty.remember(bucket, wait)
	}
	l.limited.WithLabelValues(kind).Inc()
	why := fmt.Errorf("rate limit %s for %s", kind, key)
	if cause != nil {
		why = fmt.Errorf("rate limit %s for %s after: %w", kind, key, cause)
	}
	// RFC 6585 §4: 429 with Retry-After.
	e := oauthErr(http.StatusTooManyRequests, "temporarily_unavailable", "too many requests; retry later", why)
	e.retryAfter = int(math.Ceil(retry.Seconds()))
	if e.retryAfter < 1 {
		e.retryAfter = 1
	}
	return e
}

// registrationKey is the bucket key of an initial access token: a short
// hash of it, never the token itself — buckets live in Redis and in logs.
func registrationKey(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// sourceKey is the bucket key of a source address: the address, or for
// IPv6 its /64 — one host usually holds a whole /64 (RFC 4291 §2.5.1).
func sourceKey(src string) string {
	a, err := netip.ParseAddr(src)
	if err != nil || !a.Is6() || a.Is4In6() {
		return src
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// regAuthFailed charges a failed registration authentication (a wrong or
// missing initial or registration access token, for client clientID when
// the path names one) like any other, and returns the error to answer.
func (s *Server) regAuthFailed(c echo.Context, clientID string, err *Error) error {
	if len(clientID) > authn.MaxClientIDLen {
		clientID = ""
	}
	if e := s.limits.authFailed(c.Request().Context(), clientID, c.RealIP(), err); e != nil {
		return e
	}
	return err
}

// emptyBuckets remembers, in this process only, buckets the limiter found
// empty and until when: a flood of failures against one bucket costs one
// limiter round trip per refill instead of one per request. Taking from an
// empty bucket changes nothing, so the answers are the ones the limiter
// would give. Only failing requests and the issuance quota look here.
type emptyBuckets struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// maxEmptyBuckets bounds the memo; past it, expired entries go, then all.
const maxEmptyBuckets = 10_000

// until reports whether bucket is known to be empty, and for how long still.
func (e *emptyBuckets) until(bucket string) (time.Duration, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.m[bucket]
	if !ok {
		return 0, false
	}
	left := time.Until(t)
	if left <= 0 {
		delete(e.m, bucket)
		return 0, false
	}
	return left, true
}

func (e *emptyBuckets) remember(bucket string, wait time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]time.Time{}
	}
	now := time.Now()
	if len(e.m) >= maxEmptyBuckets {
		for k, t := range e.m {
			if !t.After(now) {
				delete(e.m, k)
			}
		}
		if len(e.m) >= maxEmptyBuckets {
			clear(e.m)
		}
	}
	e.m[bucket] = now.Add(wait)
}
