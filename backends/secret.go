package backends

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"time"
)

// Secret is one client secret. A secret the broker generated is stored only as
// Hash ("sha256:" + base64url(SHA-256(secret))): the secrets are ≥ 256 random
// bits, so a fast unsalted hash is preimage-safe and verifies in well under a
// microsecond, unlike bcrypt/PBKDF2 which would cap the token endpoint at a few
// hundred requests per second. Plain is for secrets a security team keeps in
// Vault or Secrets Manager for the client to read as well.
type Secret struct {
	Hash      string    `json:"hash,omitempty"`
	Plain     string    `json:"plain,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt, when set, ends the secret (the old secret during a rotation).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// SecretSet is every secret of one client plus its RFC 7592 registration access token hash.
type SecretSet struct {
	Secrets []Secret `json:"secrets"`
	// RegistrationTokenHash is the hash of the RFC 7592 registration_access_token.
	RegistrationTokenHash string `json:"registration_token_hash,omitempty"`
	// Revision is the backend's opaque version, for check-and-set.
	Revision string `json:"-"`
}

const hashPrefix = "sha256:"

// HashSecret returns the storage form of a high-entropy secret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hashPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Digest returns the 32-byte digest a secret verifies against, whatever its
// stored form; ok is false for a malformed entry.
func (s Secret) Digest() (d [32]byte, ok bool) {
	if s.Plain != "" {
		return sha256.Sum256([]byte(s.Plain)), true
	}
	enc, found := strings.CutPrefix(s.Hash, hashPrefix)
	if !found {
		return d, false
	}
	n, err := base64.RawURLEncoding.Decode(d[:], []byte(enc))
	return d, err == nil && n == 32
}

// Active reports whether the secret is usable at now.
func (s Secret) Active(now time.Time) bool {
	return s.ExpiresAt == nil || now.Before(*s.ExpiresAt)
}

// VerifyToken compares a presented token with a stored hash in constant time.
func VerifyToken(presented, storedHash string) bool {
	want := Secret{Hash: storedHash}
	d, ok := want.Digest()
	got := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(got[:], d[:]) == 1 && ok
}
