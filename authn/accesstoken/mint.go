package accesstoken

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Signer signs access tokens; the broker's signing keys (a local key ring,
// Vault Transit, AWS KMS, Secrets Manager stages) sit behind it.
type Signer interface {
	// Sign returns the compact JWS (RFC 7515 §7.1) of payload, signed with
	// the key active now; its protected header names alg and kid and has
	// typ "at+jwt" (RFC 9068 §2.1). Header and SignCompact build one.
	Sign(ctx context.Context, payload []byte) (jws string, err error)
}

// Grant is what policy decided a client gets: the input of Mint.
type Grant struct {
	ClientID string
	Scopes   []string
	Audience []string
	Lifetime time.Duration
	// X5tS256 binds the token to a certificate when set (RFC 8705 §3.1).
	X5tS256 string
	// JKT binds the token to a DPoP key when set (RFC 9449 §6.1); policy
	// sets at most one of X5tS256 and JKT.
	JKT string
}

// NewClaims are the claims of a token for g issued by issuer at now, with a
// fresh 128-bit jti.
func NewClaims(issuer string, g *Grant, now time.Time) (*Claims, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	c := &Claims{
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
	if g.X5tS256 != "" || g.JKT != "" {
		c.Cnf = &Confirmation{X5tS256: g.X5tS256, JKT: g.JKT}
	}
	return c, nil
}

// Mint signs an RFC 9068 access token for g with s and returns it with its claims.
func Mint(ctx context.Context, s Signer, issuer string, g *Grant, now time.Time) (token string, claims *Claims, err error) {
	if claims, err = NewClaims(issuer, g, now); err != nil {
		return "", nil, err
	}
	if token, err = s.Sign(ctx, appendClaims(make([]byte, 0, 384), claims)); err != nil {
		return "", nil, err
	}
	return token, claims, nil
}

// Header returns the base64url JOSE protected header of an access token
// signed with alg by the key kid (RFC 9068 §2.1: typ "at+jwt"). A Signer
// computes it once per key.
func Header(alg, kid string) string {
	h, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{alg, kid, "at+jwt"})
	return base64.RawURLEncoding.EncodeToString(h)
}

// SignCompact returns header.payload.signature (RFC 7515 §7.1), sign
// signing the JWS signing input (RFC 7515 §5.1) with the key header names.
func SignCompact(ctx context.Context, header string, payload []byte, sign func(context.Context, []byte) ([]byte, error)) (string, error) {
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(512))
	buf = append(buf, header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig, err := sign(ctx, buf)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}
