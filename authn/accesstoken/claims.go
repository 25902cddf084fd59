package accesstoken

import (
	"encoding/json"
	"slices"
	"strings"
)

// Claims are the RFC 9068 §2.2 claims of an access token. NumericDates are
// whole seconds since the epoch.
type Claims struct {
	Issuer    string        `json:"iss"`
	Subject   string        `json:"sub"`
	Audience  Audience      `json:"aud"`
	Expiry    int64         `json:"exp"`
	IssuedAt  int64         `json:"iat"`
	NotBefore int64         `json:"nbf"`
	ID        string        `json:"jti"`
	ClientID  string        `json:"client_id"`
	Scope     string        `json:"scope,omitempty"`
	Cnf       *Confirmation `json:"cnf,omitempty"`
}

// Scopes lists the scopes the token grants (RFC 9068 §2.2.3: "scope" is
// space-separated, RFC 6749 §3.3).
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// HasScope reports whether the token grants s.
func (c *Claims) HasScope(s string) bool { return slices.Contains(c.Scopes(), s) }

// CertThumbprint is cnf.x5t#S256 when the token is certificate-bound
// (RFC 8705 §3.1), else "".
func (c *Claims) CertThumbprint() string {
	if c.Cnf == nil {
		return ""
	}
	return c.Cnf.X5tS256
}

// DPoPThumbprint is cnf.jkt when the token is DPoP-bound (RFC 9449 §6.1),
// else "".
func (c *Claims) DPoPThumbprint() string {
	if c.Cnf == nil {
		return ""
	}
	return c.Cnf.JKT
}

// Confirmation binds a token to a certificate (RFC 8705 §3.1) or to a DPoP
// key (RFC 9449 §6.1). The broker sets exactly one of them.
type Confirmation struct {
	X5tS256 string `json:"x5t#S256,omitempty"`
	// JKT is the RFC 7638 SHA-256 thumbprint of the DPoP proof key, base64url.
	JKT string `json:"jkt,omitempty"`
}

// Audience is "aud": a single string when there is one value, else an array (RFC 7519 §4.1.3).
type Audience []string

// MarshalJSON implements json.Marshaler.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON accepts a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = Audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}
