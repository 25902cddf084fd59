package awssm

import (
	"context"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
)

// Name is the Secrets Manager backend's name in the registry (the
// configuration's backend type).
const Name = "awssm"

// Settings configure the Secrets Manager backend as the process opens it;
// each field is the Config field of the same name.
type Settings struct {
	Region, Endpoint, Prefix, KMSKeyID string
	PreviousGrace                      time.Duration
	RecoveryDays                       int
	Timeout                            time.Duration
}

func init() {
	backends.Register(Name, backends.Driver[Settings]{
		Validate: func(s *Settings, _ backends.Needs) error {
			// The service's own bounds (DeleteSecret RecoveryWindowInDays).
			if d := s.RecoveryDays; d != 0 && (d < 7 || d > 30) {
				return backends.FieldErrorf("RecoveryDays", "0 (delete at once) or 7 to 30")
			}
			return nil
		},
		Open: func(ctx context.Context, s *Settings, o backends.OpenOptions) (backends.Store, error) {
			return New(ctx, Config{Region: s.Region, Endpoint: s.Endpoint, Prefix: s.Prefix, KMSKeyID: s.KMSKeyID,
				PreviousGrace: s.PreviousGrace, RecoveryDays: int64(s.RecoveryDays), Timeout: s.Timeout, Logger: o.Logger})
		},
	})
}
