package backends

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Token endpoint authentication methods (RFC 7591 §2, RFC 8705 §2, RFC 7523 §2.2).
const (
	AuthClientSecretBasic      = "client_secret_basic"
	AuthClientSecretPost       = "client_secret_post"
	AuthPrivateKeyJWT          = "private_key_jwt"
	AuthTLSClient              = "tls_client_auth"
	AuthSelfSignedTLSClient    = "self_signed_tls_client_auth"
	GrantClientCredentials     = "client_credentials"
	maxExtraFieldsInClientJSON = 64
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

	// Extra holds unknown members, preserved verbatim.
	Extra map[string]json.RawMessage `json:"-"`
	// Revision is the backend's opaque version of this record, for check-and-set.
	Revision string `json:"-"`
}

var knownClientFields = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[Client]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = true
		}
	}
	return m
})

// IsKnownClientField reports whether name is a member Client models itself.
func IsKnownClientField(name string) bool { return knownClientFields()[name] }

type clientAlias Client

// UnmarshalJSON decodes known members into fields and keeps the rest in Extra.
func (c *Client) UnmarshalJSON(b []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	var a clientAlias
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	*c = Client(a)
	for k, v := range all {
		if IsKnownClientField(k) {
			continue
		}
		if c.Extra == nil {
			c.Extra = map[string]json.RawMessage{}
		}
		if len(c.Extra) >= maxExtraFieldsInClientJSON {
			return fmt.Errorf("client metadata: more than %d unknown members", maxExtraFieldsInClientJSON)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, v); err != nil {
			return err
		}
		c.Extra[k] = compact.Bytes()
	}
	return nil
}

// MarshalJSON writes known fields and then the preserved unknown members.
func (c Client) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(clientAlias(c))
	if err != nil || len(c.Extra) == 0 {
		return b, err
	}
	extra, err := json.Marshal(c.Extra) // sorted keys: stable output
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
	return buf.Bytes(), nil
}

// Clone returns a deep copy, so cached records are never mutated in place.
func (c *Client) Clone() *Client {
	n := *c
	n.GrantTypes = append([]string(nil), c.GrantTypes...)
	n.ResponseTypes = append([]string(nil), c.ResponseTypes...)
	n.AllowedResources = append([]string(nil), c.AllowedResources...)
	n.JWKS = append(json.RawMessage(nil), c.JWKS...)
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

// UsesMTLS reports whether the client authenticates with its certificate (RFC 8705 §2).
func (c *Client) UsesMTLS() bool {
	return c.TokenEndpointAuthMethod == AuthTLSClient || c.TokenEndpointAuthMethod == AuthSelfSignedTLSClient
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
