package vault

import (
	"context"
	"crypto/x509"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenbroker/tokenbroker/certs"
)

// PKIRoots holds the issuer certificates of one or more PKI mounts as a
// trust-anchor pool for tls_client_auth, refreshed in the background (the
// last good pool is kept when Vault cannot be read).
type PKIRoots struct {
	s      *Store
	mounts []string
	pool   atomic.Pointer[x509.CertPool]
	certs  atomic.Pointer[[]*x509.Certificate]
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

// PKIRoots loads the mounts' issuers once (which must succeed) and then every refresh.
func (s *Store) PKIRoots(ctx context.Context, mounts []string, refresh time.Duration) (*PKIRoots, error) {
	p := &PKIRoots{s: s, mounts: mounts, stop: make(chan struct{})}
	if err := p.load(ctx); err != nil {
		return nil, err
	}
	if refresh > 0 {
		p.wg.Go(func() {
			t := time.NewTicker(refresh)
			defer t.Stop()
			for {
				select {
				case <-p.stop:
					return
				case <-t.C:
					ctx, cancel := context.WithTimeout(context.Background(), 2*s.cfg.Timeout)
					if err := p.load(ctx); err != nil {
						s.log.Warn("vault pki: refresh failed; keeping the previous trust anchors", "err", err)
					}
					cancel()
				}
			}
		})
	}
	return p, nil
}

func (p *PKIRoots) load(ctx context.Context) error {
	pool := x509.NewCertPool()
	var all []*x509.Certificate
	n := 0
	for _, m := range p.mounts {
		lp := m + "/issuers"
		sec, err := p.s.client.Logical().ListWithContext(ctx, lp)
		if err != nil {
			return p.s.explain(err, lp, "list")
		}
		if sec == nil {
			return fmt.Errorf("vault pki: mount %q has no issuers", m)
		}
		keys, _ := sec.Data["keys"].([]any)
		for _, k := range keys {
			id, _ := k.(string)
			ip := m + "/issuer/" + id + "/json"
			is, err := p.s.client.Logical().ReadWithContext(ctx, ip)
			if err != nil {
				return p.s.explain(err, ip, "read")
			}
			pemStr, _ := is.Data["certificate"].(string)
			cs, err := certs.ParseCertificatesPEM([]byte(pemStr))
			if err != nil {
				return fmt.Errorf("vault pki: %s: %w", ip, err)
			}
			for _, c := range cs {
				pool.AddCert(c)
				all = append(all, c)
				n++
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("vault pki: no issuer certificates in %v", p.mounts)
	}
	p.certs.Store(&all)
	p.pool.Store(pool)
	return nil
}

// Certificates returns the current issuer certificates.
func (p *PKIRoots) Certificates() []*x509.Certificate { return *p.certs.Load() }

// Get returns the current pool.
func (p *PKIRoots) Get() *x509.CertPool { return p.pool.Load() }

// Close stops refreshing; safe to call twice.
func (p *PKIRoots) Close() error {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
	return nil
}
