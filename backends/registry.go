package backends

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
)

// A backend package registers itself from init, as signing sources do
// (signing.Register): adding a backend touches that package and the one
// list of blank imports in the process runtime (broker/runtime/backends.go).
//
//	func init() {
//		backends.Register("vault", backends.Driver[Settings]{Validate: …, Open: …})
//	}
//
// The settings S are a struct of plain fields (string, bool, int, int64,
// float64, time.Duration, []string, nested structs): the configuration
// names its keys after them (CACert → backend.vault.ca_cert), so a backend
// package never names a configuration key.

// Driver opens one kind of backend from its settings S.
type Driver[S any] struct {
	// Validate checks s without I/O (a configuration dry run): each error a
	// *FieldError naming the field of S, joined. Nil: nothing to check.
	Validate func(s *S, n Needs) error
	// Check reads what Open would read from disk (credential files), and
	// connects to nothing. Nil: nothing to read.
	Check func(s *S) error
	// Open opens the store; the caller closes it.
	Open func(ctx context.Context, s *S, o OpenOptions) (Store, error)
	// Files lists the files whose content the open store depends on
	// (credentials, CA bundles): a reload reopens it when one changed, even
	// in place. Nil: none.
	Files func(s *S) []string
}

// Needs is what the broker will ask of a store, for Validate.
type Needs struct {
	// Writes: the broker writes client records (registration is enabled).
	Writes bool
}

// OpenOptions are the process's parts a store may use.
type OpenOptions struct {
	Logger *slog.Logger // never nil
}

// FieldError is a settings or options field that does not validate. Field
// is its Go path ("Auth.TokenFile"); the configuration maps it to the key.
// The broker's Config reports its fields with it too (broker.FieldError).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrorf is a *FieldError for field, its cause formatted as fmt.Errorf does.
func FieldErrorf(field, format string, a ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, a...)}
}

// ErrUnknownBackend: no package registered the backend asked for.
var ErrUnknownBackend = errors.New("unknown backend")

// Kind is a registered backend with its settings type erased: what the
// runtime and the configuration work with.
type Kind struct {
	Name string
	// NewSettings returns a new zero *S.
	NewSettings func() any
	Validate    func(s any, n Needs) error
	Check       func(s any) error
	Open        func(ctx context.Context, s any, o OpenOptions) (Store, error)
	Files       func(s any) []string
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Kind{}
)

// Register makes a backend available under name (the value of the
// configuration's backend type). It panics on a name used twice, an empty
// name, or a Driver without Open.
func Register[S any](name string, d Driver[S]) {
	if name == "" || d.Open == nil {
		panic("backends: Register needs a name and an Open func")
	}
	k := Kind{
		Name:        name,
		NewSettings: func() any { return new(S) },
		Validate: func(s any, n Needs) error {
			if d.Validate == nil {
				return nil
			}
			return d.Validate(s.(*S), n)
		},
		Check: func(s any) error {
			if d.Check == nil {
				return nil
			}
			return d.Check(s.(*S))
		},
		Open: func(ctx context.Context, s any, o OpenOptions) (Store, error) {
			if o.Logger == nil {
				o.Logger = slog.Default()
			}
			return d.Open(ctx, s.(*S), o)
		},
		Files: func(s any) []string {
			if d.Files == nil {
				return nil
			}
			return d.Files(s.(*S))
		},
	}
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[name]; dup {
		panic("backends: " + name + " registered twice")
	}
	kinds[name] = k
}

// Lookup returns the registered backend name, or ErrUnknownBackend
// naming the ones there are.
func Lookup(name string) (Kind, error) {
	kindsMu.RLock()
	k, ok := kinds[name]
	kindsMu.RUnlock()
	if !ok {
		return Kind{}, fmt.Errorf("%w: %q is not one of %v", ErrUnknownBackend, name, Kinds())
	}
	return k, nil
}

// Kinds lists the registered backends' names, sorted.
func Kinds() []string {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	return slices.Sorted(maps.Keys(kinds))
}
