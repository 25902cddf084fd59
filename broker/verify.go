package broker

import (
	"context"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/backends/state"
)

// ownTokenLeeway is how far ahead of this clock a token's nbf may lie: the
// replica that minted it may run a little ahead (accesstoken.Verifier's time
// rule; exp is exact). It matches the minute retired keys stay published and
// revoked ids are kept beyond exp.
const ownTokenLeeway = time.Minute

// newOwnTokenVerifier verifies this broker's tokens: typ at+jwt, a published
// key's signature, our issuer, any audience (introspection answers whoever
// asks about any of our tokens).
func newOwnTokenVerifier(issuer string, keys *signing.Keyring) (*accesstoken.Verifier, error) {
	return accesstoken.NewVerifier(publishedKeys{keys}, accesstoken.Expected{Issuer: issuer, AnyAudience: true, Leeway: ownTokenLeeway})
}

// verifyOwnToken checks that tok is a live access token this broker issued
// and returns its claims.
func (s *Server) verifyOwnToken(ctx context.Context, tok string, now time.Time) (*accesstoken.Claims, error) {
	return s.tokens.Verify(ctx, tok, now)
}

// revokedShare is the shared-state share holding clientID's revoked token
// ids (keyed by jti): one client revoking its tokens en masse fills only its
// own share.
func (s *Server) revokedShare(clientID string) state.Share {
	return state.Share{Owner: "revoked:" + clientID, Max: s.cfg.MaxRevocationsPerClient}
}
