package template_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/template"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/file"
)

// svidStandIn is what a SPIFFE method's Detect hands the Authenticator (the
// contract with authn/spiffe): the SPIFFE ID as the identity to look up. It
// verifies nothing; the Source under test decides which client that is.
type svidStandIn struct{ id string }

func (svidStandIn) Name() string { return "spiffe_x509" }
func (m svidStandIn) Detect(r *authn.Request) (string, bool, error) {
	return m.id, m.id != "", nil
}
func (svidStandIn) Verify(context.Context, *authn.Request, *backends.ClientEntry) error { return nil }

type storeSource struct{ s backends.Store }

func (c storeSource) Get(ctx context.Context, id string) (*backends.ClientEntry, error) {
	cl, err := c.s.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	return &backends.ClientEntry{Client: cl, Secrets: &backends.SecretSet{}}, nil
}

// TestSourceResolvesSPIFFEIDs drives the Authenticator through the Source:
// a SPIFFE ID matching a template gets the template's client with the
// SPIFFE ID as client_id; one no template matches is unknown; one a
// registered client holds is refused, at start (NewIndex) and after.
func TestSourceResolvesSPIFFEIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	set, err := template.New([]template.Template{{Name: "payments", SPIFFEID: "spiffe://td/ns/payments/sa/*", Method: "spiffe_x509",
		Scope: []string{"payments:read"}, Audiences: []string{"https://payments.example"}, BoundTokens: true}})
	if err != nil {
		t.Fatal(err)
	}
	index, err := template.NewIndex(ctx, set, store, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { index.Close(); index.Close() })
	src := template.NewSource(storeSource{store}, set, index)
	auth := func(id string) (*authn.Result, error) {
		a, err := authn.New(src, []authn.Method{svidStandIn{id}})
		if err != nil {
			t.Fatal(err)
		}
		return a.Authenticate(ctx, &authn.Request{Form: url.Values{}})
	}
	res, err := auth("spiffe://td/ns/payments/sa/api")
	if err != nil || res.Template != "payments" || res.Client.ClientID != "spiffe://td/ns/payments/sa/api" || !res.Client.TLSClientCertificateBoundAccessTokens {
		t.Fatalf("template workload: %+v, %v", res, err)
	}
	for _, id := range []string{"spiffe://td/ns/billing/sa/api", "spiffe://other/ns/payments/sa/api", "spiffe://td/ns/payments/sa/api/x"} {
		if _, err := auth(id); !errors.Is(err, authn.ErrInvalidClient) {
			t.Errorf("%s: %v", id, err)
		}
	}
	// Registered later with that SPIFFE ID as its certificate match: refused.
	if err := store.CreateClient(ctx, &backends.Client{ClientID: "payments-api", TokenEndpointAuthMethod: backends.AuthTLSClient, TLSClientAuthSANURI: "spiffe://td/ns/payments/sa/api"}); err != nil {
		t.Fatal(err)
	}
	if err := index.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := auth("spiffe://td/ns/payments/sa/api"); !errors.Is(err, authn.ErrInvalidClient) || !errors.Is(err, template.ErrAmbiguous) {
		t.Fatalf("ambiguous identity: %v", err)
	}
	// A fresh start with that client registered starts (a registration must
	// never stop a reload or a replica) and refuses the identity the same way.
	fresh, err := template.NewIndex(ctx, set, store, nil, 0)
	if err != nil {
		t.Fatalf("NewIndex with a registered identity a template matches: %v", err)
	}
	defer fresh.Close()
	if c, held := fresh.Registered("spiffe://td/ns/payments/sa/api"); !held || c != "payments-api" {
		t.Fatalf("fresh index: %q %v", c, held)
	}
}

// failingLister answers once, then fails like an unreachable backend.
type failingLister struct {
	backends.Store
	calls int
}

func (f *failingLister) ListClients(ctx context.Context) ([]string, error) {
	if f.calls++; f.calls > 1 {
		return nil, backends.ErrUnavailable
	}
	return f.Store.ListClients(ctx)
}

// TestIndexKeepsLastGoodOnFailure: a registry re-read that fails keeps the
// last index (a registered identity stays protected through an outage).
func TestIndexKeepsLastGoodOnFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateClient(ctx, &backends.Client{ClientID: "k", TokenEndpointAuthMethod: backends.AuthFederatedJWT,
		FederatedSubject: &backends.FederatedSubject{Issuer: "https://k.example", Subject: "system:serviceaccount:a:b"}}); err != nil {
		t.Fatal(err)
	}
	set, err := template.New([]template.Template{{Name: "t", Issuer: "https://k.example", Claims: map[string]string{"sub": "system:serviceaccount:x:*"},
		Scope: []string{"r"}, Audiences: []string{"https://x.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	l := &failingLister{Store: store}
	index, err := template.NewIndex(ctx, set, l, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer index.Close()
	id := template.FederatedIdentity("https://k.example", "system:serviceaccount:a:b")
	if err := index.Refresh(ctx); !errors.Is(err, backends.ErrUnavailable) {
		t.Fatalf("Refresh = %v", err)
	}
	if c, ok := index.Registered(id); !ok || c != "k" {
		t.Fatalf("the last good index was dropped: %q %v", c, ok)
	}
}
