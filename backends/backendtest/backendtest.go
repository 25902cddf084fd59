package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
)

// Raw writes a client record's stored form directly, as the backend's own
// tooling would (a text editor, vault kv put, aws secretsmanager
// put-secret-value), so the suite can check what a load makes of a record the
// broker did not write. Write returns an error when the backend itself cannot
// hold doc (Vault stores only objects).
type Raw struct {
	Write func(t *testing.T, s backends.Store, id string, doc []byte) error
	// CollapsesDuplicates: the backend parses a document into a map when it
	// is written (Vault KV), so a duplicate member never reaches the broker.
	CollapsesDuplicates bool
}

// Option configures Run.
type Option func(*options)

type options struct{ raw *Raw }

// WithRaw enables the cases that write hostile records past the Store.
func WithRaw(r Raw) Option { return func(o *options) { o.raw = &r } }

// Run runs the conformance suite against stores made by newStore; each call
// must return an empty store.
func Run(t *testing.T, newStore func(t *testing.T) backends.Store, opts ...Option) {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s backends.Store)
	}{
		{"ClientRoundTripKeepsUnknownFields", clientRoundTrip},
		{"CreateTwiceIsErrExists", createTwice},
		{"UpdateIsCheckAndSet", updateCAS},
		{"ConcurrentUpdatesOneWins", concurrentUpdates},
		{"DeleteRemovesClientAndSecrets", deleteClient},
		{"MissingIsErrNotFound", missing},
		{"HostileClientIDs", hostileIDs},
		{"ListIsSorted", listSorted},
		{"SecretsCheckAndSet", secretsCAS},
		{"KeySetCheckAndSet", keySetCAS},
		{"StoreRefusesHostileMembers", hostileMembers},
		{"DeepButBoundedMembersRoundTrip", boundedRoundTrip},
		{"FederatedSubjectRoundTrip", federatedSubject},
	}
	if o.raw != nil {
		tests = append(tests, struct {
			name string
			fn   func(t *testing.T, s backends.Store)
		}{"InvalidStoredRecordsRefuseOneClient", func(t *testing.T, s backends.Store) { invalidRecords(t, s, *o.raw) }})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { _ = s.Close(); _ = s.Close() })
			tc.fn(t, s)
		})
	}
}

func sample(id string) *backends.Client {
	return &backends.Client{
		ClientID:                id,
		ClientName:              "Sample " + id,
		TokenEndpointAuthMethod: backends.AuthClientSecretBasic,
		GrantTypes:              []string{backends.GrantClientCredentials},
		Scope:                   "read write",
		AllowedResources:        []string{"https://api.example.test"},
		AccessTokenLifetime:     120,
		Extra:                   map[string]json.RawMessage{"software_id": json.RawMessage(`"4NRB1-0XZABZI9E6-5SM3R"`), "x_team": json.RawMessage(`{"owner":"payments"}`)},
	}
}

func clientRoundTrip(t *testing.T, s backends.Store) {
	ctx := context.Background()
	want := sample("round-trip")
	if err := s.CreateClient(ctx, want); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	got, err := s.GetClient(ctx, "round-trip")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if got.Revision == "" {
		t.Error("GetClient returned no Revision")
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("round trip changed the record:\n got %s\nwant %s", gb, wb)
	}
	got.Scope = "read"
	if err := s.UpdateClient(ctx, got); err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	again, err := s.GetClient(ctx, "round-trip")
	if err != nil {
		t.Fatal(err)
	}
	if again.Scope != "read" || string(again.Extra["x_team"]) != `{"owner":"payments"}` {
		t.Errorf("read-modify-write lost data: %+v", again)
	}
}

func createTwice(t *testing.T, s backends.Store) {
	ctx := context.Background()
	if err := s.CreateClient(ctx, sample("twice")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, sample("twice")); !errors.Is(err, backends.ErrExists) {
		t.Fatalf("second CreateClient = %v, want ErrExists", err)
	}
}

func updateCAS(t *testing.T, s backends.Store) {
	ctx := context.Background()
	if err := s.CreateClient(ctx, sample("cas")); err != nil {
		t.Fatal(err)
	}
	a, _ := s.GetClient(ctx, "cas")
	b, _ := s.GetClient(ctx, "cas")
	a.Scope = "a"
	if err := s.UpdateClient(ctx, a); err != nil {
		t.Fatalf("first writer: %v", err)
	}
	b.Scope = "b"
	if err := s.UpdateClient(ctx, b); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("stale writer = %v, want ErrConflict", err)
	}
	got, _ := s.GetClient(ctx, "cas")
	if got.Scope != "a" {
		t.Fatalf("stale writer overwrote: scope %q", got.Scope)
	}
	ghost := sample("ghost")
	ghost.Revision = "1"
	if err := s.UpdateClient(ctx, ghost); !errors.Is(err, backends.ErrNotFound) && !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("update of missing client = %v, want ErrNotFound or ErrConflict", err)
	}
}

func concurrentUpdates(t *testing.T, s backends.Store) {
	ctx := context.Background()
	if err := s.CreateClient(ctx, sample("race")); err != nil {
		t.Fatal(err)
	}
	base, _ := s.GetClient(ctx, "race")
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			c := base.Clone()
			c.Revision = base.Revision
			c.Scope = fmt.Sprintf("w%d", i)
			errs[i] = s.UpdateClient(ctx, c)
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, backends.ErrConflict):
			t.Errorf("writer error %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers won from the same revision, want exactly 1", wins)
	}
}

func deleteClient(t *testing.T, s backends.Store) {
	ctx := context.Background()
	if err := s.CreateClient(ctx, sample("gone")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSecrets(ctx, "gone", &backends.SecretSet{Secrets: []backends.Secret{{Hash: backends.HashSecret("x"), CreatedAt: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteClient(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetClient(ctx, "gone"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("GetClient after delete = %v", err)
	}
	if _, err := s.GetSecrets(ctx, "gone"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("GetSecrets after delete = %v", err)
	}
	if err := s.DeleteClient(ctx, "gone"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("second delete = %v, want ErrNotFound", err)
	}
}

func missing(t *testing.T, s backends.Store) {
	ctx := context.Background()
	if _, err := s.GetClient(ctx, "nobody"); !errors.Is(err, backends.ErrNotFound) {
		t.Errorf("GetClient = %v", err)
	}
	if _, err := s.GetSecrets(ctx, "nobody"); !errors.Is(err, backends.ErrNotFound) {
		t.Errorf("GetSecrets = %v", err)
	}
	if _, err := s.GetKeySet(ctx); !errors.Is(err, backends.ErrNotFound) {
		t.Errorf("GetKeySet = %v", err)
	}
}

func hostileIDs(t *testing.T, s backends.Store) {
	ctx := context.Background()
	for _, id := range []string{"", "..", "../secrets/x", "a/b", "a\x00b", "%2e%2e", string(make([]byte, 300))} {
		if _, err := s.GetClient(ctx, id); !errors.Is(err, backends.ErrNotFound) {
			t.Errorf("GetClient(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := s.GetSecrets(ctx, id); !errors.Is(err, backends.ErrNotFound) {
			t.Errorf("GetSecrets(%q) = %v, want ErrNotFound", id, err)
		}
		if err := s.CreateClient(ctx, sample(id)); err == nil {
			t.Errorf("CreateClient(%q) succeeded", id)
		}
	}
}

func listSorted(t *testing.T, s backends.Store) {
	ctx := context.Background()
	for _, id := range []string{"c", "a", "b"} {
		if err := s.CreateClient(ctx, sample(id)); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := s.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Fatalf("ListClients = %v", ids)
	}
}

func secretsCAS(t *testing.T, s backends.Store) {
	ctx := context.Background()
	set := &backends.SecretSet{Secrets: []backends.Secret{{Hash: backends.HashSecret("one"), CreatedAt: time.Now().UTC().Truncate(time.Second)}}, RegistrationTokenHash: backends.HashSecret("rat")}
	if err := s.PutSecrets(ctx, "sec", set); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSecrets(ctx, "sec", &backends.SecretSet{}); !errors.Is(err, backends.ErrExists) && !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("blind overwrite = %v, want ErrExists or ErrConflict", err)
	}
	got, err := s.GetSecrets(ctx, "sec")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Secrets) != 1 || got.Secrets[0].Hash != set.Secrets[0].Hash || got.RegistrationTokenHash != set.RegistrationTokenHash {
		t.Fatalf("GetSecrets = %+v", got)
	}
	stale := *got
	got.Secrets = append(got.Secrets, backends.Secret{Hash: backends.HashSecret("two"), CreatedAt: time.Now()})
	if err := s.PutSecrets(ctx, "sec", got); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSecrets(ctx, "sec", &stale); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("stale secrets write = %v, want ErrConflict", err)
	}
}

func keySetCAS(t *testing.T, s backends.Store) {
	ctx := context.Background()
	ks := &backends.KeySet{Keys: []backends.SigningKey{{KID: "k1", Alg: "ES256", State: backends.KeyActive, Private: json.RawMessage(`{"kty":"EC"}`), CreatedAt: time.Now().UTC()}}}
	if err := s.PutKeySet(ctx, ks); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetKeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Keys) != 1 || got.Keys[0].KID != "k1" || got.Revision == "" {
		t.Fatalf("GetKeySet = %+v", got)
	}
	stale := *got
	got.Keys = append(got.Keys, backends.SigningKey{KID: "k2", Alg: "ES256", State: backends.KeyNext, CreatedAt: time.Now().UTC()})
	if err := s.PutKeySet(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := s.PutKeySet(ctx, &stale); !errors.Is(err, backends.ErrConflict) {
		t.Fatalf("stale key set write = %v, want ErrConflict", err)
	}
}
