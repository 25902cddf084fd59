package awskms

import (
	"errors"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// errBadSignature: KMS answered something that is not a P-256 ECDSA-Sig-Value.
var errBadSignature = errors.New("awskms: malformed ECDSA signature from KMS")

// joseES256 converts the DER ECDSA-Sig-Value KMS answers (SEQUENCE {r
// INTEGER, s INTEGER}, RFC 3279 §2.2.3) to the JWS form of RFC 7518 §3.4:
// R and S as 32-byte big-endian octet strings, each left-padded with zeros,
// concatenated. The DER is parsed strictly (minimal INTEGER encoding, no
// trailing bytes, 0 < r, s < 2^256), so a malformed answer is an error and
// never a token with a bad signature.
func joseES256(der []byte) ([]byte, error) {
	var r, s []byte
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, errBadSignature
	}
	out := make([]byte, 64)
	if !put(out[:32], r) || !put(out[32:], s) {
		return nil, errBadSignature
	}
	return out, nil
}

// put writes the positive big-endian integer b right-aligned into dst
// (RFC 7518 §3.4: left-padded to the coordinate size).
func put(dst, b []byte) bool {
	for len(b) > 0 && b[0] == 0 { // the sign octet DER adds before a high bit
		b = b[1:]
	}
	if len(b) == 0 || len(b) > len(dst) {
		return false
	}
	copy(dst[len(dst)-len(b):], b)
	return true
}
