package authn_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
)

type failingSource struct{ err error }

func (f failingSource) Get(context.Context, string) (*backends.ClientEntry, error) { return nil, f.err }

// A record that fails validation refuses its client as invalid_client, with
// the cause kept for the log; an outage stays an outage (issue 11 item 1).
func TestInvalidRecordIsInvalidClient(t *testing.T) {
	t.Parallel()
	cause := fmt.Errorf("cache: %q: %w: scope: duplicate member", "c", backends.ErrInvalidRecord)
	for _, tc := range []struct {
		name    string
		err     error
		want    error
		notWant error
	}{
		{"invalid record", cause, authn.ErrInvalidClient, backends.ErrUnavailable},
		{"unknown client", backends.ErrNotFound, authn.ErrInvalidClient, backends.ErrUnavailable},
		{"backend down", fmt.Errorf("cache: %w", backends.ErrUnavailable), backends.ErrUnavailable, authn.ErrInvalidClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := authn.New(failingSource{tc.err}, []authn.Method{authn.ClientSecretBasic()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Authenticate(context.Background(), &authn.Request{Form: url.Values{}, Authorization: basicHeader("c", "secret")})
			if !errors.Is(err, tc.want) || errors.Is(err, tc.notWant) {
				t.Fatalf("Authenticate = %v, want %v and not %v", err, tc.want, tc.notWant)
			}
			if errors.Is(tc.err, backends.ErrInvalidRecord) && !errors.Is(err, backends.ErrInvalidRecord) {
				t.Fatalf("the cause is lost: %v", err)
			}
		})
	}
}
