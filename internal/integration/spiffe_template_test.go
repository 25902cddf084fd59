package integration_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/authn/spiffe/spiffetest"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/broker"
)

// synthesizing stands in for the client-template decorator (issue 13 item
// 5): an unregistered SPIFFE ID under spiffe://a.test/ns/tmpl/ gets a
// synthesized entry whose client_id is the SPIFFE ID itself.
type synthesizing struct{ inner authn.ClientSource }

func (s synthesizing) Get(ctx context.Context, id string) (*backends.ClientEntry, error) {
	e, err := s.inner.Get(ctx, id)
	if !errors.Is(err, backends.ErrNotFound) || !strings.HasPrefix(id, "spiffe://a.test/ns/tmpl/") {
		return e, err
	}
	method := backends.AuthSPIFFEX509
	if strings.HasSuffix(id, "/jwt") {
		method = backends.AuthSPIFFEJWT
	}
	return &backends.ClientEntry{Client: &backends.Client{ClientID: id, TokenEndpointAuthMethod: method, Scope: "read",
		AllowedResources: []string{audience}}, Secrets: &backends.SecretSet{}}, nil
}

// TestSPIFFESynthesizedEntry: the contract with the template decorator —
// an entry synthesized for a SPIFFE ID, with the SPIFFE ID as client_id and
// a SPIFFE method, verifies exactly like a registered client, and only for
// that SPIFFE ID.
func TestSPIFFESynthesizedEntry(t *testing.T) {
	t.Parallel()
	a, _ := spiffetest.NewCA("a.test")
	dir := t.TempDir()
	bj, _ := a.BundleJSON()
	f := dir + "/a.json"
	if err := os.WriteFile(f, bj, 0o600); err != nil {
		t.Fatal(err)
	}
	tds, err := spiffe.New(context.Background(), []spiffe.Domain{{TrustDomain: a.TD, BundleFile: f}})
	if err != nil {
		t.Fatal(err)
	}
	defer tds.Close()
	e := newEnv(t, withSPIFFE(tds), func(c *broker.Config, _ *cache.Options) {
		c.WrapClients = func(s authn.ClientSource) authn.ClientSource { return synthesizing{spiffe.Clients(s)} }
	})
	se := &spiffeEnv{env: e}
	x509ID := spiffeid.RequireFromString("spiffe://a.test/ns/tmpl/x509")
	jwtID := spiffeid.RequireFromString("spiffe://a.test/ns/tmpl/jwt")
	cert, _ := a.X509SVID(x509ID, time.Hour)
	resp, b := e.postVia(e.withCert(&cert), e.issuer, x509Form(x509ID.String()), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("X.509-SVID, synthesized entry: %d %v\n%s", resp.StatusCode, b, e.logs.String())
	}
	if claims, _ := e.verify(b["access_token"].(string)); claims.Subject != x509ID.String() || claims.Cnf == nil {
		t.Fatalf("sub %q cnf %v", claims.Subject, claims.Cnf)
	}
	tok, _ := a.JWTSVID(jwtID, []string{e.issuer}, time.Minute)
	if resp, b := e.post(jwtForm(tok), nil); resp.StatusCode != 200 {
		t.Fatalf("JWT-SVID, synthesized entry: %d %v", resp.StatusCode, b)
	}
	// Another workload's SVID never authenticates as the synthesized client.
	other, _ := a.X509SVID(spiffeid.RequireFromString("spiffe://a.test/ns/other"), time.Hour)
	before := len(e.logs.String())
	resp, b = e.postVia(e.withCert(&other), e.issuer, x509Form(x509ID.String()), nil)
	se.refused(t, resp, b, before, "is not the X.509-SVID's SPIFFE ID")
	// The method must be the synthesized one.
	before = len(e.logs.String())
	resp, b = e.post(jwtForm(func() string { s, _ := a.JWTSVID(x509ID, []string{e.issuer}, time.Minute); return s }()), nil)
	se.refused(t, resp, b, before, "registered spiffe_x509, request used spiffe_jwt")
}
