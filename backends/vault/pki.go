package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/refresh"
)

// PKIRoots holds the issuers of one or more PKI mounts for tls_client_auth,
// refreshed in the background (the last good set is kept when Vault cannot
// be read). Self-signed issuers are trust anchors; the others are
// intermediates, which may complete a client's path to an anchor but never
// end one (RFC 5280 §6.1). An issuer revoked in Vault is neither, and is
// reported by Distrusted so a chain holding it is refused even when the
// client presents it itself.
type PKIRoots struct {
	s      *Store
	mounts []string
	cur    atomic.Pointer[pkiSet]
	loop   *refresh.Loop
}

// pkiSet is one load of the mounts' issuers.
type pkiSet struct {
	roots, inter *x509.CertPool
	rootCerts    []*x509.Certificate
	revoked      map[[32]byte]bool // SHA-256 of the certificate DER
}

// PKIRoots loads the mounts' issuers once (which must succeed) and then every
// interval (not at all when it is 0); Close stops the refresh.
func (s *Store) PKIRoots(ctx context.Context, mounts []string, every time.Duration) (*PKIRoots, error) {
	p := &PKIRoots{s: s, mounts: mounts}
	if err := p.load(ctx); err != nil {
		return nil, err
	}
	// The loop outlives the constructor's context (a start-up deadline).
	p.loop = refresh.Every(context.WithoutCancel(ctx), every, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 2*s.cfg.Timeout)
		defer cancel()
		if err := p.load(ctx); err != nil {
			s.log.Warn("vault pki: refresh failed; keeping the previous trust anchors", "err", err)
		}
	})
	return p, nil
}

func (p *PKIRoots) load(ctx context.Context) error {
	set := &pkiSet{roots: x509.NewCertPool(), inter: x509.NewCertPool(), revoked: map[[32]byte]bool{}}
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
			// The authenticated read: unlike issuer/:ref/json it says whether the issuer is revoked.
			ip := m + "/issuer/" + id
			is, err := p.s.client.Logical().ReadWithContext(ctx, ip)
			if err != nil {
				return p.s.explain(err, ip, "read")
			}
			if is == nil {
				continue // deleted between list and read
			}
			pemStr, _ := is.Data["certificate"].(string)
			cs, err := certs.ParseCertificatesPEM([]byte(pemStr))
			if err != nil {
				return fmt.Errorf("vault pki: %s: %w", ip, err)
			}
			revoked, _ := is.Data["revoked"].(bool)
			for _, c := range cs {
				n++
				switch {
				case revoked:
					// A revoked issuer anchors nothing and completes no path.
					set.revoked[sha256.Sum256(c.Raw)] = true
				case selfSigned(c):
					set.roots.AddCert(c)
					set.rootCerts = append(set.rootCerts, c)
				default:
					set.inter.AddCert(c)
				}
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("vault pki: no issuer certificates in %v", p.mounts)
	}
	p.cur.Store(set)
	return nil
}

// selfSigned reports whether c is a root: issued by its own subject under its own key.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// Certificates returns the current trust anchors (the self-signed, unrevoked issuers).
func (p *PKIRoots) Certificates() []*x509.Certificate { return p.cur.Load().rootCerts }

// Get returns the current trust-anchor pool.
func (p *PKIRoots) Get() *x509.CertPool { return p.cur.Load().roots }

// Intermediates returns the current pool of unrevoked intermediate issuers.
func (p *PKIRoots) Intermediates() *x509.CertPool { return p.cur.Load().inter }

// Distrusted reports whether c is an issuer revoked in Vault.
func (p *PKIRoots) Distrusted(c *x509.Certificate) bool {
	set := p.cur.Load()
	return len(set.revoked) > 0 && set.revoked[sha256.Sum256(c.Raw)]
}

// Close stops refreshing; safe to call twice.
func (p *PKIRoots) Close() error {
	p.loop.Stop()
	return nil
}
