package file

import (
	"context"

	"github.com/tokenbroker/tokenbroker/backends"
)

// Name is the file backend's name in the registry (the configuration's
// backend type).
const Name = "file"

// Settings configure the file backend as the process opens it.
type Settings struct {
	// Dir is the root directory, created on open (required).
	Dir string
}

func init() {
	backends.Register(Name, backends.Driver[Settings]{
		Validate: func(s *Settings, _ backends.Needs) error {
			if s.Dir == "" {
				return backends.FieldErrorf("Dir", "required for the file backend")
			}
			return nil
		},
		Open: func(_ context.Context, s *Settings, _ backends.OpenOptions) (backends.Store, error) {
			return New(s.Dir)
		},
	})
}
