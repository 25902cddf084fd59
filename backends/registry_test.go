package backends_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
)

type memSettings struct{ Name string }

// A registered backend is found by name with its settings type erased; a
// name used twice, or a driver without Open, is a programming error.
func TestRegister(t *testing.T) {
	opened := ""
	backends.Register("registry-test", backends.Driver[memSettings]{
		Validate: func(s *memSettings, n backends.Needs) error {
			if s.Name == "" {
				return backends.FieldErrorf("Name", "required")
			}
			return nil
		},
		Open: func(_ context.Context, s *memSettings, o backends.OpenOptions) (backends.Store, error) {
			if o.Logger == nil {
				t.Error("Open got no logger")
			}
			opened = s.Name
			return nil, errors.New("not a real store")
		},
	})
	if !slices.Contains(backends.Kinds(), "registry-test") {
		t.Fatalf("Kinds() = %v", backends.Kinds())
	}
	k, err := backends.Lookup("registry-test")
	if err != nil {
		t.Fatal(err)
	}
	s := k.NewSettings().(*memSettings)
	var fe *backends.FieldError
	if err := k.Validate(s, backends.Needs{}); !errors.As(err, &fe) || fe.Field != "Name" {
		t.Fatalf("Validate: %v, want a FieldError naming Name", err)
	}
	if k.Check(s) != nil || k.Files(s) != nil {
		t.Fatal("a driver without Check or Files checks or names something")
	}
	s.Name = "x"
	if _, err := k.Open(context.Background(), s, backends.OpenOptions{}); err == nil || opened != "x" {
		t.Fatalf("Open: %v, opened %q", err, opened)
	}
	if _, err := backends.Lookup("nope"); !errors.Is(err, backends.ErrUnknownBackend) {
		t.Fatalf("Lookup(nope): %v", err)
	}
	for name, d := range map[string]backends.Driver[memSettings]{
		"registry-test": {Open: func(context.Context, *memSettings, backends.OpenOptions) (backends.Store, error) { return nil, nil }},
		"no-open":       {},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%s) did not panic", name)
				}
			}()
			backends.Register(name, d)
		}()
	}
}
