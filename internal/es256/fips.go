package es256

import (
	"crypto/ecdsa"
	"crypto/fips140"
	"crypto/rand"
	"errors"
	"math/big"
)

// In FIPS 140-3 mode (GODEBUG=fips140=on, or a binary built with
// GOFIPS140) only the validated module may sign or verify. The package then
// switches its own arithmetic off: Key signs with crypto/ecdsa, PublicKey
// verifies with crypto/ecdsa and builds no table, Tables holds none and
// hands every verification back to the caller. Callers need no check of
// their own.

// Operations that fall back to crypto/ecdsa in FIPS 140-3 mode.
const (
	opNew    = "new"    // New: no private scalar copied out of the module
	opSign   = "sign"   // Key.Sign
	opTable  = "table"  // NewPublicKey: no table built
	opVerify = "verify" // PublicKey.Verify
	opAdmit  = "admit"  // Tables.Admit: no table built
	opLookup = "lookup" // Tables.Verify: not handled
)

// fallbackObserved, when set (tests only), sees every operation handed to
// crypto/ecdsa because FIPS 140-3 mode is on.
var fallbackObserved func(op string)

// fipsMode reports whether FIPS 140-3 mode is on, in which case op must use
// crypto/ecdsa. fips140.Enabled is fixed at start-up and costs a load.
func fipsMode(op string) bool {
	if !fips140.Enabled() {
		return false
	}
	if fallbackObserved != nil {
		fallbackObserved(op)
	}
	return true
}

// signStd signs digest with crypto/ecdsa and returns R ‖ S. SignASN1 plus a
// small DER walk avoids ecdsa.Sign's big.Int round trip.
func signStd(priv *ecdsa.PrivateKey, digest []byte) ([]byte, error) {
	der, err := ecdsa.SignASN1(rand.Reader, priv, digest)
	if err != nil {
		return nil, err
	}
	return derToRS(der, 32)
}

// verifyStd verifies the R ‖ S signature sig over digest with crypto/ecdsa.
func verifyStd(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	if len(digest) != 32 || len(sig) != 64 {
		return false
	}
	return ecdsa.Verify(pub, digest, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

// derToRS converts an ASN.1 ECDSA signature, SEQUENCE { INTEGER r, INTEGER s },
// to the fixed-width R ‖ S form of RFC 7518 §3.4.
func derToRS(der []byte, size int) ([]byte, error) {
	bad := errors.New("es256: malformed ECDSA signature")
	if len(der) < 8 || der[0] != 0x30 || int(der[1]) != len(der)-2 || der[1] >= 0x80 {
		return nil, bad
	}
	out := make([]byte, 2*size)
	rest := der[2:]
	for i := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 || int(rest[1]) > len(rest)-2 {
			return nil, bad
		}
		n := int(rest[1])
		v := rest[2 : 2+n]
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > size {
			return nil, bad
		}
		copy(out[(i+1)*size-len(v):(i+1)*size], v)
		rest = rest[2+n:]
	}
	if len(rest) != 0 {
		return nil, bad
	}
	return out, nil
}
