package spiffe_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/backends"
)

type mapSource map[string]*backends.ClientEntry

func (m mapSource) Get(_ context.Context, id string) (*backends.ClientEntry, error) {
	if e, ok := m[id]; ok {
		return e, nil
	}
	return nil, backends.ErrNotFound
}

// TestClientsRefuseOtherMethods (review revspiffe): a record under a SPIFFE
// ID's key answers for the SPIFFE ID only with a SPIFFE method, whatever
// wrote it to the backend (a source without the registry's validation).
func TestClientsRefuseOtherMethods(t *testing.T) {
	t.Parallel()
	src := mapSource{}
	for _, m := range []string{backends.AuthTLSClient, backends.AuthClientSecretBasic, backends.AuthSPIFFEX509, backends.AuthSPIFFEJWT} {
		src["spiffe~a.test~"+m] = &backends.ClientEntry{Client: &backends.Client{ClientID: "spiffe~a.test~" + m, TokenEndpointAuthMethod: m}}
	}
	c := spiffe.Clients(src)
	for _, m := range []string{backends.AuthTLSClient, backends.AuthClientSecretBasic} {
		if e, err := c.Get(context.Background(), "spiffe://a.test/"+m); !errors.Is(err, backends.ErrInvalidRecord) {
			t.Errorf("%s record answered for its SPIFFE ID: %v %v", m, e, err)
		}
	}
	for _, m := range []string{backends.AuthSPIFFEX509, backends.AuthSPIFFEJWT} {
		if _, err := c.Get(context.Background(), "spiffe://a.test/"+m); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	// The key itself (not a SPIFFE ID) passes through unchanged.
	if _, err := c.Get(context.Background(), "spiffe~a.test~"+backends.AuthTLSClient); err != nil {
		t.Errorf("key lookup: %v", err)
	}
}
