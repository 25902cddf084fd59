package backends

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
// the certificate match and CA pin are fixed (for self_signed_tls_client_auth
// the match is the registered jwks / jwks_uri, pinned here); the bound-token requirements
// (certificate, DPoP) cannot be dropped; scope, allowed resources, default audience and token
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
	// RFC 8705 §2.2: a self_signed_tls_client_auth client's certificate is its
	// registered jwks or jwks_uri, so that is its match, fixed like the
	// tls_client_auth_* one: JWKSSHA256 is JWKSDigest of the granted jwks,
	// JWKSURI the granted jwks_uri (see PinKeys). Both empty for other methods:
	// a private_key_jwt client rotates its keys through RFC 7592.
	JWKSSHA256 string `json:"jwks_sha256,omitempty"`
	JWKSURI    string `json:"jwks_uri,omitempty"`
	// RFC 8705 §3.4: when true, the client cannot drop the requirement.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// RFC 9449 §5.2: when true, the client cannot drop the DPoP requirement.
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`
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
	g := &Ceiling{
		TokenEndpointAuthMethod:               c.TokenEndpointAuthMethod,
		TLSClientAuthSubjectDN:                c.TLSClientAuthSubjectDN,
		TLSClientAuthSANDNS:                   c.TLSClientAuthSANDNS,
		TLSClientAuthSANURI:                   c.TLSClientAuthSANURI,
		TLSClientAuthSANIP:                    c.TLSClientAuthSANIP,
		TLSClientAuthSANEmail:                 c.TLSClientAuthSANEmail,
		TLSClientAuthCASHA256:                 c.TLSClientAuthCASHA256,
		TLSClientCertificateBoundAccessTokens: c.TLSClientCertificateBoundAccessTokens,
		DPoPBoundAccessTokens:                 c.DPoPBoundAccessTokens,
		Scope:                                 strings.Join(c.Scopes(), " "),
		AllowedResources:                      slices.Clone(c.AllowedResources),
		DefaultAudience:                       c.DefaultAudience,
		AccessTokenLifetime:                   c.AccessTokenLifetime,
	}
	g.PinKeys(c)
	return g
}

// PinKeys fixes c's jwks or jwks_uri as the granted certificate when g grants
// self_signed_tls_client_auth, and clears the pin for any other method.
func (g *Ceiling) PinKeys(c *Client) {
	g.JWKSSHA256, g.JWKSURI = "", ""
	if g.TokenEndpointAuthMethod != AuthSelfSignedTLSClient {
		return
	}
	if len(c.JWKS) > 0 {
		g.JWKSSHA256 = JWKSDigest(c.JWKS)
	}
	g.JWKSURI = c.JWKSURI
}

// PinsKeys reports whether g holds a certificate pin (PinKeys).
func (g *Ceiling) PinsKeys() bool { return g.JWKSSHA256 != "" || g.JWKSURI != "" }

// GrantsKeys reports whether jwks and jwksURI (one of them set) are the
// certificate g pins.
func (g *Ceiling) GrantsKeys(jwks json.RawMessage, jwksURI string) bool {
	switch {
	case len(jwks) > 0 && jwksURI == "":
		return g.JWKSSHA256 != "" && JWKSDigest(jwks) == g.JWKSSHA256
	case len(jwks) == 0 && jwksURI != "":
		return jwksURI == g.JWKSURI
	}
	return false
}

// JWKSDigest is the hex SHA-256 of a JWK Set in a canonical form — members
// sorted by name, no insignificant whitespace, numbers as written — so a
// client that sends back its registered set reformatted or with members
// reordered still matches, and any change to a key or certificate does not.
// Bytes that are not JSON are hashed as they are.
func JWKSDigest(jwks json.RawMessage) string {
	canon := []byte(jwks)
	dec := json.NewDecoder(bytes.NewReader(jwks))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) == nil {
		if b, err := MarshalCompact(v); err == nil {
			canon = b
		}
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
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
