package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/broker/registry"
)

// A client's own update (RFC 7592 §2.2) narrows within the operator's
// ceiling: omitted members are the granted values, a subset narrows,
// anything beyond the grant or any change to what only the operator sets is
// refused with the member named. The HTTP side is in the broker's tests.
func TestSelfUpdateWithinCeiling(t *testing.T) {
	ctx := context.Background()
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(store, registry.Config{Methods: []string{backends.AuthClientSecretBasic, backends.AuthClientSecretPost}, DefaultLifetime: 5 * time.Minute})
	const api = "https://api.example"
	if _, err := reg.Create(ctx, &backends.Client{ClientID: "svc", Scope: "read write", AllowedResources: []string{api}}, registry.WithRegistrationToken()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		md    backends.Client
		field string // the refused member, "" when accepted
		check func(c *backends.Client) bool
	}{
		{name: "omitted: the grant", md: backends.Client{}, check: func(c *backends.Client) bool {
			return c.Scope == "read write" && len(c.AllowedResources) == 1 && c.TokenEndpointAuthMethod == backends.AuthClientSecretBasic
		}},
		{name: "narrower scope", md: backends.Client{Scope: "read"}, check: func(c *backends.Client) bool { return c.Scope == "read" }},
		{name: "back up to the grant", md: backends.Client{Scope: "write read"}, check: func(c *backends.Client) bool { return c.Scope == "write read" }},
		{name: "shorter lifetime", md: backends.Client{AccessTokenLifetime: 60}, check: func(c *backends.Client) bool { return c.AccessTokenLifetime == 60 }},
		{name: "scope beyond", md: backends.Client{Scope: "read admin"}, field: "scope"},
		{name: "audience beyond", md: backends.Client{AllowedResources: []string{"https://other.example"}}, field: "allowed_resources"},
		{name: "default audience beyond", md: backends.Client{DefaultAudience: "https://other.example"}, field: "default_audience"},
		{name: "lifetime beyond the default granted", md: backends.Client{AccessTokenLifetime: 301}, field: "access_token_lifetime"},
		{name: "another method", md: backends.Client{TokenEndpointAuthMethod: backends.AuthClientSecretPost}, field: "token_endpoint_auth_method"},
		{name: "a certificate match", md: backends.Client{TLSClientAuthSANDNS: "svc.example"}, field: "tls_client_auth_san_dns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := tc.md
			r, err := reg.SelfUpdate(ctx, "svc", &md)
			var me *registry.MetadataError
			if tc.field != "" {
				if !errors.As(err, &me) || me.Field != tc.field {
					t.Fatalf("%v, want a refusal of %s", err, tc.field)
				}
				return
			}
			if err != nil || !tc.check(r.Client) {
				t.Fatalf("%v: %+v", err, r)
			}
		})
	}
	if _, err := reg.Update(ctx, "svc", &backends.Client{Scope: "read", Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.SelfUpdate(ctx, "svc", &backends.Client{}); !errors.Is(err, registry.ErrDisabled) {
		t.Fatalf("a disabled client updated itself: %v", err)
	}
}
