package dpop

import (
	"errors"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Why a proof was refused. Every refusal wraps one of them; the rest of the
// message is the cause, for the log only.
var (
	// ErrInvalidProof: the proof is missing, malformed or fails a check of
	// RFC 9449 §4.3. The token endpoint answers 400 invalid_dpop_proof
	// (§5); a resource server 401 with WWW-Authenticate: DPoP
	// error="invalid_dpop_proof" (§7.1).
	ErrInvalidProof = errors.New("invalid DPoP proof")
	// ErrUseNonce: nonces are required (§8) and the proof carries none, or
	// one this server did not issue or that expired. The caller answers
	// use_dpop_nonce with a fresh DPoP-Nonce header.
	ErrUseNonce = errors.New("DPoP proof needs a server nonce")
	// ErrReplay: the proof's jti was used before (§11.1). It wraps
	// ErrInvalidProof as well.
	ErrReplay = errors.New("DPoP proof jti replayed")
)

// Type is the typ header of a proof (RFC 9449 §4.2).
const Type = "dpop+jwt"

// TokenType is the token_type of a DPoP-bound token (RFC 9449 §5) and the
// authorization scheme that presents one (§7.1).
const TokenType = "DPoP"

// HeaderName is the request header that carries a proof, and NonceHeader
// the response header that carries a server nonce (RFC 9449 §4.1, §8).
const (
	HeaderName  = "DPoP"
	NonceHeader = "DPoP-Nonce"
)

// Limits on what a caller sends.
const (
	// DefaultMaxSize bounds a proof: an RSA-4096 key and signature fit in
	// about 2.2 KiB.
	DefaultMaxSize = 4 << 10
	// MaxJTILength bounds a proof's jti (RFC 9449 §4.2 asks for 96 bits of
	// randomness; base64url of 256 bits is 43 characters).
	MaxJTILength = 256
	// MaxNonceLength bounds a proof's nonce claim.
	MaxNonceLength = 512
	// maxURILength bounds htu.
	maxURILength = 2048
	// maxDepth bounds JSON nesting in the header and the claims.
	maxDepth = 8
)

// Algorithms is the default allow-list of proof algorithms: the asymmetric
// ones tokenbroker accepts for client assertions. "none" and HMAC are not
// in it, so neither can verify (RFC 9449 §4.3 item 5).
var Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.EdDSA, jose.PS256, jose.RS256}

// Proof is a verified DPoP proof.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's key, base64url:
	// the cnf.jkt a token bound to this key carries (RFC 9449 §6.1).
	JKT string
	// JTI is the proof's unique identifier.
	JTI string
	// IssuedAt is the proof's iat.
	IssuedAt time.Time
	// HTM and HTU are the method and URI the proof was made for.
	HTM, HTU string
	// Nonce is the server nonce the proof carried, if any.
	Nonce string
	// Algorithm signed the proof.
	Algorithm string
	// Key is the proof's public key.
	Key *jose.JSONWebKey
	// exp is how long the jti must be remembered.
	exp time.Time
}

// Expiry is when the proof stops being acceptable by its iat: its jti must
// be remembered until then.
func (p *Proof) Expiry() time.Time { return p.exp }
