package es256

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"math/big"

	"filippo.io/bigmod"
	"filippo.io/nistec"
)

// The order n of the P-256 base point (FIPS 186-5 / SP 800-186 §3.2.1.3).
var orderBytes = []byte{
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
}

var (
	order    = mustModulus(orderBytes)
	orderBig = new(big.Int).SetBytes(orderBytes)
)

func mustModulus(b []byte) *bigmod.Modulus {
	m, err := bigmod.NewModulus(b)
	if err != nil {
		panic(err)
	}
	return m
}

const nonceLabel = "tokenbroker ES256 hedged nonce v1\x00"

// Key is a P-256 private key ready to sign. It is safe for concurrent use.
type Key struct {
	priv   *ecdsa.PrivateKey // signs in FIPS 140-3 mode, through crypto/ecdsa
	d      *bigmod.Nat       // the private scalar, 1 ≤ d < n; nil in FIPS 140-3 mode
	dBytes [32]byte
}

// New prepares priv, which must be a P-256 key, for signing.
func New(priv *ecdsa.PrivateKey) (*Key, error) {
	if priv == nil || priv.Curve != elliptic.P256() {
		return nil, errors.New("es256: not a P-256 private key")
	}
	if fipsMode(opNew) {
		return &Key{priv: priv}, nil // the private scalar never leaves the validated module
	}
	b, err := priv.Bytes()
	if err != nil {
		return nil, err
	}
	d, err := bigmod.NewNat().SetBytes(b, order)
	if err != nil || d.IsZero() == 1 {
		return nil, errors.New("es256: private scalar out of range")
	}
	k := &Key{priv: priv, d: d}
	copy(k.dBytes[:], b)
	return k, nil
}

// Sign returns the RFC 7518 §3.4 signature R ‖ S (64 bytes, each big-endian,
// zero-padded) over digest, a SHA-256 hash. In FIPS 140-3 mode crypto/ecdsa
// makes the signature.
func (k *Key) Sign(digest []byte) ([]byte, error) {
	if len(digest) != 32 {
		return nil, errors.New("es256: digest must be 32 bytes")
	}
	if fipsMode(opSign) || k.d == nil {
		return signStd(k.priv, digest)
	}
	var entropy [32]byte
	if _, err := rand.Read(entropy[:]); err != nil {
		return nil, err
	}
	for counter := 0; counter < 256; counter++ {
		nonce, nonceBytes := k.nonce(digest, entropy[:], byte(counter))
		if nonce == nil {
			continue
		}
		blind, err := randomScalar()
		if err != nil {
			return nil, err
		}
		if sig := k.sign(nonce, nonceBytes, blind, digest); sig != nil {
			return sig, nil
		}
	}
	return nil, errors.New("es256: no valid nonce") // 256 rejections: probability far below 2⁻⁸⁰⁰⁰
}

// nonce derives k from SHA-512(label ‖ d ‖ entropy ‖ digest ‖ counter): the
// first 32-byte half that is a valid scalar in [1, n-1] (rejection sampling,
// FIPS 186-5 A.3.2; a half is rejected with probability < 2⁻³²), or nil.
func (k *Key) nonce(digest, entropy []byte, counter byte) (*bigmod.Nat, []byte) {
	h := sha512.New()
	h.Write([]byte(nonceLabel))
	h.Write(k.dBytes[:])
	h.Write(entropy)
	h.Write(digest)
	h.Write([]byte{counter})
	var sum [64]byte
	h.Sum(sum[:0])
	for _, half := range [][]byte{sum[:32], sum[32:]} {
		if n, err := bigmod.NewNat().SetBytes(half, order); err == nil && n.IsZero() == 0 {
			return n, half
		}
	}
	return nil, nil
}

// randomScalar returns a uniform scalar in [1, n-1] from crypto/rand.
func randomScalar() (*bigmod.Nat, error) {
	var b [32]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		if n, err := bigmod.NewNat().SetBytes(b[:], order); err == nil && n.IsZero() == 0 {
			return n, nil
		}
	}
}

// sign computes r = x(k·G) mod n and s = k⁻¹(e + r·d) mod n (FIPS 186-5
// §6.4.1), inverting k blinded by b. It returns nil when r or s is zero.
func (k *Key) sign(nonce *bigmod.Nat, nonceBytes []byte, blind *bigmod.Nat, digest []byte) []byte {
	p, err := nistec.NewP256Point().ScalarBaseMult(nonceBytes)
	if err != nil {
		return nil
	}
	x, err := p.BytesX()
	if err != nil {
		return nil
	}
	r, err := bigmod.NewNat().SetOverflowingBytes(x, order)
	if err != nil || r.IsZero() == 1 {
		return nil
	}
	// e: the digest is exactly as long as n, so bits2int is the identity and
	// only the reduction mod n remains.
	e, err := bigmod.NewNat().SetOverflowingBytes(digest, order)
	if err != nil {
		return nil
	}
	// k⁻¹ = b · (k·b)⁻¹; k·b is uniform and independent of k, so the
	// variable-time inversion learns nothing about k.
	kb := bigmod.NewNat().ExpandFor(order).Add(nonce, order)
	kb.Mul(blind, order)
	inv := new(big.Int).ModInverse(new(big.Int).SetBytes(kb.Bytes(order)), orderBig)
	if inv == nil {
		return nil
	}
	var invBytes [32]byte
	kinv, err := bigmod.NewNat().SetBytes(inv.FillBytes(invBytes[:]), order)
	if err != nil {
		return nil
	}
	kinv.Mul(blind, order)
	// s = k⁻¹ · (e + r·d)
	s := bigmod.NewNat().ExpandFor(order).Add(k.d, order)
	s.Mul(r, order)
	s.Add(e, order)
	s.Mul(kinv, order)
	if s.IsZero() == 1 {
		return nil
	}
	out := make([]byte, 64)
	copy(out[:32], r.Bytes(order))
	copy(out[32:], s.Bytes(order))
	return out
}
