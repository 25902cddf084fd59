package authn

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/authn/internal/jws"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/internal/es256"
)

// AssertionType is the RFC 7523 §2.2 client_assertion_type.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// SPIFFEAssertionType is the client_assertion_type of a JWT-SVID
// (draft-ietf-oauth-spiffe-client-auth-02 §3.1): the spiffe_jwt method's
// credential, never private_key_jwt's.
const SPIFFEAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe"

// AssertionAlgs is the allow-list of assertion signature algorithms. HMAC
// and "none" are absent, so neither can ever verify.
var AssertionAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.PS256, jose.RS256}

// DefaultMaxJTIsPerClient is the default of AssertionConfig.MaxJTIsPerClient:
// a jti is kept for its assertion's lifetime plus the skew, so this allows
// one client about 1,100 assertions a second with one-minute assertions,
// while ten such clients are needed to fill the default in-memory store.
const DefaultMaxJTIsPerClient = 100_000

// AssertionConfig configures private_key_jwt.
type AssertionConfig struct {
	// Issuer is the authorization server's issuer identifier: the audience
	// the RFC 7523 update (draft-ietf-oauth-rfc7523bis) requires, as the sole value.
	Issuer string
	// CompatAudiences are also accepted, as any value of aud, when Compat is
	// set: the token endpoint URL and its mTLS alias, which RFC 7523 §3 and
	// OIDC Core §9 clients send.
	CompatAudiences []string
	Compat          bool
	// Skew tolerates clock differences (default 30s).
	Skew time.Duration
	// MaxLifetime caps exp minus (iat, or now when absent) (default 5m).
	MaxLifetime time.Duration
	// MaxSize bounds the assertion (default 8 KiB).
	MaxSize int
	// Replay records used jti values until they expire (required).
	Replay state.Store
	// MaxJTIsPerClient bounds the live jti values one client may hold in
	// Replay (default DefaultMaxJTIsPerClient): a client that fills its share
	// gets its own assertions refused, nobody else's.
	MaxJTIsPerClient int
	// Keys resolves the client's keys (required).
	Keys *KeySource
}

// PrivateKeyJWT is RFC 7523 §2.2 / §3 client authentication.
func PrivateKeyJWT(cfg AssertionConfig) (Method, error) {
	if cfg.Issuer == "" || cfg.Replay == nil || cfg.Keys == nil {
		return nil, errors.New("private_key_jwt: issuer, replay store and key source are required")
	}
	if cfg.Skew == 0 {
		cfg.Skew = 30 * time.Second
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = 5 * time.Minute
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = 8 << 10
	}
	if cfg.MaxJTIsPerClient == 0 {
		cfg.MaxJTIsPerClient = DefaultMaxJTIsPerClient
	}
	if cfg.MaxJTIsPerClient < 0 {
		return nil, errors.New("private_key_jwt: MaxJTIsPerClient is negative")
	}
	return &privateKeyJWT{cfg: cfg}, nil
}

type privateKeyJWT struct {
	cfg    AssertionConfig
	tables es256.Tables
}

var _ Method = (*privateKeyJWT)(nil)

func (*privateKeyJWT) Name() string { return backends.AuthPrivateKeyJWT }

// Detect parses the assertion without trusting it, only to learn which
// client it claims to be (sub; iss when sub is absent, so a refusal can
// still be counted against a client); nothing from it is used before Verify
// checks the signature.
func (m *privateKeyJWT) Detect(r *Request) (string, bool, error) {
	typ, hasType := r.Form["client_assertion_type"]
	a, hasA := r.Form["client_assertion"]
	if !hasType && !hasA || hasType && typ[0] == SPIFFEAssertionType {
		return "", false, nil
	}
	var claimed string
	var parseErr error
	if hasA {
		tok, claims, err := m.parse(a[0])
		if err == nil && r.federatedIssuer(claims.Issuer) {
			// A federated issuer's assertion: its method's credential, not
			// ours (IssuerMethod), so exactly one method applies.
			return "", false, nil
		}
		if err == nil {
			r.assertion, r.assertionClaims, r.assertionRaw = tok, claims, a[0]
			claimed = cmp.Or(claims.Subject, claims.Issuer)
		}
		parseErr = err
	}
	switch {
	case !hasType || typ[0] != AssertionType:
		return claimed, true, fmt.Errorf("%w: client_assertion_type must be %s", ErrInvalidClient, AssertionType)
	case !hasA:
		return "", true, fmt.Errorf("%w: client_assertion missing", ErrInvalidClient)
	case parseErr != nil:
		return "", true, fmt.Errorf("%w: %w", ErrInvalidClient, parseErr)
	case r.assertionClaims.Subject == "":
		return claimed, true, fmt.Errorf("%w: assertion without sub", ErrInvalidClient)
	}
	return claimed, true, nil
}

func (m *privateKeyJWT) parse(a string) (*jose.JSONWebSignature, *jwt.Claims, error) {
	if len(a) > m.cfg.MaxSize {
		return nil, nil, fmt.Errorf("assertion larger than %d bytes", m.cfg.MaxSize)
	}
	tok, err := ParseAssertion(a)
	if err != nil {
		return nil, nil, err
	}
	// Parsed once, here, and trusted only after Verify checked the signature
	// over these very bytes. go-jose's json, as jwt uses: member names are
	// matched case-sensitively.
	var claims jwt.Claims
	if err := josejson.Unmarshal(tok.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return nil, nil, errors.New("assertion claims are malformed")
	}
	return tok, &claims, nil
}

// ParseAssertion parses a compact JWS with an allowed algorithm.
func ParseAssertion(a string) (*jose.JSONWebSignature, error) {
	tok, err := jose.ParseSignedCompact(a, AssertionAlgs)
	if err != nil {
		return nil, errors.New("assertion is not a JWS with an allowed algorithm")
	}
	if len(tok.Signatures) != 1 {
		return nil, errors.New("assertion must have exactly one signature")
	}
	return tok, nil
}

func (m *privateKeyJWT) Verify(ctx context.Context, r *Request, e *backends.ClientEntry) (err error) {
	c := e.Client
	tok := r.assertion
	if tok == nil {
		return errors.New("no assertion")
	}
	// Until the signature verifies, every refusal — unknown client, wrong
	// alg, unknown kid, bad signature, with or without a precomputed table —
	// costs one table verification and one crypto/ecdsa verification, so
	// timing does not tell which client ids exist or which keys are in use.
	var spentTable, spentStd bool
	signatureStage := true
	defer func() {
		if err != nil && signatureStage {
			spendParity(r.assertionRaw, !spentTable, !spentStd)
		}
	}()
	if c.ClientID == "" {
		return errors.New("unknown client") // the Authenticator's stand-in
	}
	h := tok.Signatures[0].Header
	if err := checkAssertionType(h); err != nil {
		return err
	}
	if c.TokenEndpointAuthSigningAlg != "" && h.Algorithm != c.TokenEndpointAuthSigningAlg {
		return fmt.Errorf("assertion alg %s, client registered %s", h.Algorithm, c.TokenEndpointAuthSigningAlg)
	}
	keys, err := m.cfg.Keys.Keys(ctx, c, h.KeyID)
	if err != nil {
		return err
	}
	verified := false
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		if ok, handled := jws.VerifyES256(&m.tables, r.assertionRaw, tok, k.Key, r.Now); handled {
			spentTable = true
			if ok {
				verified = true
				break
			}
			continue
		}
		if pub, isEC := k.Key.(*ecdsa.PublicKey); isEC && pub.Curve == elliptic.P256() {
			spentStd = true
		}
		if payload, err := tok.Verify(k.Key); err == nil {
			// The claims were parsed from exactly this payload in Detect.
			verified = bytes.Equal(payload, tok.UnsafePayloadWithoutVerification())
			if verified {
				m.tables.Admit(k.Key, r.Now) // a genuine signature: the key is in use
			}
			break
		}
	}
	if !verified {
		return errors.New("assertion signature does not verify with any registered key")
	}
	signatureStage = false
	claims := r.assertionClaims
	// Signature verified: the claims can now be trusted and checked.
	if err := m.checkClaims(claims, c.ClientID, r.Now); err != nil {
		return err
	}
	// RFC 7523 §3 item 7: single use within the assertion's lifetime. Recorded
	// only after the signature verified, so nobody can burn another client's jti.
	share := state.Share{Owner: "jti:" + c.ClientID, Max: m.cfg.MaxJTIsPerClient}
	fresh, err := m.cfg.Replay.Once(ctx, share, claims.ID, claims.Expiry.Time().Add(m.cfg.Skew))
	if errors.Is(err, state.ErrShareFull) {
		return fmt.Errorf("client holds %d live assertion jtis, its share of the replay cache: refusing (fail closed)", share.Max)
	}
	if err != nil {
		return fmt.Errorf("replay cache unavailable, refusing (fail closed): %w", err)
	}
	if !fresh {
		return fmt.Errorf("assertion jti %q replayed", claims.ID)
	}
	return nil
}

// checkAssertionType refuses an assertion whose JOSE header says it is some
// other kind of JWT (an access token, at+jwt; an ID token; a logout token):
// draft-ietf-oauth-rfc7523bis §5 (explicit typing, RFC 8725 §3.11) lets a
// client assertion be untyped, "JWT" or "client-authentication+jwt", and
// nothing else. Media types compare case-insensitively, and a value without
// a "/" has "application/" prepended (RFC 7515 §4.1.9).
func checkAssertionType(h jose.Header) error {
	v, ok := h.ExtraHeaders[jose.HeaderType]
	if !ok {
		return nil
	}
	typ, _ := v.(string)
	mt := strings.ToLower(typ)
	if !strings.Contains(mt, "/") {
		mt = "application/" + mt
	}
	switch mt {
	case "application/jwt", "application/client-authentication+jwt":
		return nil
	}
	return fmt.Errorf("assertion typ %.40q is not a client assertion", typ)
}

func (m *privateKeyJWT) checkClaims(cl *jwt.Claims, clientID string, now time.Time) error {
	skew := m.cfg.Skew
	switch {
	case cl.Issuer != clientID || cl.Subject != clientID:
		return errors.New("assertion iss and sub must both be the client_id")
	case !m.audienceOK(cl.Audience):
		return fmt.Errorf("assertion aud %v is not this authorization server", []string(cl.Audience))
	case cl.Expiry == nil:
		return errors.New("assertion without exp")
	case now.After(cl.Expiry.Time().Add(skew)):
		return errors.New("assertion expired")
	case cl.NotBefore != nil && cl.NotBefore.Time().After(now.Add(skew)):
		return errors.New("assertion nbf in the future")
	case cl.IssuedAt != nil && cl.IssuedAt.Time().After(now.Add(skew)):
		return errors.New("assertion iat in the future")
	case cl.ID == "" || len(cl.ID) > 256:
		return errors.New("assertion jti missing or longer than 256 characters")
	}
	start := now
	if cl.IssuedAt != nil {
		start = cl.IssuedAt.Time()
	}
	if cl.Expiry.Time().Sub(start) > m.cfg.MaxLifetime {
		return fmt.Errorf("assertion lifetime over the %s cap", m.cfg.MaxLifetime)
	}
	return nil
}

// audienceOK: strict (draft-ietf-oauth-rfc7523bis) — the issuer identifier
// as the sole audience; compat — also the token endpoint or its mTLS alias
// among the values (RFC 7523 §3, OIDC Core §9).
func (m *privateKeyJWT) audienceOK(aud jwt.Audience) bool {
	if len(aud) == 1 && aud[0] == m.cfg.Issuer {
		return true
	}
	if !m.cfg.Compat {
		return false
	}
	for _, a := range aud {
		if a == m.cfg.Issuer || slices.Contains(m.cfg.CompatAudiences, a) {
			return true
		}
	}
	return false
}

// timing is a throwaway key, its table and a signature by it, for the
// verifications refusals spend (spendParity).
var timing = sync.OnceValue(func() (t struct {
	pub   *ecdsa.PublicKey
	table *es256.PublicKey
	sig   []byte
	r, s  *big.Int
}) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	t.pub = &k.PublicKey
	t.table, _ = es256.NewPublicKey(t.pub)
	d := sha256.Sum256([]byte("tokenbroker timing"))
	t.r, t.s, _ = ecdsa.Sign(rand.Reader, k, d[:])
	t.sig = make([]byte, 64)
	t.r.FillBytes(t.sig[:32])
	t.s.FillBytes(t.sig[32:])
	return t
})

// parityObserved sees each spendParity call (tests only).
var parityObserved func(table, std bool)

// spendParity runs the verifications a refusal has not spent yet: one with
// a precomputed table (as for a key in use), one with crypto/ecdsa (as for
// a key without a table). Both run in full over the assertion's signing
// input and fail, as a forged signature would.
func spendParity(compact string, table, std bool) {
	if parityObserved != nil {
		parityObserved(table, std)
	}
	if !table && !std {
		return
	}
	t := timing()
	d := jws.Digest(compact)
	if table && t.table != nil {
		_ = t.table.Verify(d[:], t.sig)
	}
	if std {
		_ = ecdsa.Verify(t.pub, d[:], t.r, t.s)
	}
}
