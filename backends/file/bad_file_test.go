package file_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/file"
)

// Review 2 item 5: what is at a record's path but cannot be a record — over
// the 1 MiB read bound, a directory, a FIFO, a symlink loop, a file the
// broker may not read — refuses that one client with ErrInvalidRecord. It is
// not an outage (the cache would answer 503 for every uncached client and
// keep /readyz at 503) and not "not found".
func TestBadFileIsInvalidRecord(t *testing.T) {
	oversize := func(t *testing.T, path string) {
		doc := `{"client_id":"x","token_endpoint_auth_method":"client_secret_basic","client_name":"` + strings.Repeat("x", 1<<20) + `"}`
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		make   func(t *testing.T, path string)
		asRoot bool // root reads every file: the case cannot arise
	}{
		{"over 1 MiB", oversize, true},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"fifo", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"symlink loop", func(t *testing.T, path string) {
			if err := os.Symlink(filepath.Base(path), path); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"unreadable", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(`{}`), 0o000); err != nil {
				t.Fatal(err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.asRoot && os.Geteuid() == 0 {
				t.Skip("root reads every file")
			}
			s, err := file.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := s.CreateClient(ctx, &backends.Client{ClientID: "good", TokenEndpointAuthMethod: backends.AuthClientSecretBasic}); err != nil {
				t.Fatal(err)
			}
			tc.make(t, filepath.Join(s.Dir(), "clients", "bad.json"))
			tc.make(t, filepath.Join(s.Dir(), "secrets", "good.json"))
			for name, get := range map[string]func() error{
				"GetClient":  func() error { _, err := s.GetClient(ctx, "bad"); return err },
				"GetSecrets": func() error { _, err := s.GetSecrets(ctx, "good"); return err },
			} {
				err := get()
				if !errors.Is(err, backends.ErrInvalidRecord) || errors.Is(err, backends.ErrNotFound) || errors.Is(err, backends.ErrUnavailable) {
					t.Errorf("%s = %v, want ErrInvalidRecord", name, err)
				}
			}
			if c, err := s.GetClient(ctx, "good"); err != nil || c.ClientID != "good" {
				t.Fatalf("another client after a bad file: %+v, %v", c, err)
			}
		})
	}
}

// A store that cannot be read at all stays an error of the store, not of a record.
func TestUnreadableStoreIsNotInvalidRecord(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every directory")
	}
	s, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.CreateClient(ctx, &backends.Client{ClientID: "a", TokenEndpointAuthMethod: backends.AuthClientSecretBasic}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.Dir(), "clients")
	if err := os.Chmod(dir, 0o000); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if _, err := s.GetClient(ctx, "a"); err == nil || errors.Is(err, backends.ErrInvalidRecord) || errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("GetClient with the clients directory unreadable = %v, want an error of the store", err)
	}
}
