package federation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/template"
	"github.com/tokenbroker/tokenbroker/backends"
)

// Config configures the federated_jwt method.
type Config struct {
	// Issuers are the federated issuers (at least one).
	Issuers []IssuerConfig
	// Templates, when set, lets tokens that name no registered client
	// resolve to a federated client template; Index is then required.
	Templates *template.Set
	Index     *template.Index
	// Skew tolerates clock differences (default 30s).
	Skew time.Duration
	// MaxSize bounds the assertion (default 8 KiB). Give it private_key_jwt's
	// bound, so both parse exactly the same assertions (see Detect).
	MaxSize int
}

// Method is federated client authentication: an RFC 7523 §2.2 jwt-bearer
// client assertion whose iss is a configured federated issuer (not the
// client), verified against that issuer's keys and rules, for a registered
// client whose federated_subject is the token's {iss, sub}, or — without a
// client_id — for the client template its verified claims match.
type Method struct {
	cfg     Config
	issuers map[string]*issuer
}

var (
	_ authn.Method       = (*Method)(nil)
	_ authn.IssuerMethod = (*Method)(nil)
	_ authn.Resolver     = (*Method)(nil)
)

// New validates cfg and returns the method. Errors name the issuer (by
// index) and its field.
func New(cfg Config) (*Method, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("federation: at least one issuer")
	}
	if cfg.Templates != nil && cfg.Index == nil {
		return nil, errors.New("federation: templates need the registered-identity index")
	}
	if cfg.Skew == 0 {
		cfg.Skew = 30 * time.Second
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = 8 << 10
	}
	m := &Method{cfg: cfg, issuers: map[string]*issuer{}}
	var errs []error
	for i, ic := range cfg.Issuers {
		is, err := newIssuer(ic)
		if err != nil {
			errs = append(errs, fmt.Errorf("issuers[%d].%w", i, err))
			continue
		}
		if m.issuers[ic.Issuer] != nil {
			errs = append(errs, fmt.Errorf("issuers[%d].issuer: %q configured twice", i, ic.Issuer))
		}
		m.issuers[ic.Issuer] = is
	}
	if cfg.Templates != nil {
		for _, iss := range cfg.Templates.Issuers() {
			if m.issuers[iss] == nil {
				errs = append(errs, fmt.Errorf("templates: issuer %q is not a configured federated issuer", iss))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// Name is backends.AuthFederatedJWT.
func (*Method) Name() string { return backends.AuthFederatedJWT }

// VerifiesIssuer reports whether iss is a configured federated issuer: the
// assertion is then this method's, never private_key_jwt's.
func (m *Method) VerifiesIssuer(iss string) bool {
	_, ok := m.issuers[iss]
	return ok
}

// Detect parses the assertion without trusting it, with exactly the rules
// private_key_jwt parses with (size, algorithm list, go-jose's
// case-sensitive JSON), only to read iss: an assertion that does not parse
// is private_key_jwt's to refuse, and one whose iss is not a federated
// issuer is private_key_jwt's too. The claimed client is the client_id
// parameter, or without one the workload identity iss#sub a template may
// resolve (template.FederatedIdentity).
func (m *Method) Detect(r *authn.Request) (string, bool, error) {
	cl, ok := m.peek(r)
	if !ok {
		return "", false, nil
	}
	clientID := single(r, "client_id")
	if clientID == "" {
		clientID = template.FederatedIdentity(cl.Issuer, cl.Subject)
	}
	if typ := r.Form["client_assertion_type"]; len(typ) == 0 || typ[0] != authn.AssertionType {
		return clientID, true, fmt.Errorf("%w: client_assertion_type must be %s", authn.ErrInvalidClient, authn.AssertionType)
	}
	if cl.Subject == "" {
		return clientID, true, fmt.Errorf("%w: federated token without sub", authn.ErrInvalidClient)
	}
	return clientID, true, nil
}

// peek returns the unverified iss and sub of a federated assertion.
func (m *Method) peek(r *authn.Request) (*jwt.Claims, bool) {
	a := r.Form["client_assertion"]
	if len(a) == 0 || len(a[0]) > m.cfg.MaxSize {
		return nil, false
	}
	tok, err := authn.ParseAssertion(a[0])
	if err != nil {
		return nil, false
	}
	var cl jwt.Claims
	if err := josejson.Unmarshal(tok.UnsafePayloadWithoutVerification(), &cl); err != nil || !m.VerifiesIssuer(cl.Issuer) {
		return nil, false
	}
	return &cl, true
}

func single(r *authn.Request, k string) string {
	if v := r.Form[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Verify authenticates a registered federated client: the token verifies
// (verify) and its {iss, sub} is exactly the client's federated_subject.
func (m *Method) Verify(ctx context.Context, r *authn.Request, e *backends.ClientEntry) error {
	iss, sub, _, err := m.verify(ctx, r)
	if err != nil {
		return err
	}
	c := e.Client
	switch fs := c.FederatedSubject; {
	case c.ClientID == "":
		return errors.New("unknown client") // the Authenticator's stand-in, after the same work
	case fs == nil || fs.Issuer != iss || fs.Subject != sub:
		return fmt.Errorf("token subject %.200q is not client %q's federated subject", template.FederatedIdentity(iss, sub), c.ClientID)
	}
	return nil
}

// Resolve authenticates a workload no client is registered for: without a
// client_id, a verified token whose claims match a federated template gets
// that template's client, with the identity iss#sub as its client_id —
// unless a registered client holds that identity (template.ErrAmbiguous).
func (m *Method) Resolve(ctx context.Context, r *authn.Request) (*backends.ClientEntry, error) {
	iss, sub, claims, err := m.verify(ctx, r)
	if err != nil {
		return nil, err
	}
	if id := single(r, "client_id"); id != "" {
		return nil, fmt.Errorf("client_id %.64q names no registered client", id)
	}
	if m.cfg.Templates == nil {
		return nil, errors.New("no registered client and no client templates")
	}
	id := template.FederatedIdentity(iss, sub)
	t, ok := m.cfg.Templates.MatchClaims(iss, claims)
	if !ok {
		return nil, fmt.Errorf("no client template matches %.200q", id)
	}
	if c, held := m.cfg.Index.Registered(id); held {
		return nil, fmt.Errorf("template %q: %w %q: name it with client_id", t.Name, template.ErrAmbiguous, c)
	}
	return t.Entry(id), nil
}

// verify checks the assertion against its issuer: one signature, by an
// allowed algorithm, with a key the issuer publishes for its kid; then the
// strictly parsed claims (ParseClaims): iss exactly the issuer, a sub, the
// required audience among aud, exp not passed, nbf and iat not in the
// future, iat within MaxAge, every required claim. RFC 7523 §3 item 7's jti
// is not required: platform tokens are reused until they expire, so MaxAge
// and the audience bound replay instead (docs/federation.md).
func (m *Method) verify(ctx context.Context, r *authn.Request) (iss, sub string, claims *Claims, err error) {
	cl, ok := m.peek(r)
	if !ok {
		return "", "", nil, errors.New("no federated assertion")
	}
	is := m.issuers[cl.Issuer]
	raw := r.Form["client_assertion"][0]
	tok, err := jose.ParseSignedCompact(raw, is.cfg.Algs)
	if err != nil || len(tok.Signatures) != 1 {
		return "", "", nil, fmt.Errorf("issuer %q: not a JWS with one signature by an allowed algorithm %v", is.cfg.Issuer, is.cfg.Algs)
	}
	h := tok.Signatures[0].Header
	if err := checkType(h); err != nil {
		return "", "", nil, err
	}
	keys, err := is.keys(ctx, h.KeyID)
	if err != nil {
		return "", "", nil, fmt.Errorf("issuer %q keys: %w", is.cfg.Issuer, err)
	}
	var payload []byte
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		if p, err := tok.Verify(k.Key); err == nil && bytes.Equal(p, tok.UnsafePayloadWithoutVerification()) {
			payload = p
			break
		}
	}
	if payload == nil {
		return "", "", nil, fmt.Errorf("signature does not verify with any key of issuer %q", is.cfg.Issuer)
	}
	claims, err = ParseClaims(payload)
	if err != nil {
		return "", "", nil, err
	}
	if err := is.check(claims, r.Now, m.cfg.Skew); err != nil {
		return "", "", nil, fmt.Errorf("issuer %q: %w", is.cfg.Issuer, err)
	}
	iss, _ = claims.String("iss")
	sub, _ = claims.String("sub")
	return iss, sub, claims, nil
}

// checkType refuses a token whose JOSE header types it as something other
// than a plain JWT (an access token, at+jwt; a logout token): RFC 8725
// §3.11. Platform tokens are untyped or "JWT".
func checkType(h jose.Header) error {
	v, ok := h.ExtraHeaders[jose.HeaderType]
	if !ok {
		return nil
	}
	typ, _ := v.(string)
	switch strings.ToLower(typ) {
	case "jwt", "application/jwt":
		return nil
	}
	return fmt.Errorf("token typ %.40q is not a JWT client credential", typ)
}

// check applies the issuer's claim rules.
func (is *issuer) check(c *Claims, now time.Time, skew time.Duration) error {
	iss, _ := c.String("iss")
	sub, _ := c.String("sub")
	aud, audOK := c.Audience()
	exp, expOK := c.NumericDate("exp")
	iat, iatOK := c.NumericDate("iat")
	switch {
	case iss != is.cfg.Issuer:
		return fmt.Errorf("iss %.128q is not the issuer", iss)
	case sub == "" || len(sub) > backends.MaxFederatedSubject:
		return errors.New("sub missing, not a string, or longer than 256 bytes")
	case !audOK || !contains(aud, is.cfg.Audience):
		return fmt.Errorf("aud does not name %q", is.cfg.Audience)
	case !expOK:
		return errors.New("exp missing")
	case now.After(time.Unix(exp, 0).Add(skew)):
		return errors.New("token expired")
	case !iatOK:
		return errors.New("iat missing: the token's age cannot be bounded")
	case time.Unix(iat, 0).After(now.Add(skew)):
		return errors.New("iat in the future")
	case now.Sub(time.Unix(iat, 0)) > is.cfg.MaxAge:
		return fmt.Errorf("token older than max_age %s", is.cfg.MaxAge)
	}
	if _, present := c.m["nbf"]; present {
		nbf, ok := c.NumericDate("nbf")
		if !ok || time.Unix(nbf, 0).After(now.Add(skew)) {
			return errors.New("nbf malformed or in the future")
		}
	}
	for path, want := range is.cfg.RequiredClaims {
		if got, ok := c.Lookup(path); !ok || got != want {
			return fmt.Errorf("required claim %s missing or not %q", path, want)
		}
	}
	return nil
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}
