package backendtest

import (
	"context"
	"errors"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
)

// federatedSubject: a federated client's {iss, sub} comes back exactly as
// stored, and a read-modify-write of other members keeps it.
func federatedSubject(t *testing.T, s backends.Store) {
	ctx := context.Background()
	c := sample("federated")
	c.TokenEndpointAuthMethod = backends.AuthFederatedJWT
	c.FederatedSubject = &backends.FederatedSubject{Issuer: "https://kubernetes.default.svc.cluster.local", Subject: "system:serviceaccount:payments:api"}
	RoundTrip(t, s, c)
	if err := s.CreateClient(ctx, c.Clone()); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetClient(ctx, "federated")
	if err != nil {
		t.Fatal(err)
	}
	got.Scope = "read"
	if err := s.UpdateClient(ctx, got); err != nil {
		t.Fatal(err)
	}
	again, err := s.GetClient(ctx, "federated")
	if err != nil {
		t.Fatal(err)
	}
	if again.FederatedSubject == nil || *again.FederatedSubject != *c.FederatedSubject {
		t.Fatalf("read-modify-write changed the federated subject: %+v", again.FederatedSubject)
	}
	// A subject no request could match is never stored.
	bad := sample("federated-bad")
	bad.FederatedSubject = &backends.FederatedSubject{Issuer: "http://plain.example", Subject: "x"}
	err = s.CreateClient(ctx, bad)
	var me *backends.MemberError
	if !errors.As(err, &me) {
		t.Fatalf("CreateClient with an http federated issuer = %v, want a MemberError", err)
	}
	if _, err := s.GetClient(ctx, "federated-bad"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("the refused record was stored: %v", err)
	}
}
