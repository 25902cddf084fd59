package authn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/authn/es256"
)

// es256Tables keeps es256.PublicKey tables (~50 KB each) for the P-256 keys
// clients sign assertions with, so verifying a hot client's assertion costs
// ~40 µs instead of crypto/ecdsa's ~70 µs. A table is built on a key's
// second use; at most maxTables exist, and the set starts afresh every
// tableEpoch so it follows the keys in use. Keys without a table are
// verified by go-jose as before.
type es256Tables struct {
	mu     sync.Mutex
	epoch  time.Time
	seen   map[*ecdsa.PublicKey]bool
	tables map[*ecdsa.PublicKey]*es256.PublicKey
}

const (
	maxTables  = 64
	tableEpoch = 10 * time.Minute
)

func (t *es256Tables) get(k *ecdsa.PublicKey, now time.Time) *es256.PublicKey {
	t.mu.Lock()
	if t.tables == nil || now.Sub(t.epoch) > tableEpoch {
		t.epoch, t.seen, t.tables = now, map[*ecdsa.PublicKey]bool{}, map[*ecdsa.PublicKey]*es256.PublicKey{}
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
	tab, err := es256.NewPublicKey(k)
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

// verifyES256 checks a compact ES256 JWS with key's table when it has one.
// handled is false when this path does not apply (another alg or curve, a
// crit or b64 header, no table yet): the caller then verifies with go-jose.
// RFC 7515 §5.2: the signature covers the first two segments of the compact
// serialization, exactly as sent.
func (t *es256Tables) verifyES256(compact string, sig *jose.JSONWebSignature, key any, now time.Time) (ok, handled bool) {
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
