package spiffe_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/authn/spiffe/spiffetest"
	"github.com/tokenbroker/tokenbroker/certs"
)

func webEndpoint(t *testing.T, bundle func() ([]byte, error)) (*spiffetest.Endpoint, *x509.CertPool) {
	t.Helper()
	ca, err := certs.NewCA("web CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, k, _ := ca.Issue(certs.Leaf{CommonName: "bundle", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	pair, _ := tls.X509KeyPair(c, k)
	ep, err := spiffetest.NewEndpoint(pair, bundle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ep.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return ep, pool
}

// TestEndpointRefusals: what a bundle endpoint with a valid TLS identity
// can still not do — replay an older bundle (spiffe_sequence), answer with
// an error status, send more than the size bound, or an empty bundle. Each
// time the last good bundle stays.
func TestEndpointRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ca, _ := spiffetest.NewCA("a.test")
	old, _ := ca.BundleJSON() // spiffe_sequence 1
	_ = ca.Rotate()           // spiffe_sequence 2
	ep, pool := webEndpoint(t, ca.BundleJSON)
	tds, err := spiffe.New(ctx, []spiffe.Domain{{TrustDomain: ca.TD, Endpoint: &spiffe.Endpoint{URL: ep.URL, Profile: spiffe.ProfileWeb, Roots: pool}}},
		spiffe.WithMaxBundleSize(16<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer tds.Close()
	for _, tc := range []struct {
		name   string
		serve  func() ([]byte, error)
		reason string
	}{
		{"an older spiffe_sequence", func() ([]byte, error) { return old, nil }, "older than the current"},
		{"an error status", func() ([]byte, error) { return nil, os.ErrNotExist }, "answered 404"},
		{"over the size bound", func() ([]byte, error) { return []byte(`{"keys":[],"x":"` + strings.Repeat("a", 20<<10) + `"}`), nil }, "larger than"},
		{"no authority", func() ([]byte, error) { return []byte(`{"keys":[],"spiffe_sequence":9}`), nil }, "no X.509 or JWT authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep.SetBundle(tc.serve)
			err := tds.Refresh(ctx, ca.TD)
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("refresh: %v, want %q", err, tc.reason)
			}
			if b, _ := tds.Bundle(ca.TD); len(b.X509Authorities()) != 2 {
				t.Fatal("the last good bundle was not kept")
			}
		})
	}
	// An empty bundle file refuses the start.
	f := filepath.Join(t.TempDir(), "empty.json")
	_ = os.WriteFile(f, []byte(`{"keys":[]}`), 0o600)
	if tds, err := spiffe.New(ctx, []spiffe.Domain{{TrustDomain: ca.TD, BundleFile: f}}); err == nil {
		tds.Close()
		t.Fatal("an empty bundle was accepted")
	}
}
