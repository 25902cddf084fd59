package template_test

import (
	"fmt"

	"github.com/tokenbroker/tokenbroker/authn/template"
)

func ExampleNew() {
	set, err := template.New([]template.Template{
		{Name: "payments", SPIFFEID: "spiffe://prod.example/ns/payments/sa/*", Method: "spiffe_x509",
			Scope: []string{"payments:read"}, Audiences: []string{"https://payments.example"}},
		{Name: "deployers", Issuer: "https://kubernetes.example", Claims: map[string]string{"sub": "system:serviceaccount:*:deployer"},
			Scope: []string{"deploy"}, Audiences: []string{"https://deploy.example"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	t, ok := set.MatchSPIFFE("spiffe://prod.example/ns/payments/sa/api")
	fmt.Println(t.Name, ok)
	_, ok = set.MatchSPIFFE("spiffe://prod.example/ns/payments/sa/api/extra")
	fmt.Println(ok)
	_, err = template.New([]template.Template{
		{Name: "a", SPIFFEID: "spiffe://td/ns/*/sa/api", Method: "spiffe_x509", Scope: []string{"r"}, Audiences: []string{"https://x"}},
		{Name: "b", SPIFFEID: "spiffe://td/ns/payments/sa/*", Method: "spiffe_x509", Scope: []string{"r"}, Audiences: []string{"https://x"}},
	})
	fmt.Println(err)
	// Output:
	// payments true
	// false
	// templates[1].name: template "b" overlaps template "a": some workload identity matches both
}
