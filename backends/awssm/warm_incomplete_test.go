package awssm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/awssm/awssmtest"
)

// A bulk read that could not read every client says so (ErrIncomplete)
// instead of returning the others as if they were the whole registry: the
// template index decides "no registered client holds this identity" from
// it, and a client skipped silently let its identity resolve to a template
// (found by review revfed). Both BatchGetSecretValue's per-item Errors and
// the full read of a secret mid-rotation count.
func TestWarmClientsReportsWhatItCouldNotRead(t *testing.T) {
	t.Parallel()
	srv := awssmtest.New(accessKey, secretKey, region)
	defer srv.Close()
	ctx := context.Background()
	s := newStore(t, srv)
	for _, id := range []string{"a", "b", "c"} {
		if err := s.CreateClient(ctx, &backends.Client{ClientID: id, TokenEndpointAuthMethod: backends.AuthClientSecretBasic}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.WarmClients(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("healthy registry: %d clients, %v", len(all), err)
	}
	// One item of the batch refused.
	srv.DenyRead("tokenbroker/clients/b", true)
	got, err := s.WarmClients(ctx)
	if !errors.Is(err, backends.ErrIncomplete) {
		t.Fatalf("one client unreadable: err %v, want ErrIncomplete", err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d clients, want the 2 readable ones", len(got))
	}
	srv.DenyRead("tokenbroker/clients/b", false)
	// A secret mid-rotation is read in full; its read failing counts too.
	c, err := s.GetClient(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	c.ClientName = "renamed" // a second version: AWSPREVIOUS appears
	if err := s.UpdateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, err := s.WarmClients(ctx); err != nil || len(got) != 3 {
		t.Fatalf("after an update: %d clients, %v", len(got), err)
	}
	srv.DenyRead("tokenbroker/clients/c", true)
	if _, err := s.WarmClients(ctx); !errors.Is(err, backends.ErrIncomplete) {
		t.Fatalf("multi-stage client unreadable: err %v, want ErrIncomplete", err)
	}
}
