package spiffe

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
)

// AssertionType is the jwt-spiffe client_assertion_type
// (draft-ietf-oauth-spiffe-client-auth-02 §3.1).
const AssertionType = authn.SPIFFEAssertionType

// JWTConfig configures spiffe_jwt.
type JWTConfig struct {
	// Issuer is the broker's issuer identifier: the sole aud a JWT-SVID may
	// carry (§3.1 step 3, draft-ietf-oauth-rfc7523bis).
	Issuer string
	// MaxSize bounds the assertion (default 8 KiB).
	MaxSize int
	// MaxLifetime caps exp minus iat (or minus now when iat is absent):
	// a JWT-SVID is replayable until it expires (no jti is required), so
	// its lifetime is the replay window (default 1h; SPIRE's default
	// JWT-SVID TTL is 5 minutes).
	MaxLifetime time.Duration
}

// JWTSVID is spiffe_jwt client authentication (§3.1): a JWT-SVID as the
// client assertion, verified with the JWT authorities of the trust domain
// of its sub — never with keys found through its iss (§6.2.4, §8.1).
func JWTSVID(bundles jwtbundle.Source, cfg JWTConfig) (authn.Method, error) {
	if bundles == nil || cfg.Issuer == "" {
		return nil, errors.New("spiffe_jwt: a bundle source and the issuer are required")
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = 8 << 10
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = time.Hour
	}
	if cfg.MaxSize < 0 || cfg.MaxLifetime < 0 {
		return nil, errors.New("spiffe_jwt: negative limit")
	}
	return &jwtMethod{bundles: bundles, cfg: cfg}, nil
}

type jwtMethod struct {
	bundles jwtbundle.Source
	cfg     JWTConfig
}

var _ authn.Method = (*jwtMethod)(nil)

func (*jwtMethod) Name() string { return backends.AuthSPIFFEJWT }

// algs are the JWT-SVID algorithms (JWT-SVID §3: RS, ES and PS families);
// none and HMAC are absent, so they never verify.
var algs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512}

// Detect recognises the jwt-spiffe assertion type and reads, without
// trusting it, the SPIFFE ID in sub: the identity the client is looked up
// by. Verify checks everything.
func (m *jwtMethod) Detect(r *authn.Request) (string, bool, error) {
	typ, hasType := r.Form["client_assertion_type"]
	if !hasType || typ[0] != AssertionType {
		return "", false, nil
	}
	a, ok := r.Form["client_assertion"]
	if !ok {
		return "", true, fmt.Errorf("%w: client_assertion missing", authn.ErrInvalidClient)
	}
	id, err := m.subject(a[0])
	if err != nil {
		return "", true, fmt.Errorf("%w: %w", authn.ErrInvalidClient, err)
	}
	return id.String(), true, nil
}

// subject parses the assertion without verifying it and returns its sub.
func (m *jwtMethod) subject(a string) (spiffeid.ID, error) {
	if len(a) > m.cfg.MaxSize {
		return spiffeid.ID{}, fmt.Errorf("assertion larger than %d bytes", m.cfg.MaxSize)
	}
	return UnverifiedSubject(a)
}

// UnverifiedSubject parses a compact JWT with an allowed algorithm and
// returns its sub as a SPIFFE ID, verifying nothing.
func UnverifiedSubject(a string) (spiffeid.ID, error) {
	tok, err := jwt.ParseSigned(a, algs)
	if err != nil {
		return spiffeid.ID{}, errors.New("assertion is not a JWS with an allowed algorithm")
	}
	var cl jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&cl); err != nil {
		return spiffeid.ID{}, errors.New("assertion claims are malformed")
	}
	id, err := spiffeid.FromString(cl.Subject)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("assertion sub is not a SPIFFE ID: %w", err)
	}
	return id, nil
}

func (m *jwtMethod) Verify(_ context.Context, r *authn.Request, e *backends.ClientEntry) error {
	a := r.Form["client_assertion"]
	if len(a) == 0 || len(a[0]) > m.cfg.MaxSize {
		return errors.New("no usable assertion")
	}
	// §3.1 steps 1, 2 and 4: well-formed, sub a SPIFFE ID, exp present and
	// not passed, aud naming this broker, signed by a JWT authority of the
	// trust domain of sub (go-spiffe's jwtsvid.ParseAndValidate). Always run
	// in full, also for an unknown client, so timing does not tell them apart.
	svid, err := jwtsvid.ParseAndValidate(a[0], m.bundles, []string{m.cfg.Issuer})
	if err != nil {
		return err
	}
	// §3.1 step 3: the issuer identifier as the SOLE audience.
	if len(svid.Audience) != 1 {
		return fmt.Errorf("JWT-SVID aud %.200q must be this broker's issuer alone", svid.Audience)
	}
	start := r.Now
	if iat, ok := svid.Claims["iat"].(float64); ok {
		start = time.Unix(int64(iat), 0)
	}
	if svid.Expiry.Sub(start) > m.cfg.MaxLifetime {
		return fmt.Errorf("JWT-SVID lifetime over the %s cap", m.cfg.MaxLifetime)
	}
	// §3.1 step 5: the SPIFFE ID is the registered client's.
	if !registeredAs(e.Client.ClientID, svid.ID) {
		return fmt.Errorf("JWT-SVID %s is not client %q", svid.ID, e.Client.ClientID)
	}
	return nil
}
