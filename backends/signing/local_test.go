package signing_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
)

func TestRotateKeysPrunesExpiredRetiredKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _ := file.New(t.TempDir())
	keys := signing.NewLocal(store, signing.Options{Alg: "EdDSA"})
	if _, err := keys.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := keys.Rotate(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	ks, _ := store.GetKeySet(ctx)
	// maxLifetime 0: retired keys are kept only for the one-minute skew; each
	// rotation retires one, so they accumulate within the minute but are bounded.
	if len(ks.Keys) > 6 {
		t.Fatalf("%d keys after 4 rotations", len(ks.Keys))
	}
	states := map[string]int{}
	for _, k := range ks.Keys {
		states[k.State]++
	}
	if states[backends.KeyActive] != 1 || states[backends.KeyNext] != 1 {
		t.Fatalf("states = %v, want exactly one active and one next", states)
	}
}

// The local source through Open: publish before use (ErrTooSoon), then
// next → active → retired, with every published key in the Set.
func TestLocalLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _ := file.New(t.TempDir())
	m, err := signing.Open(ctx, store, signing.Options{PublishDelay: time.Hour, MaxLifetime: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if created, err := m.Ensure(ctx); err != nil || !created {
		t.Fatalf("Ensure = %v, %v", created, err)
	}
	if created, err := m.Ensure(ctx); err != nil || created {
		t.Fatalf("second Ensure = %v, %v; want nothing created", created, err)
	}
	set, err := m.SigningSet(ctx)
	if err != nil || set.Active == nil || set.Active.Alg() != "ES256" || len(set.Published) != 2 {
		t.Fatalf("set = %+v, %v", set, err)
	}
	if err := m.Rotate(ctx, false); !errors.Is(err, signing.ErrTooSoon) {
		t.Fatalf("Rotate before publication = %v, want ErrTooSoon", err)
	}
	if err := m.Rotate(ctx, true); err != nil {
		t.Fatal(err)
	}
	list, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, k := range list {
		states = append(states, k.State)
	}
	if len(states) != 3 || states[0] != backends.KeyRetired || states[1] != backends.KeyActive || states[2] != backends.KeyNext {
		t.Fatalf("states after a rotation = %v, want retired, active, next", states)
	}
	if after, _ := m.SigningSet(ctx); len(after.Published) != 3 || after.Active.KeyID() == set.Active.KeyID() {
		t.Fatalf("after rotation: %+v", after)
	}
}

func TestOpenRefusesUnknown(t *testing.T) {
	t.Parallel()
	store, _ := file.New(t.TempDir())
	if _, err := signing.Open(context.Background(), store, signing.Options{Source: "hsm"}); !errors.Is(err, signing.ErrUnknownSource) {
		t.Errorf("unknown source: %v", err)
	}
	if _, err := signing.Open(context.Background(), store, signing.Options{Alg: "HS256"}); err == nil {
		t.Error("HS256 accepted")
	}
}

// Every algorithm signs with a key it generated, and refuses a key of another kind.
func TestAlgs(t *testing.T) {
	t.Parallel()
	for _, alg := range signing.Algs() {
		t.Run(alg, func(t *testing.T) {
			sk, err := signing.NewSigningKey(alg, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			s, pub, err := signing.ParseSigningKey(sk)
			if err != nil || pub == nil {
				t.Fatal(err)
			}
			if sig, err := s.Sign(context.Background(), []byte("x.y")); err != nil || len(sig) == 0 {
				t.Fatalf("Sign: %v", err)
			}
			other := "EdDSA"
			if alg == "EdDSA" {
				other = "ES256"
			}
			k, _ := signing.GenerateKey(other)
			if _, err := signing.NewLocalSigner("k", alg, k); err == nil {
				t.Errorf("%s accepted a key for %s", alg, other)
			}
		})
	}
}
