package policy_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker/policy"
)

// Decide grants what the registration allows and refuses the rest with the
// OAuth error code the token endpoint answers.
func TestDecide(t *testing.T) {
	p := policy.Policy{DefaultAudience: "https://default.example", Lifetime: 5 * time.Minute, MaxLifetime: 10 * time.Minute}
	client := func(mod func(c *backends.Client)) *authn.Result {
		c := &backends.Client{ClientID: "c", Scope: "read write", AllowedResources: []string{"https://api.example"}}
		if mod != nil {
			mod(c)
		}
		return &authn.Result{Client: c, Method: backends.AuthClientSecretBasic}
	}
	for _, tc := range []struct {
		name      string
		res       *authn.Result
		scope     string
		resources []string
		code      string // the refusal, "" when granted
		scopes    []string
		aud       []string
		life      time.Duration
	}{
		{name: "defaults", res: client(nil), scopes: []string{"read", "write"}, aud: []string{"https://default.example"}, life: 5 * time.Minute},
		{name: "subset, deduplicated", res: client(nil), scope: "read read", resources: []string{"https://api.example", "https://api.example"}, scopes: []string{"read"}, aud: []string{"https://api.example"}, life: 5 * time.Minute},
		{name: "client default audience", res: client(func(c *backends.Client) { c.DefaultAudience = "https://own.example" }), scopes: []string{"read", "write"}, aud: []string{"https://own.example"}, life: 5 * time.Minute},
		{name: "client lifetime capped", res: client(func(c *backends.Client) { c.AccessTokenLifetime = 3600 }), scopes: []string{"read", "write"}, aud: []string{"https://default.example"}, life: 10 * time.Minute},
		{name: "client lifetime shorter", res: client(func(c *backends.Client) { c.AccessTokenLifetime = 60 }), scopes: []string{"read", "write"}, aud: []string{"https://default.example"}, life: time.Minute},
		{name: "scope not registered", res: client(nil), scope: "admin", code: "invalid_scope"},
		{name: "malformed scope", res: client(nil), scope: "read  write", code: "invalid_scope"},
		{name: "resource not allowed", res: client(nil), resources: []string{"https://other.example"}, code: "invalid_target"},
		{name: "resource with a fragment", res: client(nil), resources: []string{"https://api.example#x"}, code: "invalid_target"},
		{name: "other grant", res: client(func(c *backends.Client) { c.GrantTypes = []string{"authorization_code"} }), code: "unauthorized_client"},
		{name: "bound tokens without a certificate", res: client(func(c *backends.Client) { c.TLSClientCertificateBoundAccessTokens = true }), code: "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := p.Decide(tc.res, tc.scope, tc.resources)
			var pe *policy.Error
			if tc.code != "" {
				if !errors.As(err, &pe) || pe.Code != tc.code {
					t.Fatalf("%v, want %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(g.Scopes) != fmt.Sprint(tc.scopes) || fmt.Sprint(g.Audience) != fmt.Sprint(tc.aud) || g.Lifetime != tc.life {
				t.Fatalf("granted %v %v %s; want %v %v %s", g.Scopes, g.Audience, g.Lifetime, tc.scopes, tc.aud, tc.life)
			}
		})
	}
	if g, _ := (policy.Policy{}).Decide(client(func(c *backends.Client) { c.AccessTokenLifetime = 3600; c.DefaultAudience = "https://a.example" }), "", nil); g.Lifetime != policy.HardMaxLifetime {
		t.Fatalf("zero policy: lifetime %s, want %s", g.Lifetime, policy.HardMaxLifetime)
	}
}

// A client registered for read and write asks for read at one of its audiences.
func ExamplePolicy_Decide() {
	p := policy.Policy{Lifetime: 5 * time.Minute}
	res := &authn.Result{Client: &backends.Client{ClientID: "billing", Scope: "read write", AllowedResources: []string{"https://api.example.com"}}}
	g, err := p.Decide(res, "read", []string{"https://api.example.com"})
	fmt.Println(g.Scopes, g.Audience, g.Lifetime, err)
	_, err = p.Decide(res, "admin", nil)
	fmt.Println(err)
	// Output:
	// [read] [https://api.example.com] 5m0s <nil>
	// invalid_scope: requested scope is not registered for this client
}
