package dpoptest

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Claims are a valid proof's claims for htm and htu at now, with a fresh jti.
func Claims(htm, htu string, now time.Time) map[string]any {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return map[string]any{"jti": base64.RawURLEncoding.EncodeToString(id[:]), "htm": htm, "htu": htu, "iat": now.Unix()}
}

// With returns a copy of m with k set to v (deleted when v is nil).
func With(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

// JWK is key's public JWK as JSON.
func JWK(key *ecdsa.PrivateKey) json.RawMessage {
	b, _ := json.Marshal(jose.JSONWebKey{Key: key.Public()})
	return b
}

// Forge returns a compact JWS: the protected header {"alg":"ES256",
// "typ":"dpop+jwt","jwk":<key's public JWK>} with hdr's members set over it
// (a nil value removes one), payload (a []byte as is, anything else as
// JSON), signed with key — or with an empty signature when key is nil.
func Forge(t testing.TB, key *ecdsa.PrivateKey, hdr map[string]any, payload any) string {
	t.Helper()
	h := map[string]any{"alg": "ES256", "typ": "dpop+jwt"}
	if key != nil {
		h["jwk"] = JWK(key)
	}
	for k, v := range hdr {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	hb, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	return ForgeRaw(t, key, hb, payload)
}

// ForgeRaw is Forge with the protected header given as bytes (duplicate
// members, odd spacing).
func ForgeRaw(t testing.TB, key *ecdsa.PrivateKey, header []byte, payload any) string {
	t.Helper()
	pb, ok := payload.([]byte)
	if !ok {
		var err error
		if pb, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	in := b64(header) + "." + b64(pb)
	if key == nil {
		return in + "."
	}
	d := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + b64(sig)
}

// HS256 is a proof "signed" with HMAC-SHA256 under secret, carrying key's
// public JWK: what an HMAC-with-a-public-key confusion would accept.
func HS256(t testing.TB, key *ecdsa.PrivateKey, secret []byte, payload any) string {
	t.Helper()
	hb, _ := json.Marshal(map[string]any{"alg": "HS256", "typ": "dpop+jwt", "jwk": JWK(key)})
	pb, _ := json.Marshal(payload)
	in := b64(hb) + "." + b64(pb)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + b64(m.Sum(nil))
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
