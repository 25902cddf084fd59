package integration_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/authn/spiffe/spiffetest"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/certs"
)

// webCert is a Web PKI server certificate for 127.0.0.1 from a new CA.
func webCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	ca, err := certs.NewCA("bundle endpoint CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, k, err := ca.Issue(certs.Leaf{CommonName: "bundle", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pair, pool
}

// TestSPIFFEBundleEndpoint: the broker reads a.test's bundle from a bundle
// endpoint of either profile; an endpoint that changes its TLS identity is
// refused and its bundle never used (issue 13 item 8), and the last good
// bundle keeps authenticating the real workloads.
func TestSPIFFEBundleEndpoint(t *testing.T) {
	t.Parallel()
	for _, profile := range []string{spiffe.ProfileWeb, spiffe.ProfileSPIFFE} {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			a, _ := spiffetest.NewCA("a.test")
			evil, _ := spiffetest.NewCA("a.test") // same name, other keys
			for range 3 {                         // and a newer spiffe_sequence
				_ = evil.Rotate()
			}
			serverID := spiffeid.RequireFromString("spiffe://a.test/spire/server")
			var cert tls.Certificate
			ep := &spiffe.Endpoint{Profile: profile}
			switch profile {
			case spiffe.ProfileWeb:
				cert, ep.Roots = webCert(t)
			case spiffe.ProfileSPIFFE:
				cert, _ = a.X509SVID(serverID, time.Hour)
				ep.SPIFFEID, ep.Initial = serverID, a.Bundle()
			}
			srv, err := spiffetest.NewEndpoint(cert, a.BundleJSON)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ep.URL = srv.URL
			tds, err := spiffe.New(ctx, []spiffe.Domain{{TrustDomain: a.TD, Endpoint: ep}})
			if err != nil {
				t.Fatal(err)
			}
			defer tds.Close()
			e := newEnv(t, withSPIFFE(tds))
			id := spiffeid.RequireFromString("spiffe://a.test/w")
			e.client(&backends.Client{ClientID: "spiffe~a.test~w", TokenEndpointAuthMethod: backends.AuthSPIFFEJWT, Scope: "read"})
			good := func() {
				t.Helper()
				tok, _ := a.JWTSVID(id, []string{e.issuer}, time.Minute)
				if resp, b := e.post(jwtForm(tok), nil); resp.StatusCode != 200 {
					t.Fatalf("%d %v\n%s", resp.StatusCode, b, e.logs.String())
				}
			}
			good()
			if profile == spiffe.ProfileSPIFFE {
				// A legitimate rotation: the endpoint's next certificate comes
				// from the new authority, verified with the bundle it served (§5.2.2).
				if err := a.Rotate(); err != nil {
					t.Fatal(err)
				}
				if err := tds.Refresh(ctx, a.TD); err != nil {
					t.Fatal(err)
				}
				c2, _ := a.X509SVID(serverID, time.Hour)
				srv.SetCertificate(c2)
				if err := tds.Refresh(ctx, a.TD); err != nil {
					t.Fatalf("after the endpoint's own rotation: %v", err)
				}
				good()
			}
			// The endpoint changes its TLS identity and serves a bundle with
			// the attacker's authorities: refused, bundle kept.
			var hostile []tls.Certificate
			switch profile {
			case spiffe.ProfileWeb:
				c, _ := webCert(t)
				hostile = append(hostile, c)
			case spiffe.ProfileSPIFFE:
				other, _ := a.X509SVID(spiffeid.RequireFromString("spiffe://a.test/not/the/server"), time.Hour)
				forged, _ := evil.X509SVID(serverID, time.Hour)
				hostile = append(hostile, other, forged)
			}
			srv.SetBundle(evil.BundleJSON)
			for _, c := range hostile {
				srv.SetCertificate(c)
				err := tds.Refresh(ctx, a.TD)
				if err == nil {
					t.Fatal("an endpoint with another TLS identity was trusted")
				}
				if !strings.Contains(err.Error(), "certificate") && !strings.Contains(err.Error(), "unexpected ID") {
					t.Fatalf("refused for another reason than the TLS identity: %v", err)
				}
				t.Logf("refused: %v", err)
				tok, _ := evil.JWTSVID(id, []string{e.issuer}, time.Minute)
				before := len(e.logs.String())
				resp, b := e.post(jwtForm(tok), nil)
				(&spiffeEnv{env: e}).refused(t, resp, b, before, "no JWT authority")
				good()
			}
		})
	}
}
