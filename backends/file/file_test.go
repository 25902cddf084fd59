package file_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/backendtest"
	"github.com/tokenbroker/tokenbroker/backends/file"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backends.Store {
		s, err := file.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// A crash between writing the temporary file and renaming it leaves the old
// record intact: readers never see a torn file.
func TestNoTornFileAfterCrash(t *testing.T) {
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
