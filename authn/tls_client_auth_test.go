package authn_test

import (
	"crypto/x509"
	"net/url"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/certs"
)

// A distrusted issuer (revoked in Vault PKI) fails the chain even when the
// client presents it itself; operator intermediates complete a leaf alone.
func TestTLSClientAuthAnchorOptions(t *testing.T) {
	t.Parallel()
	root, err := certs.NewCA("root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := certs.NewCA("intermediate", time.Hour)
	ip, ik, _ := root.Issue(certs.Leaf{CommonName: "intermediate", IsCA: true, Key: k.Key})
	inter, err := certs.LoadCA(ip, ik)
	if err != nil {
		t.Fatal(err)
	}
	lp, _, _ := inter.Issue(certs.Leaf{CommonName: "m", URIs: []string{"spiffe://example.org/m"}, Client: true})
	leaf, _ := certs.ParseCertificatesPEM(lp)
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root.Cert)
	inters.AddCert(inter.Cert)
	src := source{"m": {Client: &backends.Client{ClientID: "m", TokenEndpointAuthMethod: backends.AuthTLSClient, TLSClientAuthSANURI: "spiffe://example.org/m"}, Secrets: &backends.SecretSet{}}}
	distrusted := func(c *x509.Certificate) bool { return c.Equal(inter.Cert) }
	for _, tc := range []struct {
		name  string
		opts  []authn.TLSOption
		chain []*x509.Certificate
		ok    bool
	}{
		{"presented chain", nil, []*x509.Certificate{leaf[0], inter.Cert}, true},
		{"leaf alone, no operator intermediates", nil, leaf, false},
		{"leaf alone, operator intermediates", []authn.TLSOption{authn.WithIntermediates(func() *x509.CertPool { return inters })}, leaf, true},
		{"distrusted issuer presented", []authn.TLSOption{authn.WithDistrusted(distrusted)}, []*x509.Certificate{leaf[0], inter.Cert}, false},
		{"distrusted issuer completed", []authn.TLSOption{authn.WithIntermediates(func() *x509.CertPool { return inters }), authn.WithDistrusted(distrusted)}, leaf, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := authn.New(src, []authn.Method{authn.TLSClientAuth(func() *x509.CertPool { return roots }, nil, tc.opts...)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Authenticate(t.Context(), &authn.Request{Form: url.Values{"client_id": {"m"}}, Certificates: certs.NewPresented(tc.chain)})
			if (err == nil) != tc.ok {
				t.Fatalf("authenticate: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
