package dpop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/authn/internal/jws"
	"github.com/tokenbroker/tokenbroker/internal/es256"
)

// ReplayCache remembers the proof jtis already used (RFC 9449 §11.1), for
// every replica alike (the broker implements it over backends/state).
type ReplayCache interface {
	// Once records key for owner until exp and reports whether it was not
	// recorded before. An error means the cache cannot tell: the proof is
	// refused (fail closed).
	Once(ctx context.Context, owner, key string, exp time.Time) (fresh bool, err error)
}

// ReplayFunc adapts a function to ReplayCache.
type ReplayFunc func(ctx context.Context, owner, key string, exp time.Time) (bool, error)

// Once implements ReplayCache.
func (f ReplayFunc) Once(ctx context.Context, owner, key string, exp time.Time) (bool, error) {
	return f(ctx, owner, key, exp)
}

// Verifier checks DPoP proofs exactly as RFC 9449 §4.3 says. It is safe for
// concurrent use.
type Verifier struct {
	algs   []jose.SignatureAlgorithm
	window time.Duration
	leeway time.Duration
	// retain is how long after its iat a jti is remembered (≥ window).
	retain  time.Duration
	maxSize int
	replay  ReplayCache
	nonces  NonceSource
	now     func() time.Time
	// tables verify ES256 proofs by keys admitted (Admit) faster than
	// crypto/ecdsa: a client keeps its DPoP key across requests. They are
	// keyed by the key's pointer, so admitted holds the one pointer per
	// thumbprint that a proof's freshly parsed key is swapped for.
	tables   es256.Tables
	admitted admittedKeys
}

// admittedKeys maps the thumbprints of admitted keys to the key each
// table was built for: at most maxAdmitted, started afresh every
// admittedEpoch (as es256.Tables is).
type admittedKeys struct {
	mu    sync.Mutex
	m     map[string]*ecdsa.PublicKey
	epoch time.Time
}

const (
	maxAdmitted   = 64
	admittedEpoch = 10 * time.Minute
)

func (a *admittedKeys) get(jkt string, now time.Time) *ecdsa.PublicKey {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.epoch) > admittedEpoch {
		a.m, a.epoch = nil, now
	}
	return a.m[jkt]
}

func (a *admittedKeys) put(jkt string, k *ecdsa.PublicKey, now time.Time) *ecdsa.PublicKey {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.epoch) > admittedEpoch {
		a.m, a.epoch = nil, now
	}
	if held := a.m[jkt]; held != nil {
		return held
	}
	if len(a.m) >= maxAdmitted {
		return nil
	}
	if a.m == nil {
		a.m = map[string]*ecdsa.PublicKey{}
	}
	a.m[jkt] = k
	return k
}

// VerifierOption configures NewVerifier.
type VerifierOption func(*Verifier)

// WithAlgorithms narrows the accepted algorithms to algs, a subset of
// Algorithms (asymmetric only, RFC 9449 §4.3 item 5).
func WithAlgorithms(algs ...jose.SignatureAlgorithm) VerifierOption {
	return func(v *Verifier) { v.algs = algs }
}

// WithWindow sets how old a proof's iat may be (default DefaultWindow), and
// how far ahead of this clock (default DefaultLeeway) — RFC 9449 §4.3
// item 11 and §11.1.
func WithWindow(past, future time.Duration) VerifierOption {
	return func(v *Verifier) { v.window, v.leeway = past, future }
}

// WithRetention keeps every jti recorded until its proof's iat + retain (+
// the future leeway), when retain exceeds the window: set it to the largest
// window any replica sharing the replay cache may run with, so that a proof
// spent where the window is short is still refused where it is long — by a
// replica on another configuration, or by this one after a reload (RFC 9449
// §11.1: a jti is single use as long as any of them accepts the proof).
func WithRetention(retain time.Duration) VerifierOption {
	return func(v *Verifier) { v.retain = retain }
}

// WithReplay sets the replay cache Verify and Spend record jtis in.
func WithReplay(c ReplayCache) VerifierOption { return func(v *Verifier) { v.replay = c } }

// WithNonces requires server nonces (RFC 9449 §8) from n.
func WithNonces(n NonceSource) VerifierOption { return func(v *Verifier) { v.nonces = n } }

// WithMaxSize bounds a proof (default DefaultMaxSize).
func WithMaxSize(n int) VerifierOption { return func(v *Verifier) { v.maxSize = n } }

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) VerifierOption { return func(v *Verifier) { v.now = now } }

// Defaults of the iat window.
const (
	DefaultWindow = 60 * time.Second
	DefaultLeeway = 5 * time.Second
)

// NewVerifier returns a Verifier. A replay cache (WithReplay) is required
// for Verify and Spend; Check works without one.
func NewVerifier(opts ...VerifierOption) (*Verifier, error) {
	v := &Verifier{algs: Algorithms, window: DefaultWindow, leeway: DefaultLeeway, maxSize: DefaultMaxSize, now: time.Now}
	for _, o := range opts {
		o(v)
	}
	if len(v.algs) == 0 {
		return nil, errors.New("dpop: no algorithms")
	}
	for _, a := range v.algs {
		if !slices.Contains(Algorithms, a) {
			return nil, fmt.Errorf("dpop: algorithm %q is not allowed", a)
		}
	}
	switch {
	case v.window <= 0 || v.window > 10*time.Minute || v.leeway < 0 || v.leeway > 5*time.Minute:
		return nil, errors.New("dpop: iat window out of range (0 < past ≤ 10m, 0 ≤ future ≤ 5m)")
	case v.retain < 0 || v.retain > 10*time.Minute:
		return nil, errors.New("dpop: retention out of range (≤ 10m)")
	case v.maxSize <= 0 || v.maxSize > 64<<10:
		return nil, errors.New("dpop: max size out of range")
	case v.now == nil:
		return nil, errors.New("dpop: no clock")
	}
	v.algs = slices.Clone(v.algs)
	v.retain = max(v.retain, v.window)
	return v, nil
}

// Algorithms are the algorithms this Verifier accepts, for
// dpop_signing_alg_values_supported (RFC 9449 §5.1) and WWW-Authenticate
// algs (§7.1).
func (v *Verifier) Algorithms() []string {
	out := make([]string, len(v.algs))
	for i, a := range v.algs {
		out[i] = string(a)
	}
	return out
}

// Nonces is the Verifier's nonce source, nil when nonces are not required.
func (v *Verifier) Nonces() NonceSource { return v.nonces }

// Verify checks a request's proof: values are all its DPoP header values
// (http.Header.Values), htm its method, htu its URI (HTU), accessToken the
// token presented with it ("" at the token endpoint). Check, then Spend with
// the proof's key as owner.
func (v *Verifier) Verify(ctx context.Context, values []string, htm, htu, accessToken string) (*Proof, error) {
	p, err := v.Check(values, htm, []string{htu}, accessToken)
	if err != nil {
		return nil, err
	}
	if err := v.Spend(ctx, "jkt:"+p.JKT, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Spend records p's jti in the replay cache under owner (a client id at the
// token endpoint, so that one client's proofs fill only its own share) and
// refuses a jti used before (ErrReplay, which is also ErrInvalidProof).
func (v *Verifier) Spend(ctx context.Context, owner string, p *Proof) error {
	if v.replay == nil {
		return errors.New("dpop: no replay cache")
	}
	fresh, err := v.replay.Once(ctx, owner, p.JKT+"."+p.JTI, p.exp)
	if err != nil {
		return fmt.Errorf("dpop: replay cache cannot tell, refusing (fail closed): %w", err)
	}
	if !fresh {
		return fmt.Errorf("%w: %w: jti %.40q", ErrInvalidProof, ErrReplay, p.JTI)
	}
	return nil
}

// Check runs every check of RFC 9449 §4.3 that needs no shared state:
// everything but the jti's single use. htus are the URIs the request may
// have been sent to (the token endpoint and its mTLS alias); the proof's
// htu must match one.
func (v *Verifier) Check(values []string, htm string, htus []string, accessToken string) (*Proof, error) {
	p, err := v.check(values, htm, htus, accessToken)
	if err != nil && !errors.Is(err, ErrUseNonce) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidProof, err)
	}
	return p, err
}

func (v *Verifier) check(values []string, htm string, htus []string, accessToken string) (*Proof, error) {
	now := v.now()
	// §4.3 item 1: exactly one DPoP header field, §4.3 item 2: a JWT.
	switch {
	case len(values) == 0:
		return nil, errors.New("no DPoP header")
	case len(values) > 1:
		return nil, errors.New("more than one DPoP header")
	case len(values[0]) > v.maxSize:
		return nil, fmt.Errorf("proof larger than %d bytes", v.maxSize)
	case strings.Count(values[0], ".") != 2:
		return nil, errors.New("proof is not a compact JWS")
	}
	raw := values[0]
	if err := checkHeader(raw[:strings.IndexByte(raw, '.')]); err != nil {
		return nil, err
	}
	// §4.3 item 5: alg from the allow-list; go-jose refuses every other.
	tok, err := jose.ParseSignedCompact(raw, v.algs)
	if err != nil {
		return nil, errors.New("proof is not a JWS with an allowed algorithm and a public jwk")
	}
	if len(tok.Signatures) != 1 {
		return nil, errors.New("proof must have exactly one signature")
	}
	h := tok.Signatures[0].Protected
	// §4.3 item 4: typ dpop+jwt. A media type compares case-insensitively
	// and may carry the "application/" prefix (RFC 7515 §4.1.9).
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if t := strings.ToLower(typ); t != Type && t != "application/"+Type {
		return nil, fmt.Errorf("proof typ %.40q is not %s", typ, Type)
	}
	// §4.3 item 7: a public key in jwk (go-jose refuses a private or
	// symmetric one at parse time; checkHeader refused private members).
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() {
		return nil, errors.New("proof without a public jwk")
	}
	if _, err := algFor(jwk.Key, jose.SignatureAlgorithm(h.Algorithm)); err != nil {
		return nil, fmt.Errorf("proof key does not fit its alg: %w", err)
	}
	jkt, err := Thumbprint(jwk)
	if err != nil {
		return nil, err
	}
	// §4.3 item 6: the signature, by the key in jwk — with the key's table
	// when Admit built one (the same thumbprint is the same key), else by
	// go-jose.
	var key any = jwk.Key
	if held := v.admitted.get(jkt, now); held != nil {
		key = held
	}
	var payload []byte
	if ok, handled := jws.VerifyES256(&v.tables, raw, tok, key, now); handled {
		if !ok {
			return nil, errors.New("proof signature does not verify with its jwk")
		}
		payload = tok.UnsafePayloadWithoutVerification()
	} else if payload, err = tok.Verify(jwk.Key); err != nil {
		return nil, errors.New("proof signature does not verify with its jwk")
	}
	c, iat, err := parseClaims(payload)
	if err != nil {
		return nil, err
	}
	// §4.3 item 8: htm matches the method exactly.
	if *c.HTM != htm {
		return nil, fmt.Errorf("proof htm %.16q, request %s", *c.HTM, htm)
	}
	// §4.3 item 9: htu matches the request's URI, without query and fragment.
	got, err := normalizeURI(*c.HTU)
	if err != nil {
		return nil, fmt.Errorf("proof htu: %w", err)
	}
	// The same string normalizes the same: most clients send the URI as
	// configured, and only the others cost a second parse.
	if !slices.Contains(htus, stripQuery(*c.HTU)) && !slices.ContainsFunc(htus, func(u string) bool { n, err := normalizeURI(u); return err == nil && n == got }) {
		return nil, fmt.Errorf("proof htu %.80q is not this endpoint", *c.HTU)
	}
	// §4.3 item 11: iat within an acceptable window (§11.1).
	if iat.After(now.Add(v.leeway)) {
		return nil, errors.New("proof iat in the future")
	}
	if now.Sub(iat) > v.window {
		return nil, errors.New("proof iat too old")
	}
	// §4.3 item 12: ath, when a token is presented, is its hash.
	if accessToken != "" {
		if c.ATH == nil || subtle.ConstantTimeCompare([]byte(*c.ATH), []byte(ATH(accessToken))) != 1 {
			return nil, errors.New("proof ath does not match the access token")
		}
	}
	p := &Proof{
		JKT: jkt, JTI: *c.JTI, IssuedAt: iat, HTM: *c.HTM, HTU: got, Algorithm: h.Algorithm, Key: jwk,
		// remembered while any replica could still accept it by its iat
		// (WithRetention: also one with a longer window)
		exp: iat.Add(v.retain + v.leeway + time.Second),
	}
	if c.Nonce != nil {
		p.Nonce = *c.Nonce
	}
	// §4.3 item 10 and §8: the server's nonce, when it requires one.
	if v.nonces != nil && (p.Nonce == "" || !v.nonces.Valid(p.Nonce, now)) {
		return nil, ErrUseNonce
	}
	return p, nil
}

// Admit lets the next proofs by p's key (a P-256 key) verify with a
// precomputed table (internal/es256, about 40 instead of 70 µs). Call it only
// once the proof's sender is known to be legitimate — at the token endpoint
// after client authentication and Spend — so that nobody without
// credentials can make the Verifier build tables (at most 64 at a time,
// renewed every 10 minutes).
func (v *Verifier) Admit(p *Proof) {
	if p == nil || p.Key == nil {
		return
	}
	k, ok := p.Key.Key.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return
	}
	now := v.now()
	if held := v.admitted.put(p.JKT, k, now); held != nil {
		v.tables.Admit(held, now)
	}
}

// privateMembers are JWK members that carry private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// checkHeader reads the protected header before go-jose does, in one pass:
// one JSON object without duplicate members, a jwk without private members,
// and no crit or b64 (RFC 7515 §4.1.11, RFC 7797: nothing a proof needs).
func checkHeader(seg string) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errors.New("proof header is not base64url")
	}
	err = checkJSON(b, func(outer, inner string) error {
		switch {
		case inner == "" && (outer == "crit" || outer == "b64"):
			return errors.New("proof header with crit or b64")
		case outer == "jwk" && slices.Contains(privateMembers, inner):
			return errors.New("proof jwk holds private key material")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("proof header: %w", err)
	}
	return nil
}
