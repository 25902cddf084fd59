package backends

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Ceiling is the operator's grant to one client, stored with its record
// (member "operator_ceiling"). A client's RFC 7592 update may narrow its
// metadata within the ceiling but never widen it: the authentication method,
// the certificate match and CA pin are fixed; the bound-token requirement
// cannot be dropped; scope, allowed resources, default audience and token
// lifetime stay within what is granted here. Only the operator (CLI, direct
// backend writes) sets it; a registration request cannot name it.
type Ceiling struct {
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// RFC 8705 §2.1.2 certificate match and our CA pin: fixed for the client.
	TLSClientAuthSubjectDN string `json:"tls_client_auth_subject_dn,omitempty"`
	TLSClientAuthSANDNS    string `json:"tls_client_auth_san_dns,omitempty"`
	TLSClientAuthSANURI    string `json:"tls_client_auth_san_uri,omitempty"`
	TLSClientAuthSANIP     string `json:"tls_client_auth_san_ip,omitempty"`
	TLSClientAuthSANEmail  string `json:"tls_client_auth_san_email,omitempty"`
	TLSClientAuthCASHA256  string `json:"tls_client_auth_ca_sha256,omitempty"`
	// RFC 8705 §3.4: when true, the client cannot drop the requirement.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// Scope is the widest scope the client may register (RFC 6749 §3.3 list).
	Scope string `json:"scope,omitempty"`
	// AllowedResources and DefaultAudience bound the client's audiences.
	AllowedResources []string `json:"allowed_resources,omitempty"`
	DefaultAudience  string   `json:"default_audience,omitempty"`
	// AccessTokenLifetime is the longest lifetime (seconds) the client may
	// register; 0 grants the broker's default (tokens.lifetime), not more.
	AccessTokenLifetime int64 `json:"access_token_lifetime,omitempty"`
}

// CeilingOf returns the ceiling that grants exactly what c holds now.
func CeilingOf(c *Client) *Ceiling {
	return &Ceiling{
		TokenEndpointAuthMethod:               c.TokenEndpointAuthMethod,
		TLSClientAuthSubjectDN:                c.TLSClientAuthSubjectDN,
		TLSClientAuthSANDNS:                   c.TLSClientAuthSANDNS,
		TLSClientAuthSANURI:                   c.TLSClientAuthSANURI,
		TLSClientAuthSANIP:                    c.TLSClientAuthSANIP,
		TLSClientAuthSANEmail:                 c.TLSClientAuthSANEmail,
		TLSClientAuthCASHA256:                 c.TLSClientAuthCASHA256,
		TLSClientCertificateBoundAccessTokens: c.TLSClientCertificateBoundAccessTokens,
		Scope:                                 strings.Join(c.Scopes(), " "),
		AllowedResources:                      slices.Clone(c.AllowedResources),
		DefaultAudience:                       c.DefaultAudience,
		AccessTokenLifetime:                   c.AccessTokenLifetime,
	}
}

// Clone returns a deep copy.
func (g *Ceiling) Clone() *Ceiling {
	n := *g
	n.AllowedResources = slices.Clone(g.AllowedResources)
	return &n
}

var ceilingFields = sync.OnceValue(func() []string {
	var names []string
	t := reflect.TypeFor[Ceiling]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
})

type ceilingAlias Ceiling

// UnmarshalJSON decodes strictly: exact member names, no duplicates, and no
// member the ceiling does not define (it is ours; an unknown one is a typo
// that would silently grant nothing or everything).
func (g *Ceiling) UnmarshalJSON(b []byte) error {
	members, err := strictObject(b, MaxDepth-1)
	var me *MemberError
	if errors.As(err, &me) {
		if me.Member == "(body)" {
			return &MemberError{Member: "operator_ceiling", Reason: me.Reason}
		}
		return &MemberError{Member: "operator_ceiling." + me.Member, Reason: me.Reason}
	}
	for _, m := range members {
		if !slices.Contains(ceilingFields(), m.name) {
			return memberErr("operator_ceiling."+m.name, "unknown member")
		}
	}
	var a ceilingAlias
	if err := json.Unmarshal(b, &a); err != nil {
		return &MemberError{Member: "operator_ceiling", Reason: "wrong type"}
	}
	*g = Ceiling(a)
	return nil
}
