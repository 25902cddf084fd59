package spiffe

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
)

// X509SVID is spiffe_x509 client authentication
// (draft-ietf-oauth-spiffe-client-auth-02 §3.2): mutual TLS with the
// client's X.509-SVID, verified against the X.509 authorities of the trust
// domain of its own SPIFFE ID — never against the static client CA files
// (§6.2.3). The certificate is the credential: the Authenticator applies
// the method when the client registered it, and the request names the
// client with client_id, which must be the SVID's SPIFFE ID.
func X509SVID(bundles x509bundle.Source) authn.Method { return &x509Method{bundles: bundles} }

type x509Method struct {
	authn.CertificateOnly
	bundles x509bundle.Source
}

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
	id, _, err := x509svid.Verify(r.Certificates.Chain, m.bundles, x509svid.WithTime(r.Now))
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
