package es256

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"sync"
	"time"
)

// Tables keeps PublicKey tables (~50 KB each) for the P-256 keys in use —
// the keys clients sign assertions and DPoP proofs with, an issuer's
// token-signing keys — so
// verifying with a hot key costs ~40 µs instead of crypto/ecdsa's ~70 µs.
//
// A key gets a table only through Admit, which callers invoke after a
// signature made with that key verified: a request without the private key
// can never cause a table build, so probes cannot use the build's cost to
// learn which keys (and clients) exist. At most maxTables exist; the set
// starts afresh every tableEpoch so it follows the keys in use. The zero
// value is ready; it is safe for concurrent use. In FIPS 140-3 mode it holds
// no table and Verify always leaves the work to the caller.
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

// Admit builds a table for key, a *ecdsa.PublicKey on P-256 (any other key
// is ignored), unless it has one or the set is full. Call it only after a
// signature by key verified. In FIPS 140-3 mode it builds nothing.
func (t *Tables) Admit(key crypto.PublicKey, now time.Time) {
	k, ok := key.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() || fipsMode(opAdmit) {
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

// Verify checks sig, the R ‖ S form, over digest with pub's table when it
// has one. handled is false when there is no table (or in FIPS 140-3 mode):
// the caller then verifies another way, and calls Admit when that succeeds.
func (t *Tables) Verify(pub *ecdsa.PublicKey, digest, sig []byte, now time.Time) (ok, handled bool) {
	if pub == nil || fipsMode(opLookup) {
		return false, false
	}
	tab := t.lookup(pub, now)
	if tab == nil {
		return false, false
	}
	return tab.Verify(digest, sig), true
}
