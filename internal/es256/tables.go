package es256

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Tables keeps PublicKey tables (~50 KB each) for the P-256 keys in use —
// the keys clients sign assertions with, an issuer's token-signing keys — so
// verifying with a hot key costs ~40 µs instead of crypto/ecdsa's ~70 µs.
//
// A key gets a table only through Admit, which callers invoke after a
// signature made with that key verified: a request without the private key
// can never cause a table build, so probes cannot use the build's cost to
// learn which keys (and clients) exist. At most maxTables exist; the set
// starts afresh every tableEpoch so it follows the keys in use. The zero
// value is ready; it is safe for concurrent use.
type Tables struct {
	mu     sync.Mutex
	epoch  time.Time
	tables map[*ecdsa.PublicKey]*PublicKey
}

const (
	maxTables  = 64
	tableEpoch = 10 * time.Minute
)

// lookup returns k's table, or nil.
func (t *Tables) lookup(k *ecdsa.PublicKey, now time.Time) *PublicKey {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tables == nil || now.Sub(t.epoch) > tableEpoch {
		t.epoch, t.tables = now, map[*ecdsa.PublicKey]*PublicKey{}
	}
	return t.tables[k]
}

// Admit builds a table for key (any other key type is ignored) unless it has
// one or the set is full. Call it only after a signature by key verified.
func (t *Tables) Admit(key any, now time.Time) {
	k, ok := key.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return
	}
	if t.lookup(k, now) != nil { // also starts a new epoch when due
		return
	}
	t.mu.Lock()
	full := len(t.tables) >= maxTables
	t.mu.Unlock()
	if full {
		return
	}
	tab, err := NewPublicKey(k)
	if err != nil {
		return
	}
	t.mu.Lock()
	if len(t.tables) < maxTables && t.tables[k] == nil {
		t.tables[k] = tab
	}
	t.mu.Unlock()
}

// VerifyCompact checks sig, parsed from the compact serialization compact,
// with key's table when it has one. handled is false when this path does not
// apply (another alg or curve, a crit or b64 header, no table): the caller
// then verifies with go-jose, and calls Admit when that succeeds. When
// handled and ok, the payload (sig.UnsafePayloadWithoutVerification) is authentic.
func (t *Tables) VerifyCompact(compact string, sig *jose.JSONWebSignature, key any, now time.Time) (ok, handled bool) {
	pub, isEC := key.(*ecdsa.PublicKey)
	s := sig.Signatures[0]
	if !isEC || pub.Curve != elliptic.P256() || s.Header.Algorithm != string(jose.ES256) {
		return false, false
	}
	if _, crit := s.Protected.ExtraHeaders["crit"]; crit {
		return false, false
	}
	if _, b64 := s.Protected.ExtraHeaders["b64"]; b64 {
		return false, false
	}
	tab := t.lookup(pub, now)
	if tab == nil {
		return false, false
	}
	digest := CompactDigest(compact)
	return tab.Verify(digest[:], s.Signature), true
}

// CompactDigest is the SHA-256 of a compact JWS's signing input: its first
// two segments exactly as sent (RFC 7515 §5.2), everything before the last
// dot. go-jose has parsed compact into three segments before it gets here.
func CompactDigest(compact string) [32]byte {
	if dot := strings.LastIndexByte(compact, '.'); dot >= 0 {
		compact = compact[:dot]
	}
	return sha256.Sum256([]byte(compact))
}
