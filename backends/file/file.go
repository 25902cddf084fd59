package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/tokenbroker/tokenbroker/backends"
)

// maxFileSize bounds every file read: a client record, secrets or key set.
const maxFileSize = 1 << 20

// Store is the file backend.
type Store struct {
	dir string
	mu  sync.Mutex // serializes writers in this process; flock serializes processes
}

var _ backends.Store = (*Store)(nil)

// New opens (creating if needed) a file store rooted at dir.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("file backend: empty directory")
	}
	for _, sub := range []string{"", "clients", "secrets"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("file backend: %w", err)
		}
	}
	return &Store{dir: dir}, nil
}

// Dir returns the root directory.
func (s *Store) Dir() string { return s.dir }

// Close implements backends.Store; nothing to release.
func (s *Store) Close() error { return nil }

func (s *Store) clientPath(id string) string { return filepath.Join(s.dir, "clients", id+".json") }
func (s *Store) secretPath(id string) string { return filepath.Join(s.dir, "secrets", id+".json") }
func (s *Store) keysPath() string            { return filepath.Join(s.dir, "signing-keys.json") }

// GetClient implements backends.ClientStore.
func (s *Store) GetClient(ctx context.Context, id string) (*backends.Client, error) {
	if !backends.ValidClientID(id) {
		return nil, backends.ErrNotFound
	}
	b, err := readBounded(s.clientPath(id))
	if errors.Is(err, errBadFile) {
		return nil, fmt.Errorf("%w: %w", backends.ErrInvalidRecord, err)
	}
	if err != nil {
		return nil, err
	}
	// A record that does not decode strictly refuses this client only.
	c, err := backends.DecodeClient(b)
	if err != nil {
		return nil, fmt.Errorf("file backend: %s: %w: %w", s.clientPath(id), backends.ErrInvalidRecord, err)
	}
	if c.ClientID != id {
		return nil, fmt.Errorf("file backend: %s: client_id %q does not match file name: %w", s.clientPath(id), c.ClientID, backends.ErrInvalidRecord)
	}
	c.Revision = revision(b)
	return c, nil
}

// ListClients implements backends.ClientStore.
func (s *Store) ListClients(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "clients"))
	if err != nil {
		return nil, fmt.Errorf("file backend: %w", err)
	}
	var names []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok && e.Type().IsRegular() {
			names = append(names, id)
		}
	}
	return backends.ListedClientIDs(names), nil
}

// CreateClient implements backends.ClientStore.
func (s *Store) CreateClient(ctx context.Context, c *backends.Client) error {
	if !backends.ValidClientID(c.ClientID) {
		return fmt.Errorf("file backend: invalid client_id %q", c.ClientID)
	}
	return s.write(s.clientPath(c.ClientID), c, "")
}

// UpdateClient implements backends.ClientStore.
func (s *Store) UpdateClient(ctx context.Context, c *backends.Client) error {
	if !backends.ValidClientID(c.ClientID) {
		return backends.ErrNotFound
	}
	if c.Revision == "" {
		return fmt.Errorf("file backend: update without a revision: %w", backends.ErrConflict)
	}
	return s.write(s.clientPath(c.ClientID), c, c.Revision)
}

// DeleteClient implements backends.ClientStore.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if !backends.ValidClientID(id) {
		return backends.ErrNotFound
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.Remove(s.clientPath(id)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return backends.ErrNotFound
		}
		return fmt.Errorf("file backend: %w", err)
	}
	if err := os.Remove(s.secretPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("file backend: %w", err)
	}
	return syncDir(filepath.Join(s.dir, "clients"))
}

// GetSecrets implements backends.SecretStore.
func (s *Store) GetSecrets(ctx context.Context, clientID string) (*backends.SecretSet, error) {
	if !backends.ValidClientID(clientID) {
		return nil, backends.ErrNotFound
	}
	var set backends.SecretSet
	rev, err := readJSON(s.secretPath(clientID), &set)
	if errors.Is(err, errUndecodable) || errors.Is(err, errBadFile) {
		return nil, fmt.Errorf("%w: %w", backends.ErrInvalidRecord, err)
	}
	if err != nil {
		return nil, err
	}
	set.Revision = rev
	return &set, nil
}

// PutSecrets implements backends.SecretStore.
func (s *Store) PutSecrets(ctx context.Context, clientID string, set *backends.SecretSet) error {
	if !backends.ValidClientID(clientID) {
		return fmt.Errorf("file backend: invalid client_id %q", clientID)
	}
	return s.write(s.secretPath(clientID), set, set.Revision)
}

// GetKeySet implements backends.KeyStore.
func (s *Store) GetKeySet(ctx context.Context) (*backends.KeySet, error) {
	var ks backends.KeySet
	rev, err := readJSON(s.keysPath(), &ks)
	if err != nil {
		return nil, err
	}
	ks.Revision = rev
	return &ks, nil
}

// PutKeySet implements backends.KeyStore.
func (s *Store) PutKeySet(ctx context.Context, ks *backends.KeySet) error {
	return s.write(s.keysPath(), ks, ks.Revision)
}

func revision(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

var (
	errUndecodable = errors.New("does not decode")
	// errBadFile: what is at the path cannot be a record (too large, not a
	// regular file, unreadable while its directory is readable). A problem
	// of that one record, not of the store: the record readers report it as
	// backends.ErrInvalidRecord, so it refuses one client and is no outage.
	errBadFile = errors.New("not a readable record file")
)

func readJSON(path string, v any) (string, error) {
	b, err := readBounded(path)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return "", fmt.Errorf("file backend: %s: %w: %w", path, errUndecodable, err)
	}
	return revision(b), nil
}

// readBounded reads the file at path: backends.ErrNotFound when there is
// none, an errBadFile wrap when what is there cannot be a record, any other
// error when the store itself cannot be read.
func readBounded(path string) ([]byte, error) {
	// O_NONBLOCK: a FIFO at the path must not hang the open (and the load).
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, backends.ErrNotFound
		case errors.Is(err, syscall.ELOOP), errors.Is(err, fs.ErrPermission) && visible(path):
			// The directory is searchable (the entry stats): only this
			// file is unreadable.
			return nil, fmt.Errorf("file backend: %w: %w", errBadFile, err)
		}
		return nil, fmt.Errorf("file backend: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("file backend: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("file backend: %s: %w: %v", path, errBadFile, st.Mode().Type())
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("file backend: %s: %w: larger than %d bytes", path, errBadFile, maxFileSize)
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("file backend: %w", err)
	}
	return b, nil
}

// visible reports whether path's directory entry can be stat'ed.
func visible(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// write stores v at path if the current content's revision equals expect
// ("" = must not exist). Compact: an indented record of deeply nested arrays
// grows quadratically (10,000 levels were 200 MB).
func (s *Store) write(path string, v any, expect string) error {
	b, err := backends.MarshalCompact(v)
	if err != nil {
		return fmt.Errorf("file backend: %w", err)
	}
	b = append(b, '\n')
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := readBounded(path)
	switch {
	case errors.Is(err, backends.ErrNotFound):
		if expect != "" {
			return backends.ErrNotFound
		}
	case err != nil:
		return err
	case expect == "":
		return backends.ErrExists
	case revision(cur) != expect:
		return backends.ErrConflict
	}
	if err := atomicWrite(path, b); err != nil {
		return fmt.Errorf("file backend: %w", err)
	}
	return nil
}

// lock takes the in-process mutex and an exclusive flock on <dir>/.lock.
func (s *Store) lock() (func(), error) {
	s.mu.Lock()
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("file backend: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		s.mu.Unlock()
		return nil, fmt.Errorf("file backend: lock: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
		s.mu.Unlock()
	}, nil
}

// atomicWrite leaves either the old or the new content at path, never a torn file.
func atomicWrite(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
