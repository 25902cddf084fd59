package runtime

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"reflect"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// sharedStore is an opened backend and the configuration it was opened
// from; it is closed when the last instance using it lets go.
type sharedStore struct {
	backends.Store
	key  storeKey
	refs int
}

// storeKey is what decides whether a reload may keep the open backend:
// the selected backend's section, and the credentials its files held when it was
// opened (a rotated Vault token or secret_id is a new connection).
type storeKey struct {
	backend any
	cred    string
}

func storeKeyOf(fc *config.Config) storeKey {
	k := storeKey{backend: fc.Backend.Type}
	if kind, settings, err := backendOf(fc); err == nil {
		k.backend = [2]any{kind.Name, reflect.ValueOf(settings).Elem().Interface()} // a copy of the section
		// What the backend logged in and connected with, by content: a
		// credential or CA rotated in place (same path, new file) must open
		// a new backend on reload, never keep the old login or trust.
		h := sha256.New()
		for _, p := range kind.Files(settings) {
			if p != "" {
				b, _ := config.ReadLimited(p, 1<<20)
				h.Write(b)
			}
			h.Write([]byte{0})
		}
		k.cred = string(h.Sum(nil))
	}
	return k
}

// store returns the backend for fc: the process's open one when fc's
// backend configuration is the one it was opened from, else a newly opened
// one (which becomes the process's). The caller closes the returned closer
// when its instance is done; the backend closes with its last user.
func (p *process) store(ctx context.Context, fc *config.Config, log *slog.Logger) (backends.Store, io.Closer, error) {
	key := storeKeyOf(fc)
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.backend
	if s == nil || !reflect.DeepEqual(s.key, key) {
		st, err := OpenStore(ctx, fc, log)
		if err != nil {
			return nil, nil, err
		}
		s = &sharedStore{Store: st, key: key}
		p.backend = s
	}
	s.refs++
	return s.Store, closerFunc(func() error { return p.release(s) }), nil
}

// release drops one user of s, closing it with the last.
func (p *process) release(s *sharedStore) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.refs--; s.refs > 0 {
		return nil
	}
	if p.backend == s {
		p.backend = nil
	}
	return s.Store.Close()
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
