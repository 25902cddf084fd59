package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// NonceSource issues and checks server nonces (RFC 9449 §8, §9).
type NonceSource interface {
	// Nonce returns a nonce to send in a DPoP-Nonce header at now.
	Nonce(now time.Time) string
	// Valid reports whether nonce was issued by this source (or a replica
	// sharing its key) and is still acceptable at now.
	Valid(nonce string, now time.Time) bool
}

// MinNonceKeySize is the smallest key NewNonces accepts.
const MinNonceKeySize = 32

// Nonces is a stateless NonceSource: a nonce is its issue time and an
// HMAC-SHA256 tag over it under a key every replica shares, so any
// replica accepts a nonce any other issued — no shared state, no round
// trip. A nonce is accepted for its lifetime (and not from the future
// beyond a small skew); within that lifetime many proofs may carry it, which
// RFC 9449 §8 allows: the nonce bounds how long ago a proof could have been
// made, and the proof's jti is what is single-use.
type Nonces struct {
	key      []byte
	lifetime time.Duration
}

var _ NonceSource = (*Nonces)(nil)

// nonceTagLen is the tag's length: 128 bits.
const nonceTagLen = 16

// nonceContext separates these tags from any other use of the key.
const nonceContext = "tokenbroker dpop nonce v1\x00"

// NewNonces returns a NonceSource under key (at least MinNonceKeySize
// bytes, shared by every replica) whose nonces live for lifetime (≥ 10 s).
func NewNonces(key []byte, lifetime time.Duration) (*Nonces, error) {
	if len(key) < MinNonceKeySize {
		return nil, errors.New("dpop: nonce key shorter than 32 bytes")
	}
	if lifetime < 10*time.Second {
		return nil, errors.New("dpop: nonce lifetime under 10s")
	}
	return &Nonces{key: append([]byte(nil), key...), lifetime: lifetime}, nil
}

// Nonce implements NonceSource: base64url(issue second ‖ tag).
func (n *Nonces) Nonce(now time.Time) string {
	var b [8 + nonceTagLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.Unix()))
	copy(b[8:], n.tag(b[:8]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Valid implements NonceSource.
func (n *Nonces) Valid(nonce string, now time.Time) bool {
	if len(nonce) != base64.RawURLEncoding.EncodedLen(8+nonceTagLen) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 8+nonceTagLen {
		return false
	}
	if !hmac.Equal(b[8:], n.tag(b[:8])) {
		return false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	// Replicas' clocks differ a little: a nonce a replica ahead of this one
	// issued may look up to nonceSkew in the future.
	return !issued.After(now.Add(nonceSkew)) && now.Sub(issued) <= n.lifetime
}

const nonceSkew = 5 * time.Second

func (n *Nonces) tag(issued []byte) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte(nonceContext))
	m.Write(issued)
	return m.Sum(nil)[:nonceTagLen]
}
