package authn

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/certs"
)

// TLSClientAuth is RFC 8705 §2.1 PKI mutual-TLS client authentication.
// roots returns the current client CA pool (it may be reloaded); crls may be nil.
func TLSClientAuth(roots func() *x509.CertPool, crls *certs.CRLSet) Method {
	return &tlsClientAuth{roots: roots, crls: crls}
}

type tlsClientAuth struct {
	roots func() *x509.CertPool
	crls  *certs.CRLSet
}

var _ CertificateMethod = (*tlsClientAuth)(nil)

func (*tlsClientAuth) Name() string     { return backends.AuthTLSClient }
func (*tlsClientAuth) certificateOnly() {}

// Detect: the certificate is the credential; the Authenticator resolves the
// method from the client's registration when no other credential is present.
func (*tlsClientAuth) Detect(*Request) (string, bool, error) { return "", false, nil }

func (m *tlsClientAuth) Verify(ctx context.Context, r *Request, e *cache.ClientEntry) error {
	if len(r.PeerCertificates) == 0 {
		return errors.New("no client certificate")
	}
	c := e.Client
	chains, err := certs.VerifyClientChain(r.PeerCertificates, m.roots(), r.Now)
	if err != nil {
		return err
	}
	leaf := r.PeerCertificates[0]
	if err := matchRegistered(leaf, c); err != nil {
		return err
	}
	// Every verified chain must survive the pin and the CRLs; one good chain suffices.
	var last error
	for _, ch := range chains {
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
func matchRegistered(leaf *x509.Certificate, c *backends.Client) error {
	var ok bool
	var what string
	switch {
	case c.TLSClientAuthSubjectDN != "":
		ok, what = certs.MatchSubjectDN(leaf, c.TLSClientAuthSubjectDN), "subject DN"
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
