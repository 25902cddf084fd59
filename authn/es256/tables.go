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
// verifying with a hot key costs ~40 µs instead of crypto/ecdsa's ~70 µs. A
// table is built on a key's second use; at most maxTables exist, and the set
// starts afresh every tableEpoch so it follows the keys in use. The zero
// value is ready; it is safe for concurrent use.
type Tables struct {
	mu     sync.Mutex
	epoch  time.Time
	seen   map[*ecdsa.PublicKey]bool
	tables map[*ecdsa.PublicKey]*PublicKey
}

const (
	maxTables  = 64
	tableEpoch = 10 * time.Minute
)

func (t *Tables) get(k *ecdsa.PublicKey, now time.Time) *PublicKey {
	t.mu.Lock()
	if t.tables == nil || now.Sub(t.epoch) > tableEpoch {
		t.epoch, t.seen, t.tables = now, map[*ecdsa.PublicKey]bool{}, map[*ecdsa.PublicKey]*PublicKey{}
	}
	if tab, ok := t.tables[k]; ok {
		t.mu.Unlock()
		return tab
	}
	admit := t.seen[k] && len(t.tables) < maxTables
	if !admit && len(t.seen) < 16*maxTables {
		t.seen[k] = true
	}
	t.mu.Unlock()
	if !admit {
		return nil
	}
	tab, err := NewPublicKey(k)
	if err != nil {
		return nil
	}
	t.mu.Lock()
	if len(t.tables) < maxTables {
		t.tables[k] = tab
	}
	t.mu.Unlock()
	return tab
}

// VerifyCompact checks sig, parsed from the compact serialization compact,
// with key's table when it has one. handled is false when this path does not
// apply (another alg or curve, a crit or b64 header, no table yet): the
// caller then verifies with go-jose. When handled and ok, the payload
// (sig.UnsafePayloadWithoutVerification) is authentic.
// RFC 7515 §5.2: the signature covers the first two segments of the compact
// serialization, exactly as sent.
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
	tab := t.get(pub, now)
	if tab == nil {
		return false, false
	}
	dot := strings.LastIndexByte(compact, '.')
	if dot < 0 {
		return false, true
	}
	digest := sha256.Sum256([]byte(compact[:dot]))
	return tab.Verify(digest[:], s.Signature), true
}
