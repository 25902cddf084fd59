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

// TestSelfUpdateKeepsDPoP: RFC 9449 §5.2 — once the operator (or the
// registration) required DPoP, the client's own update cannot drop it; a
// client registered without it may turn it on.
func TestSelfUpdateKeepsDPoP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(store, registry.Config{Methods: []string{backends.AuthClientSecretBasic}, DefaultLifetime: 5 * time.Minute})
	if _, err := reg.Create(ctx, &backends.Client{ClientID: "req", Scope: "read", DPoPBoundAccessTokens: true}, registry.WithRegistrationToken()); err != nil {
		t.Fatal(err)
	}
	r, err := reg.SelfUpdate(ctx, "req", &backends.Client{Scope: "read", DPoPBoundAccessTokens: false})
	if err != nil || !r.Client.DPoPBoundAccessTokens {
		t.Fatalf("self-update dropped the DPoP requirement: %v, %+v", err, r)
	}
	if c, err := store.GetClient(ctx, "req"); err != nil || !c.DPoPBoundAccessTokens || c.Ceiling == nil || !c.Ceiling.DPoPBoundAccessTokens {
		t.Fatalf("stored: %+v, %v", c, err)
	}
	if _, err := reg.Create(ctx, &backends.Client{ClientID: "opt", Scope: "read"}, registry.WithRegistrationToken()); err != nil {
		t.Fatal(err)
	}
	if r, err := reg.SelfUpdate(ctx, "opt", &backends.Client{DPoPBoundAccessTokens: true}); err != nil || !r.Client.DPoPBoundAccessTokens {
		t.Fatalf("opting in: %v, %+v", err, r)
	}
	if r, err := reg.SelfUpdate(ctx, "opt", &backends.Client{}); err != nil || r.Client.DPoPBoundAccessTokens {
		t.Fatalf("a requirement the client chose itself, within a ceiling without it, can be dropped again: %v, %+v", err, r)
	}
	// One binding per token: a record cannot require both.
	_, err = reg.Create(ctx, &backends.Client{ClientID: "both", Scope: "read", DPoPBoundAccessTokens: true, TLSClientCertificateBoundAccessTokens: true})
	var me *registry.MetadataError
	if !errors.As(err, &me) || me.Field != "dpop_bound_access_tokens" {
		t.Fatalf("both requirements: %v", err)
	}
}
