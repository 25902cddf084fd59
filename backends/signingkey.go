package backends

import (
	"encoding/json"
	"time"
)

// Signing key states. A key is published in the JWKS from the moment it is
// "next", signs only while "active", and stays published while "retired" until
// every token it signed has expired.
const (
	KeyNext    = "next"
	KeyActive  = "active"
	KeyRetired = "retired"
)

// SigningKey is one of the broker's own token signing keys.
type SigningKey struct {
	KID   string `json:"kid"`
	Alg   string `json:"alg"`
	State string `json:"state"`
	// Private is the private key as a JWK; empty when the key lives elsewhere (e.g. Vault Transit).
	Private     json.RawMessage `json:"private,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	ActivatedAt *time.Time      `json:"activated_at,omitempty"`
	RetiredAt   *time.Time      `json:"retired_at,omitempty"`
}

// KeySet is the broker's signing key set.
type KeySet struct {
	Keys []SigningKey `json:"keys"`
	// Revision is the backend's opaque version, for check-and-set.
	Revision string `json:"-"`
}
