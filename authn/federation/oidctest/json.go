package oidctest

import (
	"encoding/json"

	"github.com/go-jose/go-jose/v4"
)

func marshal(v any) ([]byte, error) { return json.Marshal(v) }

// SignRaw signs an exact payload — duplicate or case-variant members, which
// a map cannot hold — with the active key (or t.Signer); only t's Header
// and Signer apply.
func (is *Issuer) SignRaw(payload []byte, t Token) (string, error) {
	return is.signBytes(payload, t)
}

// Active returns the active signing key (to sign as the issuer would, in a
// test that forges something else).
func (is *Issuer) Active() jose.JSONWebKey {
	is.mu.Lock()
	defer is.mu.Unlock()
	return *is.keys[len(is.keys)-1]
}
