package backends

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Token endpoint authentication methods (RFC 7591 §2, RFC 8705 §2, RFC 7523 §2.2).
const (
	AuthClientSecretBasic   = "client_secret_basic"
	AuthClientSecretPost    = "client_secret_post"
	AuthPrivateKeyJWT       = "private_key_jwt"
	AuthTLSClient           = "tls_client_auth"
	AuthSelfSignedTLSClient = "self_signed_tls_client_auth"
	// draft-ietf-oauth-spiffe-client-auth-02 §4: the token_endpoint_auth_method
	// names of SPIFFE client authentication (X.509-SVID over mutual TLS, and a
	// JWT-SVID as a jwt-spiffe client assertion).
	AuthSPIFFEX509         = "spiffe_x509"
	AuthSPIFFEJWT          = "spiffe_jwt"
	GrantClientCredentials = "client_credentials"
)

// Client is one client record: RFC 7591 client metadata plus tokenbroker's own
// fields where RFC 7591 has none. Fields the broker does not know are kept in
// Extra and written back unchanged, so a read-modify-write never drops them.
type Client struct {
	ClientID                string          `json:"client_id"`
	ClientIDIssuedAt        int64           `json:"client_id_issued_at,omitempty"`
	ClientName              string          `json:"client_name,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	GrantTypes              []string        `json:"grant_types,omitempty"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	// TokenEndpointAuthSigningAlg pins the assertion alg (OIDC Dynamic Registration §2).
	TokenEndpointAuthSigningAlg string `json:"token_endpoint_auth_signing_alg,omitempty"`

	// RFC 8705 §2.1.2: exactly one of these identifies a tls_client_auth client.
	TLSClientAuthSubjectDN string `json:"tls_client_auth_subject_dn,omitempty"`
	TLSClientAuthSANDNS    string `json:"tls_client_auth_san_dns,omitempty"`
	TLSClientAuthSANURI    string `json:"tls_client_auth_san_uri,omitempty"`
	TLSClientAuthSANIP     string `json:"tls_client_auth_san_ip,omitempty"`
	TLSClientAuthSANEmail  string `json:"tls_client_auth_san_email,omitempty"`
	// RFC 8705 §3.4.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// RFC 9449 §5.2: every token request of this client must carry a DPoP proof.
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`

	// tokenbroker fields.

	// TLSClientAuthCASHA256 pins the issuing CA certificate (hex SHA-256 of its DER).
	TLSClientAuthCASHA256 string `json:"tls_client_auth_ca_sha256,omitempty"`
	// AllowedResources lists the RFC 8707 resource indicators (token audiences) the client may ask for.
	AllowedResources []string `json:"allowed_resources,omitempty"`
	// DefaultAudience is the audience when the request names no resource.
	DefaultAudience string `json:"default_audience,omitempty"`
	// AccessTokenLifetime in seconds; 0 means the broker default. Capped by the global maximum.
	AccessTokenLifetime int64 `json:"access_token_lifetime,omitempty"`
	// Disabled clients authenticate to nothing.
	Disabled bool `json:"disabled,omitempty"`
	// FederatedSubject is the external identity a federated_jwt client
	// accepts (federated.go); operator-set only.
	FederatedSubject *FederatedSubject `json:"federated_subject,omitempty"`
	// Ceiling is what the operator granted: RFC 7592 self-management narrows
	// the record within it and never widens it. Nil on a record written before
	// ceilings existed: the record as it stands is then the ceiling.
	Ceiling *Ceiling `json:"operator_ceiling,omitempty"`

	// Extra holds unknown members, preserved verbatim.
	Extra map[string]json.RawMessage `json:"-"`
	// Revision is the backend's opaque version of this record, for check-and-set.
	Revision string `json:"-"`
}

var knownClientFields = sync.OnceValue(func() []string {
	var names []string
	t := reflect.TypeFor[Client]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
})

func knownClientNames() []string { return knownClientFields() }

// IsKnownClientField reports whether name is a member Client models itself.
func IsKnownClientField(name string) bool { return slices.Contains(knownClientFields(), name) }

type clientAlias Client

// UnmarshalJSON decodes strictly (DecodeClient): every json.Unmarshal of a
// record, in any backend, gets exact member names and the bounds.
func (c *Client) UnmarshalJSON(b []byte) error {
	d, err := DecodeClient(b)
	if err != nil {
		return err
	}
	*c = *d
	return nil
}

// MarshalJSON writes known fields and then the preserved unknown members
// (sorted, compact). It refuses a record that Check refuses or that would
// not load back (larger than MaxRecordBytes).
func (c Client) MarshalJSON() ([]byte, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	b, err := MarshalCompact(clientAlias(c))
	if err != nil {
		return nil, err
	}
	if len(c.Extra) > 0 {
		extra, err := MarshalCompact(c.Extra) // sorted keys: stable output
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		buf.Grow(len(b) + len(extra))
		buf.Write(b[:len(b)-1])
		if len(b) > 2 {
			buf.WriteByte(',')
		}
		buf.Write(extra[1:])
		b = buf.Bytes()
	}
	if len(b) > MaxRecordBytes {
		return nil, bodyErr("record larger than %d bytes", MaxRecordBytes)
	}
	return b, nil
}

// Clone returns a deep copy, so cached records are never mutated in place.
func (c *Client) Clone() *Client {
	n := *c
	n.GrantTypes = append([]string(nil), c.GrantTypes...)
	n.ResponseTypes = append([]string(nil), c.ResponseTypes...)
	n.AllowedResources = append([]string(nil), c.AllowedResources...)
	n.JWKS = append(json.RawMessage(nil), c.JWKS...)
	if c.Ceiling != nil {
		n.Ceiling = c.Ceiling.Clone()
	}
	if c.FederatedSubject != nil {
		fs := *c.FederatedSubject
		n.FederatedSubject = &fs
	}
	if c.Extra != nil {
		n.Extra = make(map[string]json.RawMessage, len(c.Extra))
		for k, v := range c.Extra {
			n.Extra[k] = append(json.RawMessage(nil), v...)
		}
	}
	return &n
}

// Scopes returns the registered scope as a list (RFC 6749 §3.3: space-delimited).
func (c *Client) Scopes() []string { return strings.Fields(c.Scope) }

// UsesMTLS reports whether the client authenticates with its certificate
// (RFC 8705 §2; an X.509-SVID, draft-ietf-oauth-spiffe-client-auth-02 §3.2).
func (c *Client) UsesMTLS() bool {
	switch c.TokenEndpointAuthMethod {
	case AuthTLSClient, AuthSelfSignedTLSClient, AuthSPIFFEX509:
		return true
	}
	return false
}

// ValidClientID reports whether id is usable as a client identifier and as a
// storage key in every backend: 1–128 characters from the RFC 3986 unreserved set.
func ValidClientID(id string) bool {
	if len(id) == 0 || len(id) > 128 || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		case ch == '-' || ch == '.' || ch == '_' || ch == '~':
		default:
			return false
		}
	}
	return true
}
