package authn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// FetcherOptions configure a JWKSFetcher.
type FetcherOptions struct {
	// AllowPrivate permits loopback, private and link-local addresses (off by default: SSRF).
	AllowPrivate bool
	// Timeout bounds each fetch (default 5s).
	Timeout time.Duration
	// MaxBytes bounds a response (default 64 KiB).
	MaxBytes int64
	// RootCAs overrides the system roots (tests, private PKI).
	RootCAs *x509.CertPool
	// MaxEntries bounds the cache (default 10000 URIs); when it is full one
	// entry makes room for the next, never the whole cache.
	MaxEntries int
}

// JWKSFetcher fetches clients' jwks_uri documents: HTTPS only, with a
// timeout and a size limit, cached per Cache-Control max-age clamped to
// [1 min, 24 h], refetched on an unknown kid at most once per client per
// 10 s, a failure remembered for 30 s (so a dead or slow jwks_uri costs one
// wait per 30 s, not one per request), the last good keys served through
// failed refetches for at most jwksMaxStale past their expiry, and never
// from a special-purpose address (PublicAddr) unless allowed — checked on
// the address actually dialed, so DNS rebinding cannot get around it.
type JWKSFetcher struct {
	opt    FetcherOptions
	client *http.Client
	group  singleflight.Group
	now    func() time.Time

	mu      sync.Mutex
	cache   map[string]*jwksEntry
	failed  map[string]*jwksFailure // uri → last failed fetch, for jwksNegativeTTL
	refetch map[string]time.Time    // client_id → last unknown-kid refetch
}

// jwksFailure is a negatively cached fetch: a jwks_uri that is slow, dead or
// serving garbage is not fetched again — nor waited on — for jwksNegativeTTL.
type jwksFailure struct {
	err   error
	until time.Time
}

type jwksEntry struct {
	keys    []jose.JSONWebKey
	expires time.Time
	fetched time.Time
	client  string // the client_id whose request fetched it last
}

// Clamp of the cache lifetime, the stale bound and the unknown-kid refetch
// throttle.
const (
	jwksMinTTL        = time.Minute
	jwksMaxTTL        = 24 * time.Hour
	jwksDefaultTTL    = time.Hour
	jwksRefetchPeriod = 10 * time.Second
	jwksNegativeTTL   = 30 * time.Second
	// jwksMaxStale bounds how long past their expiry the last good keys are
	// served while refetches fail (or return a set the broker refuses). A
	// client that rotates a compromised key out of its jwks_uri must see it
	// stop verifying within a known time, even if its new document is
	// unusable or an on-path attacker keeps the fetch failing: at most
	// max-age (≤ jwksMaxTTL) + jwksMaxStale after the last good fetch.
	jwksMaxStale = 24 * time.Hour
)

// NewJWKSFetcher returns a fetcher.
func NewJWKSFetcher(opt FetcherOptions) *JWKSFetcher {
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Second
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 64 << 10
	}
	if opt.MaxEntries <= 0 {
		opt.MaxEntries = 10_000
	}
	dialer := &net.Dialer{Timeout: opt.Timeout, Control: func(network, address string, _ syscall.RawConn) error {
		if opt.AllowPrivate {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("jwks_uri: unexpected address %q", address)
		}
		if !PublicAddr(ap.Addr()) {
			return fmt.Errorf("jwks_uri: refusing to connect to non-public address %s", ap.Addr())
		}
		return nil
	}}
	tr := &http.Transport{
		Proxy:                 nil, // never route client-supplied URLs through an environment proxy
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: opt.RootCAs},
		TLSHandshakeTimeout:   opt.Timeout,
		ResponseHeaderTimeout: opt.Timeout,
		MaxIdleConns:          16,
		IdleConnTimeout:       time.Minute,
	}
	return &JWKSFetcher{
		opt: opt,
		client: &http.Client{Transport: tr, Timeout: opt.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("jwks_uri: redirects are not followed")
		}},
		now:     time.Now,
		cache:   map[string]*jwksEntry{},
		failed:  map[string]*jwksFailure{},
		refetch: map[string]time.Time{},
	}
}

// Get returns the keys at uri for clientID; kid, when set and unknown,
// triggers a throttled refetch. A fetch that failed is not retried for
// jwksNegativeTTL: meanwhile the last good keys, or the failure, come back at
// once. Past jwksMaxStale beyond their expiry the last good keys are no
// longer served: the fetch error comes back (fail closed). Concurrent
// callers share one fetch, which runs on its own deadline (Timeout), so a
// caller that gives up does not fail it for the others.
func (f *JWKSFetcher) Get(ctx context.Context, clientID, uri, kid string) ([]jose.JSONWebKey, error) {
	now := f.now()
	f.mu.Lock()
	e, bad := f.cache[uri], f.failed[uri]
	f.mu.Unlock()
	if e != nil && now.Before(e.expires) {
		if kid == "" || hasKid(e.keys, kid) || !f.mayRefetch(clientID, now) {
			return e.keys, nil
		}
	}
	// The last good keys, still within their stale bound, stand in for a
	// failed fetch.
	stale := e != nil && now.Before(e.expires.Add(jwksMaxStale))
	if bad != nil && now.Before(bad.until) {
		if stale {
			return e.keys, nil
		}
		return nil, bad.err
	}
	ch := f.group.DoChan(uri, func() (any, error) {
		// A flight that finished between this caller's cache read and
		// DoChan has already stored a newer document: use it rather than
		// fetch the same URI twice.
		f.mu.Lock()
		c := f.cache[uri]
		f.mu.Unlock()
		if c != nil && c != e && f.now().Before(c.expires) {
			return c, nil
		}
		// Detached from the first caller's cancellation, bounded by its own timeout.
		return f.fetch(context.WithoutCancel(ctx), clientID, uri)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			if stale {
				return e.keys, nil // keep the last good keys through a failed refetch
			}
			return nil, r.Err
		}
		return r.Val.(*jwksEntry).keys, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("jwks_uri: %w", ctx.Err())
	}
}

func hasKid(keys []jose.JSONWebKey, kid string) bool {
	for _, k := range keys {
		if k.KeyID == kid {
			return true
		}
	}
	return false
}

func (f *JWKSFetcher) mayRefetch(clientID string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if last, ok := f.refetch[clientID]; ok && now.Sub(last) < jwksRefetchPeriod {
		return false
	}
	if _, ok := f.refetch[clientID]; !ok && len(f.refetch) >= f.opt.MaxEntries {
		evictOldest(f.refetch, func(t time.Time) time.Time { return t })
	}
	f.refetch[clientID] = now
	return true
}

// fetch gets uri for clientID and caches the outcome: the keys, or the
// failure for jwksNegativeTTL.
func (f *JWKSFetcher) fetch(ctx context.Context, clientID, uri string) (*jwksEntry, error) {
	e, err := f.get(ctx, uri)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		if c := f.cache[uri]; c != nil && !f.now().Before(c.expires.Add(jwksMaxStale)) {
			delete(f.cache, uri) // past its stale bound: never served again
		}
		if _, ok := f.failed[uri]; !ok && len(f.failed) >= f.opt.MaxEntries {
			evictOldest(f.failed, func(b *jwksFailure) time.Time { return b.until })
		}
		f.failed[uri] = &jwksFailure{err: err, until: f.now().Add(jwksNegativeTTL)}
		return nil, err
	}
	delete(f.failed, uri)
	e.client = clientID
	if _, ok := f.cache[uri]; !ok && len(f.cache) >= f.opt.MaxEntries {
		f.evictFor(clientID)
	}
	f.cache[uri] = e
	return e, nil
}

// evictFor makes room in the full cache for a document fetched for
// clientID by deleting one entry: one this client fetched (a client has one
// jwks_uri, so that is a document it has moved away from), else the one
// fetched longest ago. Never the whole cache: a client that changes its
// jwks_uri over and over (RFC 7592) only displaces its own entries, and
// pushing out another client's keys takes MaxEntries fetches per victim.
// The scan is O(MaxEntries), only when full, next to a network fetch.
func (f *JWKSFetcher) evictFor(clientID string) {
	victim, oldest := "", (*jwksEntry)(nil)
	for uri, e := range f.cache {
		if e.client == clientID {
			delete(f.cache, uri)
			return
		}
		if oldest == nil || e.fetched.Before(oldest.fetched) {
			victim, oldest = uri, e
		}
	}
	delete(f.cache, victim)
}

// evictOldest deletes the entry of m with the earliest time: one entry, so
// a full map costs no one else their entry.
func evictOldest[V any](m map[string]V, at func(V) time.Time) {
	var victim string
	var first time.Time
	found := false
	for k, v := range m {
		if t := at(v); !found || t.Before(first) {
			victim, first, found = k, t, true
		}
	}
	if found {
		delete(m, victim)
	}
}

func (f *JWKSFetcher) get(ctx context.Context, uri string) (*jwksEntry, error) {
	b, hdr, err := f.download(ctx, uri, "application/jwk-set+json, application/json")
	if err != nil {
		return nil, err
	}
	keys, err := ParsePublicJWKS(b)
	if err != nil {
		return nil, err
	}
	now := f.now()
	return &jwksEntry{keys: keys, fetched: now, expires: now.Add(cacheTTL(hdr.Get("Cache-Control")))}, nil
}

// GetDocument fetches a small JSON document other than a JWK Set (an OIDC
// discovery document, OIDC Discovery §4) under the same rules as a jwks_uri:
// HTTPS, the timeout, the size limit, no redirects, the address guard. It
// is not cached: the caller keeps what it needs.
func (f *JWKSFetcher) GetDocument(ctx context.Context, uri string) ([]byte, error) {
	b, _, err := f.download(ctx, uri, "application/json")
	return b, err
}

// download GETs uri with the fetcher's limits.
func (f *JWKSFetcher) download(ctx context.Context, uri, accept string) ([]byte, http.Header, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, nil, errors.New("jwks_uri: must be an https URL")
	}
	ctx, cancel := context.WithTimeout(ctx, f.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("jwks_uri: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, f.opt.MaxBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("jwks_uri: %w", err)
	}
	if int64(len(b)) > f.opt.MaxBytes {
		return nil, nil, fmt.Errorf("jwks_uri: response larger than %d bytes", f.opt.MaxBytes)
	}
	return b, resp.Header, nil
}

// cacheTTL reads max-age from Cache-Control, clamped to [1 min, 24 h].
func cacheTTL(cc string) time.Duration {
	ttl := jwksDefaultTTL
	for _, d := range strings.Split(cc, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(k) {
		case "max-age":
			if n, err := strconv.Atoi(strings.Trim(v, `"`)); err == nil {
				ttl = time.Duration(n) * time.Second
			}
		case "no-store", "no-cache":
			ttl = 0
		}
	}
	return min(max(ttl, jwksMinTTL), jwksMaxTTL)
}
