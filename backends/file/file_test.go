package file_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/backendtest"
	"github.com/tokenbroker/tokenbroker/backends/file"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, func(t *testing.T) backends.Store {
		s, err := file.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, backendtest.WithRaw(backendtest.Raw{Write: func(t *testing.T, s backends.Store, id string, doc []byte) error {
		return os.WriteFile(filepath.Join(s.(*file.Store).Dir(), "clients", id+".json"), doc, 0o600)
	}}))
}

// Records are stored compact: deep nesting within the bounds costs its own
// size, not the quadratic indentation that made 20 KB of nested arrays a 200 MB file.
func TestRecordsStoredCompact(t *testing.T) {
	t.Parallel()
	s, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &backends.Client{ClientID: "a", TokenEndpointAuthMethod: "client_secret_basic", Extra: map[string]json.RawMessage{
		"x": json.RawMessage(strings.Repeat("[", backends.MaxDepth-1) + strings.Repeat("]", backends.MaxDepth-1)),
	}}
	if err := s.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir(), "clients", "a.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"client_id":"a","token_endpoint_auth_method":"client_secret_basic","x":` + string(c.Extra["x"]) + "}\n"; string(b) != want {
		t.Fatalf("stored\n%s\nwant\n%s", b, want)
	}
}

// decode → store → load never changes a member.
func FuzzRecordRoundTrip(f *testing.F) {
	for _, s := range []string{`{}`, `{"scope":"read","x":{"y":[1,"<&>"]},"operator_ceiling":{"scope":"read"}}`, `{"jwks":{"keys":[{"kty":"EC"}]},"access_token_lifetime":90}`,
		`{"allowed_resources":[],"grant_types":["client_credentials"],"disabled":true,"x":"\u2028"}`} {
		f.Add(s)
	}
	s, err := file.New(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := backends.DecodeClient([]byte(doc))
		if err != nil {
			return
		}
		c.ClientID = "fuzz"
		backendtest.RoundTrip(t, s, c)
	})
}

// A crash between writing the temporary file and renaming it leaves the old
// record intact: readers never see a torn file.
func TestNoTornFileAfterCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.CreateClient(ctx, &backends.Client{ClientID: "a", TokenEndpointAuthMethod: "client_secret_basic"}); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash mid-write: a half-written temporary file next to the record.
	if err := os.WriteFile(filepath.Join(dir, "clients", ".a.json.tmp-123"), []byte(`{"client_id":"a","tok`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := s.GetClient(ctx, "a")
	if err != nil || c.ClientID != "a" {
		t.Fatalf("GetClient = %+v, %v", c, err)
	}
	ids, _ := s.ListClients(ctx)
	if len(ids) != 1 {
		t.Fatalf("temporary file listed as a client: %v", ids)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "clients"))
	for _, e := range entries {
		if info, _ := e.Info(); info.Mode().Perm()&0o077 != 0 && e.Name() == "a.json" {
			t.Errorf("%s is readable by others: %v", e.Name(), info.Mode())
		}
	}
}
