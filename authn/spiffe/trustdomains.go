package spiffe

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Bundle endpoint profiles (SPIFFE Federation §5.2).
const (
	// ProfileWeb authenticates the endpoint with Web PKI (§5.2.1): the
	// profile draft-ietf-oauth-spiffe-client-auth-02 §6.1 requires for interoperability.
	ProfileWeb = "https_web"
	// ProfileSPIFFE authenticates the endpoint by its own X.509-SVID,
	// verified with the trust domain's current bundle (§5.2.2).
	ProfileSPIFFE = "https_spiffe"
)

// Defaults of the refresh schedule and the fetch limits.
const (
	DefaultMinRefresh    = 30 * time.Second
	DefaultMaxRefresh    = time.Hour
	DefaultRefresh       = 5 * time.Minute // a bundle without spiffe_refresh_hint
	DefaultTimeout       = 10 * time.Second
	DefaultMaxBundleSize = 1 << 20
	// DefaultMaxStale is how long a last good bundle outlives its failing source.
	DefaultMaxStale = 24 * time.Hour
)

// Domain is one trust domain the operator trusts, with exactly one bundle source.
type Domain struct {
	TrustDomain spiffeid.TrustDomain
	// BundleFile is a SPIFFE bundle (JWKS) on disk, re-read on every refresh.
	BundleFile string
	// Endpoint is a SPIFFE bundle endpoint.
	Endpoint *Endpoint
	// WorkloadAPI is the Workload API address (unix:///path/agent.sock): the
	// bundle streamed for this trust domain (the agent's own or a federated one).
	WorkloadAPI string
}

// Endpoint is a SPIFFE bundle endpoint (SPIFFE Federation §4).
type Endpoint struct {
	URL     string
	Profile string // ProfileWeb or ProfileSPIFFE
	// Roots authenticate an https_web endpoint (nil: the system roots).
	Roots *x509.CertPool
	// SPIFFEID is the identity an https_spiffe endpoint must present.
	SPIFFEID spiffeid.ID
	// Initial is the endpoint trust domain's bundle, obtained out of band,
	// that authenticates the first https_spiffe fetch (§5.2.2); later fetches
	// use the last good bundle. Required for https_spiffe when the endpoint
	// belongs to this trust domain.
	Initial *spiffebundle.Bundle
}

// Option configures New.
type Option func(*options)

type options struct {
	minRefresh, maxRefresh time.Duration
	timeout                time.Duration
	maxSize                int64
	maxStale               time.Duration
	now                    func() time.Time
	log                    *slog.Logger
}

// WithRefresh bounds the refresh interval: a bundle's spiffe_refresh_hint
// is honoured within [min, max].
func WithRefresh(min, max time.Duration) Option {
	return func(o *options) { o.minRefresh, o.maxRefresh = min, max }
}

// WithTimeout bounds one bundle fetch (default DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithMaxBundleSize bounds a fetched or read bundle (default DefaultMaxBundleSize).
func WithMaxBundleSize(n int64) Option { return func(o *options) { o.maxSize = n } }

// WithMaxStale bounds how long a trust domain's last good bundle is used
// while its source keeps failing (default DefaultMaxStale): past it, Bundle
// refuses the domain, so authorities dropped upstream — a compromised CA
// removed from the bundle the broker can no longer fetch — do not stay
// trusted forever. Fail closed, as a stale CRL does (tls.crl_fail_closed).
func WithMaxStale(d time.Duration) Option { return func(o *options) { o.maxStale = d } }

// withClock sets the clock the bundle age is read against (tests).
func withClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger logs refresh failures and bundle changes.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// TrustDomains holds the current bundle of every configured trust domain.
// It is an x509bundle.Source and a jwtbundle.Source for exactly those
// domains: a bundle is never looked up for any other.
type TrustDomains struct {
	opts    options
	domains map[spiffeid.TrustDomain]*domain
	order   []spiffeid.TrustDomain

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

var (
	_ x509bundle.Source = (*TrustDomains)(nil)
	_ jwtbundle.Source  = (*TrustDomains)(nil)
)

// domain is one trust domain's source and its last good bundle.
type domain struct {
	td     spiffeid.TrustDomain
	source source
	cur    atomic.Pointer[loaded]
	// kick asks the refresh loop for a refresh now (Refresh).
	kick chan chan error
}

// loaded is a bundle and when it was obtained.
type loaded struct {
	bundle *spiffebundle.Bundle
	at     time.Time
}

// source loads one trust domain's bundle. prev is the last good bundle (nil
// on the first load).
type source interface {
	load(ctx context.Context, prev *spiffebundle.Bundle) (*spiffebundle.Bundle, error)
	// close releases the source (connections, the Workload API stream).
	close()
}

// New loads every domain's first bundle (failing if any cannot be loaded
// before ctx ends) and starts refreshing them in the background until Close.
func New(ctx context.Context, domains []Domain, opts ...Option) (*TrustDomains, error) {
	o := options{minRefresh: DefaultMinRefresh, maxRefresh: DefaultMaxRefresh, timeout: DefaultTimeout, maxSize: DefaultMaxBundleSize, maxStale: DefaultMaxStale, now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	switch {
	case o.minRefresh <= 0 || o.maxRefresh < o.minRefresh:
		return nil, errors.New("spiffe: refresh bounds must satisfy 0 < min <= max")
	case o.timeout <= 0 || o.maxSize <= 0:
		return nil, errors.New("spiffe: timeout and maximum bundle size must be positive")
	case len(domains) == 0:
		return nil, errors.New("spiffe: no trust domain")
	}
	t := &TrustDomains{opts: o, domains: map[spiffeid.TrustDomain]*domain{}}
	t.ctx, t.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, d := range domains {
		if d.TrustDomain.IsZero() {
			t.Close()
			return nil, errors.New("spiffe: a domain without a trust domain name")
		}
		if t.domains[d.TrustDomain] != nil {
			t.Close()
			return nil, fmt.Errorf("spiffe: trust domain %s configured twice", d.TrustDomain)
		}
		src, err := newSource(t.ctx, d, &t.opts)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("spiffe: trust domain %s: %w", d.TrustDomain, err)
		}
		dom := &domain{td: d.TrustDomain, source: src, kick: make(chan chan error)}
		t.domains[d.TrustDomain] = dom
		t.order = append(t.order, d.TrustDomain)
		if err := t.loadOnce(ctx, dom); err != nil {
			t.Close()
			return nil, fmt.Errorf("spiffe: trust domain %s: first bundle: %w", d.TrustDomain, err)
		}
	}
	for _, dom := range t.domains {
		t.wg.Add(1)
		go t.loop(dom)
	}
	return t, nil
}

func newSource(ctx context.Context, d Domain, o *options) (source, error) {
	n := 0
	for _, set := range []bool{d.BundleFile != "", d.Endpoint != nil, d.WorkloadAPI != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("exactly one of a bundle file, a bundle endpoint and the Workload API is required")
	}
	switch {
	case d.BundleFile != "":
		return &fileSource{td: d.TrustDomain, path: d.BundleFile, max: o.maxSize}, nil
	case d.Endpoint != nil:
		return newEndpointSource(d.TrustDomain, *d.Endpoint, o)
	default:
		return newWorkloadSource(ctx, d.TrustDomain, d.WorkloadAPI)
	}
}

// loadOnce loads dom's bundle and keeps it when it is good.
func (t *TrustDomains) loadOnce(ctx context.Context, dom *domain) error {
	ctx, cancel := context.WithTimeout(ctx, t.opts.timeout)
	defer cancel()
	var prev *spiffebundle.Bundle
	if c := dom.cur.Load(); c != nil {
		prev = c.bundle
	}
	b, err := dom.source.load(ctx, prev)
	if err == nil {
		err = checkBundle(dom.td, b)
	}
	if err != nil {
		return err
	}
	if prev != nil && !prev.Equal(b) {
		t.opts.log.Info("SPIFFE bundle changed", "trust_domain", dom.td.String(),
			"x509_authorities", len(b.X509Authorities()), "jwt_authorities", len(b.JWTAuthorities()))
	}
	dom.cur.Store(&loaded{bundle: b, at: t.opts.now()})
	return nil
}

// checkBundle refuses a bundle for another trust domain or without any authority.
func checkBundle(td spiffeid.TrustDomain, b *spiffebundle.Bundle) error {
	switch {
	case b == nil:
		return errors.New("no bundle")
	case b.TrustDomain() != td:
		return fmt.Errorf("bundle is for trust domain %s", b.TrustDomain())
	case len(b.X509Authorities()) == 0 && len(b.JWTAuthorities()) == 0:
		return errors.New("bundle holds no X.509 or JWT authority")
	}
	return nil
}

// next is the interval until the next refresh of b: its refresh hint,
// bounded by the floor and the ceiling (SPIFFE Trust Domain and Bundle §4.1).
func (t *TrustDomains) next(b *spiffebundle.Bundle) time.Duration {
	d := DefaultRefresh
	if h, ok := b.RefreshHint(); ok && h > 0 {
		d = h
	}
	return min(max(d, t.opts.minRefresh), t.opts.maxRefresh)
}

// loop refreshes dom until Close: at the bundle's interval, sooner when
// asked (Refresh); after a failure, at the floor.
func (t *TrustDomains) loop(dom *domain) {
	defer t.wg.Done()
	wait := t.next(dom.cur.Load().bundle)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		var reply chan error
		select {
		case <-t.ctx.Done():
			return
		case <-timer.C:
		case reply = <-dom.kick:
		}
		err := t.loadOnce(t.ctx, dom)
		if err != nil {
			t.opts.log.Warn("SPIFFE bundle refresh failed; keeping the last good bundle",
				"trust_domain", dom.td.String(), "age", t.opts.now().Sub(dom.cur.Load().at).Round(time.Second).String(), "err", err)
			wait = t.opts.minRefresh
		} else {
			wait = t.next(dom.cur.Load().bundle)
		}
		if reply != nil {
			reply <- err
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// Refresh reloads td's bundle now (the operator's reload; tests) and
// reports whether it succeeded; on failure the last good bundle stays.
func (t *TrustDomains) Refresh(ctx context.Context, td spiffeid.TrustDomain) error {
	dom := t.domains[td]
	if dom == nil {
		return fmt.Errorf("spiffe: trust domain %s is not configured", td)
	}
	reply := make(chan error, 1)
	select {
	case dom.kick <- reply:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.ctx.Done():
		return errors.New("spiffe: closed")
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Bundle returns td's current bundle.
func (t *TrustDomains) Bundle(td spiffeid.TrustDomain) (*spiffebundle.Bundle, error) {
	dom := t.domains[td]
	if dom == nil {
		return nil, fmt.Errorf("trust domain %s is not configured", td)
	}
	cur := dom.cur.Load()
	if age := t.opts.now().Sub(cur.at); age > t.opts.maxStale {
		return nil, fmt.Errorf("trust domain %s: the last good bundle is %s old, past max_stale %s (its source keeps failing)", td, age.Round(time.Second), t.opts.maxStale)
	}
	if c, ok := dom.source.(interface {
		current() (*spiffebundle.Bundle, bool)
	}); ok {
		// The Workload API pushes updates: its newest bundle is current.
		if b, ok := c.current(); ok && checkBundle(td, b) == nil {
			return b, nil
		}
	}
	return cur.bundle, nil
}

// GetX509BundleForTrustDomain implements x509bundle.Source.
func (t *TrustDomains) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	b, err := t.Bundle(td)
	if err != nil {
		return nil, err
	}
	return b.X509Bundle(), nil
}

// GetJWTBundleForTrustDomain implements jwtbundle.Source.
func (t *TrustDomains) GetJWTBundleForTrustDomain(td spiffeid.TrustDomain) (*jwtbundle.Bundle, error) {
	b, err := t.Bundle(td)
	if err != nil {
		return nil, err
	}
	return b.JWTBundle(), nil
}

// Status is one trust domain's bundle, for readiness and metrics.
type Status struct {
	TrustDomain     string
	Age             time.Duration // since the last good load
	X509Authorities int
	JWTAuthorities  int
}

// Status lists the configured trust domains in configuration order.
func (t *TrustDomains) Status() []Status {
	out := make([]Status, 0, len(t.order))
	for _, td := range t.order {
		c := t.domains[td].cur.Load()
		b, err := t.Bundle(td)
		if err != nil { // stale: report the last good bundle and its age
			b = c.bundle
		}
		out = append(out, Status{TrustDomain: td.String(), Age: t.opts.now().Sub(c.at), X509Authorities: len(b.X509Authorities()), JWTAuthorities: len(b.JWTAuthorities())})
	}
	return out
}

// TrustDomainNames lists the configured trust domains.
func (t *TrustDomains) TrustDomainNames() []string {
	out := make([]string, 0, len(t.order))
	for _, td := range t.order {
		out = append(out, td.String())
	}
	return slices.Clip(out)
}

// Close stops the refreshes and closes the sources; safe to call twice.
func (t *TrustDomains) Close() error {
	t.once.Do(func() {
		t.cancel()
		t.wg.Wait()
		for _, d := range t.domains {
			d.source.close()
		}
	})
	return nil
}
