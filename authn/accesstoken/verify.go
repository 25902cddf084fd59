package accesstoken

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/authn/internal/jws"
	"github.com/tokenbroker/tokenbroker/internal/es256"
)

// MaxTokenSize bounds a presented access token.
const MaxTokenSize = 8 << 10

// Algorithms are the JWS algorithms an access token may be signed with.
var Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256, jose.PS256}

// Why Verify refused a token. Each error Verify returns wraps one of them;
// the rest of its text says more, for the log.
var (
	// ErrMalformed: too large, not a compact JWS, claims that do not
	// parse, or without exp or jti (RFC 9068 §2.2 requires them).
	ErrMalformed = errors.New("malformed token")
	// ErrNotAccessToken: typ is not at+jwt (RFC 9068 §4) — an ID token or a
	// client assertion, say.
	ErrNotAccessToken = errors.New("not an access token")
	// ErrUnknownKey: no published key has the token's kid.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("bad signature")
	// ErrRejected: authentic, but another issuer's, for another audience,
	// expired, or not yet valid.
	ErrRejected = errors.New("token is expired, not yet valid, or not for this API")
)

// KeySet holds an issuer's published verification keys.
type KeySet interface {
	// PublicKey returns the key published under kid; ok is false when there
	// is none. It may fetch (ctx bounds the fetch).
	PublicKey(ctx context.Context, kid string) (key crypto.PublicKey, ok bool)
}

// Expected is what a token must say to be accepted.
type Expected struct {
	// Issuer must equal iss (required).
	Issuer string
	// Audience must be among the aud values (required unless AnyAudience).
	Audience string
	// AnyAudience accepts any aud: for the issuer's own introspection and
	// for tooling, never for an API.
	AnyAudience bool
	// Leeway tolerates clocks behind the issuer's: see Verifier.
	Leeway time.Duration
}

// Verifier verifies RFC 9068 access tokens. The broker (introspection,
// revocation) and the resource middleware use the same one.
//
// One time rule, for both: the token is valid from nbf and iat until exp.
// exp is exact (RFC 7519 §4.1.4, RFC 9068 §4: the current time MUST be
// before it): what the issuer promised about a bearer credential's life is
// what revocation lists and key publication are sized for, and a client
// refreshes its token ahead of expiry anyway. Leeway (RFC 7519 §4.1.4–5 "MAY
// provide for some small leeway") applies to the start only — nbf and iat
// may lie up to Leeway ahead of this clock — so a fresh token from an issuer
// whose clock runs a little ahead is not refused.
type Verifier struct {
	keys   KeySet
	exp    Expected
	tables es256.Tables // ES256 verification tables for the issuer's keys
}

// NewVerifier returns a Verifier of tokens signed with keys, checked against exp.
func NewVerifier(keys KeySet, exp Expected) (*Verifier, error) {
	switch {
	case keys == nil:
		return nil, errors.New("accesstoken: a key set is required")
	case exp.Issuer == "":
		return nil, errors.New("accesstoken: Issuer is required")
	case exp.Audience == "" && !exp.AnyAudience:
		return nil, errors.New("accesstoken: Audience is required (or AnyAudience)")
	case exp.Leeway < 0:
		return nil, errors.New("accesstoken: Leeway is negative")
	}
	return &Verifier{keys: keys, exp: exp}, nil
}

// wireClaims are Claims as read from a token: NumericDates may carry a
// fraction (RFC 7519 §2), and an absent exp differs from zero.
type wireClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	ID        string           `json:"jti"`
	ClientID  string           `json:"client_id"`
	Scope     string           `json:"scope"`
	Cnf       *Confirmation    `json:"cnf"`
}

// Verify checks token at now: typ at+jwt (RFC 9068 §4), a published key's
// signature, iss, aud, the time rule (see Verifier) and that exp and jti are
// present. The certificate binding is the caller's to check, with
// CheckBinding, against the certificate of the request that carried the token.
func (v *Verifier) Verify(ctx context.Context, token string, now time.Time) (*Claims, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxTokenSize)
	}
	parsed, err := jose.ParseSignedCompact(token, Algorithms)
	if err != nil || len(parsed.Signatures) != 1 {
		return nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	h := parsed.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" && typ != "application/at+jwt" {
		// RFC 9068 §4: reject tokens of any other type (e.g. an ID token or a client assertion).
		return nil, ErrNotAccessToken
	}
	key, ok := v.keys.PublicKey(ctx, h.KeyID)
	if !ok {
		return nil, ErrUnknownKey
	}
	var payload []byte
	if ok, handled := jws.VerifyES256(&v.tables, token, parsed, key, now); handled {
		if !ok {
			return nil, ErrSignature
		}
		payload = parsed.UnsafePayloadWithoutVerification() // authentic: the signature covers it
	} else if payload, err = parsed.Verify(key); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	} else {
		v.tables.Admit(key, now) // the issuer signs with this key: worth a table
	}
	// go-jose's json, as jwt uses: member names match case-sensitively.
	var w wireClaims
	if err := josejson.Unmarshal(payload, &w); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	if w.Expiry == nil || w.ID == "" {
		return nil, fmt.Errorf("%w: no exp or jti", ErrMalformed)
	}
	if err := v.check(&w, now); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrRejected, err)
	}
	c := &Claims{Issuer: w.Issuer, Subject: w.Subject, Audience: Audience(w.Audience), Expiry: int64(*w.Expiry),
		ID: w.ID, ClientID: w.ClientID, Scope: w.Scope, Cnf: w.Cnf}
	if w.IssuedAt != nil {
		c.IssuedAt = int64(*w.IssuedAt)
	}
	if w.NotBefore != nil {
		c.NotBefore = int64(*w.NotBefore)
	}
	return c, nil
}

// check applies Expected and the time rule to authentic claims.
func (v *Verifier) check(w *wireClaims, now time.Time) error {
	switch {
	case w.Issuer != v.exp.Issuer:
		return errors.New("foreign issuer")
	case !v.exp.AnyAudience && !slices.Contains(w.Audience, v.exp.Audience):
		return errors.New("not for this audience")
	case !now.Before(w.Expiry.Time()): // RFC 7519 §4.1.4, exactly
		return errors.New("expired")
	case w.NotBefore != nil && now.Add(v.exp.Leeway).Before(w.NotBefore.Time()): // RFC 7519 §4.1.5
		return errors.New("not yet valid")
	case w.IssuedAt != nil && now.Add(v.exp.Leeway).Before(w.IssuedAt.Time()):
		return errors.New("issued in the future")
	}
	return nil
}
