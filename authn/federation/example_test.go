package federation_test

import (
	"fmt"

	"github.com/tokenbroker/tokenbroker/authn/federation"
)

func ExampleNew() {
	m, err := federation.New(federation.Config{Issuers: []federation.IssuerConfig{{
		Issuer:         "https://kubernetes.default.svc.cluster.local",
		Audience:       "https://broker.example",
		RequiredClaims: map[string]string{"kubernetes.io.namespace": "payments"},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The method is picked by the assertion's iss (authn.IssuerMethod).
	fmt.Println(m.Name(), m.VerifiesIssuer("https://kubernetes.default.svc.cluster.local"), m.VerifiesIssuer("https://elsewhere.example"))
	// Output: federated_jwt true false
}

func ExampleClaims_Lookup() {
	c, _ := federation.ParseClaims([]byte(`{"sub":"system:serviceaccount:payments:api","kubernetes.io":{"namespace":"payments","serviceaccount":{"name":"api"}}}`))
	fmt.Println(c.Lookup("kubernetes.io.serviceaccount.name"))
	// Output: api true
}
