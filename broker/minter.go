package broker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/signing"
)

// AccessTokenClaims are the RFC 9068 §2.2 claims of an access token.
type AccessTokenClaims struct {
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

// Confirmation binds a token to a certificate (RFC 8705 §3.1).
type Confirmation struct {
	X5tS256 string `json:"x5t#S256"`
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

// Grant is what policy decided a client gets.
type Grant struct {
	ClientID string
	Scopes   []string
	Audience []string
	Lifetime time.Duration
	// X5tS256 binds the token to a certificate when set.
	X5tS256 string
}

// mint signs an RFC 9068 access token for g with the active key.
func mint(ctx context.Context, keys *signing.Keyring, issuer string, g *Grant, now time.Time) (token string, claims *AccessTokenClaims, err error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", nil, err
	}
	claims = &AccessTokenClaims{
		Issuer:    issuer,
		Subject:   g.ClientID, // RFC 9068 §2.2: sub is the client for client-credentials grants
		Audience:  g.Audience,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		Expiry:    now.Add(g.Lifetime).Unix(),
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
		ClientID:  g.ClientID,
		Scope:     strings.Join(g.Scopes, " "),
	}
	if g.X5tS256 != "" {
		claims.Cnf = &Confirmation{X5tS256: g.X5tS256}
	}
	payload := appendClaims(make([]byte, 0, 384), claims)
	ak := keys.Active()
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(ak.Header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(512))
	buf = append(buf, ak.Header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig, err := ak.Sign(ctx, buf)
	if err != nil {
		return "", nil, fmt.Errorf("sign with %s: %w", ak.KeyID(), err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), claims, nil
}
