package spiffe

import (
	"context"
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
)

// keyPrefix starts the client_id of a registered SPIFFE client.
const keyPrefix = "spiffe~"

// ClientKey is the client_id under which the client of SPIFFE ID id is
// registered: spiffe://prod.example/ns/payments/sa/api is
// spiffe~prod.example~ns~payments~sa~api. "~" appears in no SPIFFE ID (SPIFFE
// ID §2.1-§2.2 allow only letters, digits, ".", "-" and "_" besides the path
// separators), so the mapping is one-to-one; the key is a client_id every
// backend can store (backends.ValidClientID). ok is false when the key
// would be longer than a client_id may be (128 characters): such a workload
// can only be served by a client template.
func ClientKey(id spiffeid.ID) (key string, ok bool) {
	key = keyPrefix + id.TrustDomain().Name() + strings.ReplaceAll(id.Path(), "/", "~")
	return key, backends.ValidClientID(key)
}

// IDFromClientKey reverses ClientKey.
func IDFromClientKey(key string) (spiffeid.ID, error) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return spiffeid.ID{}, fmt.Errorf("%q is not a SPIFFE client key", key)
	}
	td, path, found := strings.Cut(rest, "~")
	s := "spiffe://" + td
	if found {
		// "spiffe~td~" has an empty path segment, which no SPIFFE ID has:
		// refused by the parser, never read as spiffe://td.
		s += "/" + strings.ReplaceAll(path, "~", "/")
	}
	return spiffeid.FromString(s)
}

// Clients wraps a client source so that a SPIFFE ID finds the client
// registered under its ClientKey; other ids pass through unchanged. An id
// that is not a well-formed SPIFFE ID, or whose key is too long, is unknown.
func Clients(inner authn.ClientSource) authn.ClientSource { return clients{inner} }

type clients struct{ inner authn.ClientSource }

var _ authn.ClientSource = clients{}

func (c clients) Get(ctx context.Context, id string) (*backends.ClientEntry, error) {
	if !strings.HasPrefix(id, "spiffe://") {
		return c.inner.Get(ctx, id)
	}
	sid, err := spiffeid.FromString(id)
	if err != nil {
		return nil, fmt.Errorf("malformed SPIFFE ID: %w", backends.ErrNotFound)
	}
	key, ok := ClientKey(sid)
	if !ok {
		return nil, fmt.Errorf("SPIFFE ID too long for a registered client: %w", backends.ErrNotFound)
	}
	e, err := c.inner.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	// Only a SPIFFE method answers for a SPIFFE ID: a record under its key
	// with tls_client_auth (the static client CA) or a secret would let
	// those credentials authenticate as the workload, around the trust
	// domain's bundle (draft-ietf-oauth-spiffe-client-auth-02 §6.2.3;
	// review revspiffe). The record is refused, not skipped for a template.
	if m := e.Client.TokenEndpointAuthMethod; !IsMethod(m) {
		return nil, fmt.Errorf("client %q under SPIFFE ID %s registered %s, not a SPIFFE method: %w", key, sid, m, backends.ErrInvalidRecord)
	}
	return e, nil
}

// IsMethod reports whether m is a SPIFFE client authentication method: the
// only methods a client under a SPIFFE ID's key (ClientKey) may register.
func IsMethod(m string) bool {
	return m == backends.AuthSPIFFEX509 || m == backends.AuthSPIFFEJWT
}

// registeredAs reports whether the client record with client_id clientID is
// the one of SPIFFE ID id: registered under its ClientKey, or an entry a
// client template synthesized with the SPIFFE ID itself as its client_id.
func registeredAs(clientID string, id spiffeid.ID) bool {
	if clientID == "" {
		return false
	}
	if clientID == id.String() {
		return true
	}
	key, ok := ClientKey(id)
	return ok && clientID == key
}
