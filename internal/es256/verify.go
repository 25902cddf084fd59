package es256

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"math/big"

	"filippo.io/bigmod"
	"filippo.io/nistec"
)

// PublicKey verifies ES256 signatures with a precomputed table of multiples
// of the key, so the variable-base half of verification costs about as much
// as the fixed-base half: ~2× faster than crypto/ecdsa for a key verified
// often (a client's private_key_jwt key). The table takes ~50 KB; callers
// keep tables only for keys in use.
//
// Verification handles only public values (the signature, the digest, the
// key), so unlike signing it need not run in constant time. In FIPS 140-3
// mode there is no table and crypto/ecdsa verifies.
type PublicKey struct {
	pub *ecdsa.PublicKey
	// rows[i][j] = (j+1)·16^i·Q, i = 0..64, j = 0..7: every signed base-16
	// digit of a scalar below 2^256 selects one entry or its negation. Nil
	// in FIPS 140-3 mode.
	rows *[65][8]nistec.P256Point
}

// NewPublicKey precomputes pub's table; pub must be a valid P-256 key.
func NewPublicKey(pub *ecdsa.PublicKey) (*PublicKey, error) {
	if pub == nil || pub.Curve != elliptic.P256() {
		return nil, errors.New("es256: not a P-256 public key")
	}
	raw, err := pub.Bytes() // uncompressed point; fails for an invalid key
	if err != nil {
		return nil, err
	}
	if fipsMode(opTable) {
		return &PublicKey{pub: pub}, nil
	}
	base, err := nistec.NewP256Point().SetBytes(raw)
	if err != nil {
		return nil, err
	}
	k := &PublicKey{pub: pub, rows: new([65][8]nistec.P256Point)}
	for i := range k.rows {
		row := &k.rows[i]
		row[0].Set(base)
		for j := 1; j < 8; j++ {
			row[j].Add(&row[j-1], base)
		}
		// next base = 16·base
		base.Add(&row[7], &row[7]) // 16·base
	}
	return k, nil
}

// Verify reports whether sig, the RFC 7518 §3.4 R ‖ S form, is a valid
// ECDSA signature over digest (FIPS 186-5 §6.4.2). In FIPS 140-3 mode
// crypto/ecdsa decides.
func (k *PublicKey) Verify(digest, sig []byte) bool {
	if len(digest) != 32 || len(sig) != 64 || k.pub == nil {
		return false
	}
	if fipsMode(opVerify) || k.rows == nil {
		return verifyStd(k.pub, digest, sig)
	}
	r, err := bigmod.NewNat().SetBytes(sig[:32], order)
	if err != nil || r.IsZero() == 1 {
		return false
	}
	s, err := bigmod.NewNat().SetBytes(sig[32:], order)
	if err != nil || s.IsZero() == 1 {
		return false
	}
	e, err := bigmod.NewNat().SetOverflowingBytes(digest, order)
	if err != nil {
		return false
	}
	// w = s⁻¹ mod n; s is public, so math/big's variable-time inversion is fine.
	inv := new(big.Int).ModInverse(new(big.Int).SetBytes(sig[32:]), orderBig)
	if inv == nil {
		return false
	}
	var wBytes [32]byte
	w, err := bigmod.NewNat().SetBytes(inv.FillBytes(wBytes[:]), order)
	if err != nil {
		return false
	}
	u1 := bigmod.NewNat().ExpandFor(order).Add(e, order)
	u1.Mul(w, order)
	u2 := bigmod.NewNat().ExpandFor(order).Add(r, order)
	u2.Mul(w, order)

	p1, err := nistec.NewP256Point().ScalarBaseMult(u1.Bytes(order))
	if err != nil {
		return false
	}
	p1.Add(p1, k.mul(u2.Bytes(order)))
	x, err := p1.BytesX() // fails for the point at infinity
	if err != nil {
		return false
	}
	v, err := bigmod.NewNat().SetOverflowingBytes(x, order)
	return err == nil && v.Equal(r) == 1
}

// mul returns scalar·Q for a 32-byte big-endian scalar, from the table:
// the scalar in signed base-16 digits d_i ∈ [-8, 7], Σ d_i·16^i·Q.
func (k *PublicKey) mul(scalar []byte) *nistec.P256Point {
	acc := nistec.NewP256Point() // the point at infinity
	var neg nistec.P256Point
	carry := 0
	for i := 0; i < 64; i++ {
		b := scalar[31-i/2]
		nib := int(b & 0xf)
		if i%2 == 1 {
			nib = int(b >> 4)
		}
		d := nib + carry
		carry = 0
		if d >= 8 {
			d -= 16
			carry = 1
		}
		switch {
		case d > 0:
			acc.Add(acc, &k.rows[i][d-1])
		case d < 0:
			acc.Add(acc, neg.Negate(&k.rows[i][-d-1]))
		}
	}
	if carry == 1 {
		acc.Add(acc, &k.rows[64][0])
	}
	return acc
}
