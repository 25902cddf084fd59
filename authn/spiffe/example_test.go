package spiffe_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/authn/spiffe/spiffetest"
	"github.com/tokenbroker/tokenbroker/backends"
)

// clientMap is a client source for the example.
type clientMap map[string]*backends.ClientEntry

func (m clientMap) Get(_ context.Context, id string) (*backends.ClientEntry, error) {
	if e, ok := m[id]; ok {
		return e, nil
	}
	return nil, backends.ErrNotFound
}

// A trust domain from a bundle file, both SPIFFE methods, and a registered
// JWT-SVID client found by its SPIFFE ID.
func ExampleNew() {
	ctx := context.Background()
	ca, _ := spiffetest.NewCA("prod.example")
	bundle, _ := ca.BundleJSON()
	file := filepath.Join(os.TempDir(), "prod.example.bundle.json")
	_ = os.WriteFile(file, bundle, 0o600)
	defer os.Remove(file)

	tds, err := spiffe.New(ctx, []spiffe.Domain{{TrustDomain: ca.TD, BundleFile: file}},
		spiffe.WithRefresh(30*time.Second, time.Hour), spiffe.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tds.Close()
	jwtm, _ := spiffe.JWTSVID(tds, spiffe.JWTConfig{Issuer: "https://auth.example.com"})

	workload := spiffeid.RequireFromString("spiffe://prod.example/ns/payments/sa/api")
	key, _ := spiffe.ClientKey(workload)
	clients := clientMap{key: {Client: &backends.Client{ClientID: key, TokenEndpointAuthMethod: backends.AuthSPIFFEJWT}}}
	a, _ := authn.New(spiffe.Clients(clients), []authn.Method{spiffe.X509SVID(tds), jwtm})

	svid, _ := ca.JWTSVID(workload, []string{"https://auth.example.com"}, 5*time.Minute)
	res, err := a.Authenticate(ctx, &authn.Request{Form: map[string][]string{
		"client_assertion_type": {spiffe.AssertionType}, "client_assertion": {svid}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Client.ClientID, res.Method)
	// Output: spiffe~prod.example~ns~payments~sa~api spiffe_jwt
}
