package spiffe

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/certs"
)

// X509SVID is spiffe_x509 client authentication
// (draft-ietf-oauth-spiffe-client-auth-02 §3.2): mutual TLS with the
// client's X.509-SVID, verified against the X.509 authorities of the trust
// domain of its own SPIFFE ID — never against the static client CA files
// (§6.2.3). The certificate is the credential: the Authenticator applies
// the method when the client registered it, and the request names the
// client with client_id, which must be the SVID's SPIFFE ID.
func X509SVID(bundles x509bundle.Source) authn.Method {
	return &x509Method{bundles: bundles, verified: map[[32]byte]verifiedSVID{}}
}

type x509Method struct {
	authn.CertificateOnly
	bundles x509bundle.Source

	// verified caches a chain's successful verification, so a workload on a
	// keep-alive connection (or presenting the same SVID again) does not pay
	// the chain's signature checks on every request. A hit still requires
	// the chain's root to be in the trust domain's current bundle and every
	// certificate of the chain to be within its validity period now.
	mu       sync.Mutex
	verified map[[32]byte]verifiedSVID
}

type verifiedSVID struct {
	id    spiffeid.ID
	chain []*x509.Certificate // leaf … root, as verified
	until time.Time
}

const (
	svidCacheTTL = 5 * time.Minute
	svidCacheMax = 10_000
)

var _ authn.CertificateMethod = (*x509Method)(nil)

func (*x509Method) Name() string { return backends.AuthSPIFFEX509 }

// Detect: the certificate is the credential; the Authenticator picks the
// method from the client's registration when no other credential is present.
func (*x509Method) Detect(*authn.Request) (string, bool, error) { return "", false, nil }

func (m *x509Method) Verify(_ context.Context, r *authn.Request, e *backends.ClientEntry) error {
	if r.Certificates == nil {
		return errors.New("no client certificate")
	}
	// §3.2 steps 1-3: path validation against the trust domain's
	// authorities, exactly one URI SAN with a SPIFFE ID, a leaf that is no CA
	// (go-spiffe's x509svid.Verify; the bundle is the one of the SVID's own
	// trust domain, so an SVID of domain A claiming an ID in B does not verify).
	id, err := m.verify(r.Certificates, r.Now)
	if err != nil {
		return err
	}
	// §3.2 step 4 (X509-SVID §4.3): digitalSignature must be set.
	if r.Certificates.Leaf().KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return errors.New("X.509-SVID without the digitalSignature key usage")
	}
	// §3.2: the client_id parameter MUST be the SVID's SPIFFE ID.
	if got := r.Form.Get("client_id"); got != id.String() {
		return fmt.Errorf("client_id %.80q is not the X.509-SVID's SPIFFE ID %s", got, id)
	}
	// §3.2 step 5: the SPIFFE ID is the registered client's.
	if !registeredAs(e.Client.ClientID, id) {
		return fmt.Errorf("X.509-SVID %s is not client %q", id, e.Client.ClientID)
	}
	return nil
}

// verify is x509svid.Verify, from the cache when the same chain verified
// before and its root is still an authority of the trust domain.
func (m *x509Method) verify(p *certs.Presented, now time.Time) (spiffeid.ID, error) {
	m.mu.Lock()
	v, ok := m.verified[p.ChainSHA256]
	m.mu.Unlock()
	if ok && now.Before(v.until) && m.stillValid(v, now) {
		return v.id, nil
	}
	id, chains, err := x509svid.Verify(p.Chain, m.bundles, x509svid.WithTime(now))
	if err != nil {
		return id, err
	}
	m.mu.Lock()
	if len(m.verified) >= svidCacheMax {
		clear(m.verified)
	}
	m.verified[p.ChainSHA256] = verifiedSVID{id: id, chain: chains[0], until: now.Add(svidCacheTTL)}
	m.mu.Unlock()
	return id, nil
}

// stillValid: the verified chain's root is in the current bundle of the
// SVID's trust domain and every certificate is valid at now.
func (m *x509Method) stillValid(v verifiedSVID, now time.Time) bool {
	b, err := m.bundles.GetX509BundleForTrustDomain(v.id.TrustDomain())
	if err != nil || !b.HasX509Authority(v.chain[len(v.chain)-1]) {
		return false
	}
	for _, c := range v.chain {
		if certs.CheckValidity(c, now) != nil {
			return false
		}
	}
	return true
}
