package broker

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/backends/state"
)

// maxTokenSize bounds a presented access token.
const maxTokenSize = 8 << 10

var tokenAlgs = signing.JOSEAlgs()

// verifyOwnToken checks that tok is an access token this broker issued and
// that it has not expired: typ at+jwt (RFC 9068 §4), a published key's
// signature, our issuer. It returns the claims.
func (s *Server) verifyOwnToken(tok string, now time.Time) (*AccessTokenClaims, error) {
	if len(tok) > maxTokenSize {
		return nil, errors.New("token too large")
	}
	parsed, err := jwt.ParseSigned(tok, tokenAlgs)
	if err != nil {
		return nil, errors.New("not a JWS")
	}
	h := parsed.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" && typ != "application/at+jwt" {
		return nil, errors.New("not an RFC 9068 access token")
	}
	key := s.keys.PublicKey(h.KeyID)
	if key == nil {
		return nil, fmt.Errorf("unknown kid %q", h.KeyID)
	}
	var claims AccessTokenClaims
	if err := parsed.Claims(key, &claims); err != nil {
		return nil, errors.New("signature does not verify")
	}
	switch {
	case claims.Issuer != s.cfg.Issuer:
		return nil, errors.New("foreign issuer")
	case now.Unix() >= claims.Expiry:
		return nil, errors.New("expired")
	case claims.NotBefore > now.Add(time.Minute).Unix():
		return nil, errors.New("not yet valid")
	case claims.ID == "":
		return nil, errors.New("no jti")
	}
	return &claims, nil
}

// revokedShare is the shared-state share holding clientID's revoked token
// ids (keyed by jti): one client revoking its tokens en masse fills only its
// own share.
func (s *Server) revokedShare(clientID string) state.Share {
	return state.Share{Owner: "revoked:" + clientID, Max: s.cfg.MaxRevocationsPerClient}
}

// audienceContains reports whether aud holds any of want.
func audienceContains(aud Audience, want ...string) bool {
	return slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(want, a) })
}
