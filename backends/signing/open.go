package signing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
)

// Options choose and configure a signing source.
type Options struct {
	// Source names where the keys live: "local" (default; a key set in the
	// backend's KeyStore) or a source a backend registered.
	Source string
	// Alg is the JWS algorithm of new keys, one of Algs.
	Alg string
	// PublishDelay is how long a new key is published before it signs (the
	// JWKS cache lifetime).
	PublishDelay time.Duration
	// MaxLifetime of access tokens: a key that stopped signing stays
	// published this long (+ a minute of skew).
	MaxLifetime time.Duration
	// Mount and Key place the keys inside a source that needs it (Vault
	// Transit: the engine's mount and the key's name); empty for its defaults.
	Mount, Key string
	// Settings are what a source needs beyond these, typed by the source
	// that reads them (awskms.Settings); nil for its defaults.
	Settings any
	// Observer receives a remote signer's measurements (nil: none).
	Observer Observer
	// Logger is where a source logs (nil: nowhere).
	Logger *slog.Logger
}

// ErrUnknownSource: Open was asked for a source no package registered.
var ErrUnknownSource = errors.New("unknown signing source")

// OpenFunc opens a registered source over store — the backend that holds
// the keys; it fails when store is not the kind the source needs.
type OpenFunc func(ctx context.Context, store backends.KeyStore, o Options) (Manager, error)

var (
	registryMu sync.RWMutex
	sources    = map[string]OpenFunc{}
)

// LocalSource is the name of the built-in source.
const LocalSource = "local"

// Register makes a source available to Open under name; a backend package
// calls it from init for each source it holds. It panics on a name used twice.
func Register(name string, open OpenFunc) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := sources[name]; dup || name == LocalSource || name == "" {
		panic("signing: source " + name + " registered twice")
	}
	sources[name] = open
}

// Sources lists the names Open accepts, local first.
func Sources() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(sources)+1)
	for n := range sources {
		names = append(names, n)
	}
	slices.Sort(names)
	return append([]string{LocalSource}, names...)
}

// Open returns the Manager of source o.Source over store. The caller
// closes it.
func Open(ctx context.Context, store backends.KeyStore, o Options) (Manager, error) {
	if o.Alg == "" {
		o.Alg = Algs()[0]
	}
	if _, err := lookup(o.Alg); err != nil {
		return nil, err
	}
	if o.Source == "" || o.Source == LocalSource {
		return NewLocal(store, o), nil
	}
	registryMu.RLock()
	open, ok := sources[o.Source]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q is not %s", ErrUnknownSource, o.Source, oneOf(Sources()))
	}
	m, err := open(ctx, store, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Source, err)
	}
	return m, nil
}

// oneOf reads "a, b or c".
func oneOf(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Check reports whether Open could open o — a known source and algorithm —
// without opening anything (a configuration dry run).
func Check(o Options) error {
	if o.Alg != "" {
		if _, err := lookup(o.Alg); err != nil {
			return err
		}
	}
	if o.Source == "" || o.Source == LocalSource {
		return nil
	}
	registryMu.RLock()
	_, ok := sources[o.Source]
	registryMu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %q is not %s", ErrUnknownSource, o.Source, oneOf(Sources()))
	}
	return nil
}
