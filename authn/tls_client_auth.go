package authn

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/certs"
)

// TLSClientAuth is RFC 8705 §2.1 PKI mutual-TLS client authentication.
// roots returns the current client CA pool (it may be reloaded); crls may be nil.
func TLSClientAuth(roots func() *x509.CertPool, crls *certs.CRLSet, opts ...TLSOption) Method {
	m := &tlsClientAuth{roots: roots, crls: crls, verified: map[verifyKey]verifiedChains{}}
	for _, o := range opts {
		o(m)
	}
	return m
}

// TLSOption configures TLSClientAuth.
type TLSOption func(*tlsClientAuth)

// WithIntermediates adds operator-provided intermediate CA certificates
// (e.g. a Vault PKI intermediate mount's issuers): they may complete a path
// from a client's certificate to a root, and never terminate one.
func WithIntermediates(pool func() *x509.CertPool) TLSOption {
	return func(m *tlsClientAuth) { m.intermediates = pool }
}

// WithDistrusted refuses every chain holding a certificate for which
// distrusted reports true (e.g. an issuer revoked in Vault PKI), even one the
// client presents itself.
func WithDistrusted(distrusted func(*x509.Certificate) bool) TLSOption {
	return func(m *tlsClientAuth) { m.distrusted = distrusted }
}

type tlsClientAuth struct {
	roots         func() *x509.CertPool
	intermediates func() *x509.CertPool
	distrusted    func(*x509.Certificate) bool
	crls          *certs.CRLSet

	// verified caches successful path building for a presented chain and CA
	// pool, so a client on a keep-alive connection does not pay the chain's
	// signature checks on every request. Validity periods and CRLs are still
	// checked on every request.
	mu       sync.Mutex
	verified map[verifyKey]verifiedChains
}

type verifyKey struct {
	chain        [32]byte
	roots, inter *x509.CertPool
}

type verifiedChains struct {
	chains [][]*x509.Certificate
	until  time.Time
}

const (
	chainCacheTTL = 5 * time.Minute
	chainCacheMax = 10_000
)

// verify returns the verified chains, from the cache when possible.
func (m *tlsClientAuth) verify(presented *certs.Presented, now time.Time) ([][]*x509.Certificate, error) {
	roots := m.roots()
	var inter *x509.CertPool
	if m.intermediates != nil {
		inter = m.intermediates()
	}
	k := verifyKey{chain: presented.ChainSHA256, roots: roots, inter: inter}
	m.mu.Lock()
	v, ok := m.verified[k]
	m.mu.Unlock()
	if ok && now.Before(v.until) {
		for _, ch := range v.chains {
			for _, c := range ch {
				if err := certs.CheckValidity(c, now); err != nil {
					return nil, err
				}
			}
		}
		return v.chains, nil
	}
	chains, err := certs.VerifyClientChainWith(presented.Chain, roots, inter, now)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if len(m.verified) >= chainCacheMax {
		clear(m.verified)
	}
	m.verified[k] = verifiedChains{chains: chains, until: now.Add(chainCacheTTL)}
	m.mu.Unlock()
	return chains, nil
}

var _ CertificateMethod = (*tlsClientAuth)(nil)

func (*tlsClientAuth) Name() string     { return backends.AuthTLSClient }
func (*tlsClientAuth) certificateOnly() {}

// Detect: the certificate is the credential; the Authenticator resolves the
// method from the client's registration when no other credential is present.
func (*tlsClientAuth) Detect(*Request) (string, bool, error) { return "", false, nil }

func (m *tlsClientAuth) Verify(ctx context.Context, r *Request, e *backends.ClientEntry) error {
	if r.Certificates == nil {
		return errors.New("no client certificate")
	}
	c := e.Client
	chains, err := m.verify(r.Certificates, r.Now)
	if err != nil {
		return err
	}
	if err := matchRegistered(r.Certificates, c); err != nil {
		return err
	}
	// Every verified chain must survive the pin and the CRLs; one good chain suffices.
	var last error
	for _, ch := range chains {
		if m.distrusted != nil && slices.ContainsFunc(ch[1:], m.distrusted) {
			last = errors.New("chain holds a distrusted (revoked) issuer")
			continue
		}
		if pin := c.TLSClientAuthCASHA256; pin != "" {
			if len(ch) < 2 || certs.SHA256Hex(ch[1]) != certs.NormalizeHexFingerprint(pin) {
				last = errors.New("issuing CA does not match the pinned tls_client_auth_ca_sha256")
				continue
			}
		}
		if err := m.crls.Check(ch); err != nil {
			last = err
			continue
		}
		return nil
	}
	return last
}

// matchRegistered applies the one attribute the client registered (RFC 8705 §2.1.2).
func matchRegistered(p *certs.Presented, c *backends.Client) error {
	leaf := p.Leaf()
	var ok bool
	var what string
	switch {
	case c.TLSClientAuthSubjectDN != "":
		ok, what = p.MatchSubjectDN(c.TLSClientAuthSubjectDN), "subject DN"
	case c.TLSClientAuthSANDNS != "":
		ok, what = certs.MatchSAN(leaf, certs.SANDNS, c.TLSClientAuthSANDNS), "DNS SAN"
	case c.TLSClientAuthSANURI != "":
		ok, what = certs.MatchSAN(leaf, certs.SANURI, c.TLSClientAuthSANURI), "URI SAN"
	case c.TLSClientAuthSANIP != "":
		ok, what = certs.MatchSAN(leaf, certs.SANIP, c.TLSClientAuthSANIP), "IP SAN"
	case c.TLSClientAuthSANEmail != "":
		ok, what = certs.MatchSAN(leaf, certs.SANEmail, c.TLSClientAuthSANEmail), "email SAN"
	default:
		return errors.New("client registered no tls_client_auth attribute")
	}
	if !ok {
		return fmt.Errorf("certificate %s does not match the registration", what)
	}
	return nil
}
