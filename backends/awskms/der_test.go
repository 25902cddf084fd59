package awskms

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"testing"
)

// RFC 7518 §3.4: R and S each exactly 32 bytes, left-padded; DER's sign
// octet dropped; anything else refused.
func TestJoseES256(t *testing.T) {
	t.Parallel()
	der := func(r, s *big.Int) []byte {
		b, _ := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		return b
	}
	short := big.NewInt(0x1234)                                   // 2 bytes: padded with 30 zeros
	high := new(big.Int).SetBytes(bytes.Repeat([]byte{0xff}, 32)) // DER adds a 0x00 sign octet
	tooBig := new(big.Int).Lsh(big.NewInt(1), 256)                // 33 bytes
	for _, tc := range []struct {
		name string
		in   []byte
		want []byte
	}{
		{"short r", der(short, high), append(append(make([]byte, 30), 0x12, 0x34), bytes.Repeat([]byte{0xff}, 32)...)},
		{"high s", der(high, short), append(bytes.Repeat([]byte{0xff}, 32), append(make([]byte, 30), 0x12, 0x34)...)},
		{"too big", der(tooBig, short), nil},
		{"zero", der(big.NewInt(0), short), nil},
		{"negative", der(big.NewInt(-5), short), nil},
		{"trailing bytes", append(der(short, short), 0), nil},
		{"not DER", []byte{0x30, 0x03, 0x02, 0x01}, nil},
		{"non-minimal integer", []byte{0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01}, nil},
	} {
		got, err := joseES256(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%s: accepted", tc.name)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: %x, %v", tc.name, got, err)
		}
	}
	// Real signatures, including the ~1/128 whose R or S is shorter than 32 bytes.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := sha256.Sum256([]byte("x"))
	for range 500 {
		sig, _ := ecdsa.SignASN1(rand.Reader, k, d[:])
		rs, err := joseES256(sig)
		if err != nil || len(rs) != 64 || !ecdsa.Verify(&k.PublicKey, d[:], new(big.Int).SetBytes(rs[:32]), new(big.Int).SetBytes(rs[32:])) {
			t.Fatalf("%x: %x %v", sig, rs, err)
		}
	}
}

// FuzzJoseES256: the converter never panics, and whatever it accepts
// re-encodes to the same DER (nothing is accepted loosely).
func FuzzJoseES256(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := sha256.Sum256([]byte("seed"))
	sig, _ := ecdsa.SignASN1(rand.Reader, k, d[:])
	f.Add(sig)
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		rs, err := joseES256(in)
		if err != nil {
			return
		}
		if len(rs) != 64 {
			t.Fatalf("%d bytes", len(rs))
		}
		back, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(rs[:32]), new(big.Int).SetBytes(rs[32:])})
		if !bytes.Equal(back, in) {
			t.Fatalf("accepted %x, which re-encodes as %x", in, back)
		}
	})
}
