package jws

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/internal/es256"
)

// VerifyES256 checks sig, parsed by go-jose from the compact serialization
// compact, with key's table in t when it has one. handled is false when this
// path does not apply (another alg or curve, a crit or b64 header, no table,
// FIPS 140-3 mode): the caller then verifies with go-jose, and calls t.Admit
// when that succeeds. When handled and ok, the payload
// (sig.UnsafePayloadWithoutVerification) is authentic.
func VerifyES256(t *es256.Tables, compact string, sig *jose.JSONWebSignature, key any, now time.Time) (ok, handled bool) {
	pub, isEC := key.(*ecdsa.PublicKey)
	if !isEC || pub.Curve != elliptic.P256() || len(sig.Signatures) != 1 {
		return false, false
	}
	s := sig.Signatures[0]
	if s.Header.Algorithm != string(jose.ES256) {
		return false, false
	}
	// RFC 7515 §4.1.11 and RFC 7797: headers that change what is signed or
	// how it is processed are go-jose's to handle.
	if _, crit := s.Protected.ExtraHeaders["crit"]; crit {
		return false, false
	}
	if _, b64 := s.Protected.ExtraHeaders["b64"]; b64 {
		return false, false
	}
	digest := Digest(compact)
	// RFC 7518 §3.4: the signature is R ‖ S, exactly what the primitive takes.
	return t.Verify(pub, digest[:], s.Signature, now)
}

// Digest is the SHA-256 of a compact JWS's signing input: its first two
// segments exactly as sent (RFC 7515 §5.2), everything before the last dot.
// go-jose has parsed compact into three segments before it gets here.
func Digest(compact string) [32]byte {
	if dot := strings.LastIndexByte(compact, '.'); dot >= 0 {
		compact = compact[:dot]
	}
	return sha256.Sum256([]byte(compact))
}
