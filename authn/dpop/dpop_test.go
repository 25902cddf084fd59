package dpop_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/authn/dpop/dpoptest"
)

const endpoint = "https://auth.example.com/token"

// memReplay is a ReplayCache in a map, for the package's own tests (the
// broker's is backends/state).
func memReplay() dpop.ReplayFunc {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(_ context.Context, owner, key string, _ time.Time) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if seen[owner+"|"+key] {
			return false, nil
		}
		seen[owner+"|"+key] = true
		return true, nil
	}
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// craft signs payload with key under a protected header with the given
// members (plus alg and, unless jwk is given, the key's public jwk).
func craft(t testing.TB, key crypto.Signer, alg jose.SignatureAlgorithm, hdr map[string]any, payload any) string {
	t.Helper()
	h := map[string]any{"alg": string(alg), "typ": "dpop+jwt"}
	if key != nil {
		pub, _ := json.Marshal(jose.JSONWebKey{Key: key.Public()})
		h["jwk"] = json.RawMessage(pub)
	}
	for k, v := range hdr {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	hb, _ := json.Marshal(h)
	// Only an ECDSA key signs (ES256 over SHA-256); any other leaves the
	// signature empty.
	ek, _ := key.(*ecdsa.PrivateKey)
	return dpoptest.ForgeRaw(t, ek, hb, payload)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func goodClaims(now time.Time) map[string]any {
	return map[string]any{"jti": "j-" + now.String(), "htm": "POST", "htu": endpoint, "iat": now.Unix()}
}

// TestProverVerifier: proofs from every supported key verify, carry the
// key's thumbprint, and are single use.
func TestProverVerifier(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, k := range map[string]crypto.Signer{"ES256": ecKey(t), "ES384": p384, "EdDSA": edKey, "PS256": rsaKey, "opaque": opaque{ecKey(t)}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := dpop.NewProver(k)
			if err != nil {
				t.Fatal(err)
			}
			v, err := dpop.NewVerifier(dpop.WithReplay(memReplay()))
			if err != nil {
				t.Fatal(err)
			}
			proof, err := p.Proof("POST", endpoint+"?x=1#f", "", "")
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(context.Background(), []string{proof}, "POST", endpoint, "")
			if err != nil {
				t.Fatal(err)
			}
			if got.JKT != p.JKT() || got.JKT == "" {
				t.Fatalf("jkt %q, prover %q", got.JKT, p.JKT())
			}
			if _, err := v.Verify(context.Background(), []string{proof}, "POST", endpoint, ""); !errors.Is(err, dpop.ErrReplay) || !errors.Is(err, dpop.ErrInvalidProof) {
				t.Fatalf("replayed proof: %v", err)
			}
		})
	}
	if _, err := dpop.NewProver(mustRSA(t, 1024)); err == nil {
		t.Fatal("RSA-1024 accepted")
	}
}

type opaque struct{ *ecdsa.PrivateKey }

func mustRSA(t *testing.T, bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRefusals: every check of RFC 9449 §4.3, one proof failing it at a time.
func TestRefusals(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	k := ecKey(t)
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: k})
	pubJWK, _ := json.Marshal(jose.JSONWebKey{Key: k.Public()})
	var withP map[string]any
	_ = json.Unmarshal(pubJWK, &withP)
	withP["p"] = "AQAB"
	other := ecKey(t)
	good := goodClaims(now)
	hs := func() string {
		h, _ := json.Marshal(map[string]any{"alg": "HS256", "typ": "dpop+jwt", "jwk": json.RawMessage(pubJWK)})
		p, _ := json.Marshal(good)
		in := b64(h) + "." + b64(p)
		m := hmac.New(sha256.New, []byte("key"))
		m.Write([]byte(in))
		return in + "." + b64(m.Sum(nil))
	}()
	swapped := func() string { // header with other's jwk, signature by k
		return craft(t, k, jose.ES256, map[string]any{"jwk": json.RawMessage(mustJSON(jose.JSONWebKey{Key: other.Public()}))}, good)
	}()
	cases := map[string][]string{
		"no header":          nil,
		"two headers":        {craft(t, k, jose.ES256, nil, good), craft(t, k, jose.ES256, nil, dpoptest.With(good, "jti", "2"))},
		"empty":              {""},
		"not a JWS":          {"abc"},
		"oversized":          {strings.Repeat("a", dpop.DefaultMaxSize+1)},
		"typ missing":        {craft(t, k, jose.ES256, map[string]any{"typ": nil}, good)},
		"typ JWT":            {craft(t, k, jose.ES256, map[string]any{"typ": "JWT"}, good)},
		"alg none":           {craft(t, nil, "none", map[string]any{"jwk": json.RawMessage(pubJWK)}, good)},
		"alg HS256":          {hs},
		"private jwk":        {craft(t, k, jose.ES256, map[string]any{"jwk": json.RawMessage(privJWK)}, good)},
		"jwk with p":         {craft(t, k, jose.ES256, map[string]any{"jwk": withP}, good)},
		"symmetric jwk":      {craft(t, k, jose.ES256, map[string]any{"jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}}, good)},
		"no jwk":             {craft(t, k, jose.ES256, map[string]any{"jwk": nil}, good)},
		"signature by other": {swapped},
		"crit":               {craft(t, k, jose.ES256, map[string]any{"crit": []string{"x"}, "x": 1}, good)},
		"wrong htm":          {craft(t, k, jose.ES256, nil, dpoptest.With(good, "htm", "GET"))},
		"htm lower case":     {craft(t, k, jose.ES256, nil, dpoptest.With(good, "htm", "post"))},
		"wrong htu host":     {craft(t, k, jose.ES256, nil, dpoptest.With(good, "htu", "https://evil.example.com/token"))},
		"wrong htu path":     {craft(t, k, jose.ES256, nil, dpoptest.With(good, "htu", "https://auth.example.com/token/x"))},
		"htu http":           {craft(t, k, jose.ES256, nil, dpoptest.With(good, "htu", "http://auth.example.com/token"))},
		"htu dot segment":    {craft(t, k, jose.ES256, nil, dpoptest.With(good, "htu", "https://auth.example.com/x/../token"))},
		"htu userinfo":       {craft(t, k, jose.ES256, nil, dpoptest.With(good, "htu", "https://u@auth.example.com/token"))},
		"no htu":             {craft(t, k, jose.ES256, nil, dpoptest.With(good, "htu", nil))},
		"no jti":             {craft(t, k, jose.ES256, nil, dpoptest.With(good, "jti", nil))},
		"long jti":           {craft(t, k, jose.ES256, nil, dpoptest.With(good, "jti", strings.Repeat("j", 257)))},
		"jti number":         {craft(t, k, jose.ES256, nil, dpoptest.With(good, "jti", 5))},
		"no iat":             {craft(t, k, jose.ES256, nil, dpoptest.With(good, "iat", nil))},
		"iat string":         {craft(t, k, jose.ES256, nil, dpoptest.With(good, "iat", "1800000000"))},
		"stale iat":          {craft(t, k, jose.ES256, nil, dpoptest.With(good, "iat", now.Add(-61*time.Second).Unix()))},
		"future iat":         {craft(t, k, jose.ES256, nil, dpoptest.With(good, "iat", now.Add(6*time.Second).Unix()))},
		"duplicate htm":      {craft(t, k, jose.ES256, nil, []byte(`{"jti":"a","htm":"GET","htm":"POST","htu":"`+endpoint+`","iat":1800000000}`))},
		"case-variant htm":   {craft(t, k, jose.ES256, nil, []byte(`{"jti":"a","HTM":"GET","htm":"POST","htu":"`+endpoint+`","iat":1800000000}`))},
		"deep nesting":       {craft(t, k, jose.ES256, nil, []byte(`{"jti":"a","htm":"POST","htu":"`+endpoint+`","iat":1800000000,"x":`+strings.Repeat("[", 20)+strings.Repeat("]", 20)+`}`))},
		"trailing data":      {craft(t, k, jose.ES256, nil, []byte(`{"jti":"a","htm":"POST","htu":"`+endpoint+`","iat":1800000000} {}`))},
		"duplicate header typ": {func() string {
			s := craft(t, k, jose.ES256, nil, good)
			_ = s
			h := `{"alg":"ES256","typ":"JWT","typ":"dpop+jwt","jwk":` + string(pubJWK) + `}`
			return craftRawHeader(t, k, h, good)
		}()},
	}
	v, err := dpop.NewVerifier(dpop.WithReplay(memReplay()), dpop.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), values, "POST", endpoint, "")
			t.Log(err)
			if !errors.Is(err, dpop.ErrInvalidProof) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
		})
	}
	// The good proof itself passes (so the cases above fail for their one reason).
	if _, err := v.Verify(context.Background(), []string{craft(t, k, jose.ES256, nil, dpoptest.With(good, "jti", "good"))}, "POST", endpoint, ""); err != nil {
		t.Fatal(err)
	}
	// ath: required and exact when a token is presented.
	tok := "some.access.token"
	if _, err := v.Verify(context.Background(), []string{craft(t, k, jose.ES256, nil, dpoptest.With(good, "jti", "ath1"))}, "POST", endpoint, tok); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("no ath: %v", err)
	}
	if _, err := v.Verify(context.Background(), []string{craft(t, k, jose.ES256, nil, dpoptest.With(dpoptest.With(good, "jti", "ath2"), "ath", dpop.ATH("other")))}, "POST", endpoint, tok); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("wrong ath: %v", err)
	}
	if _, err := v.Verify(context.Background(), []string{craft(t, k, jose.ES256, nil, dpoptest.With(dpoptest.With(good, "jti", "ath3"), "ath", dpop.ATH(tok)))}, "POST", endpoint, tok); err != nil {
		t.Fatalf("right ath: %v", err)
	}
}

func craftRawHeader(t testing.TB, k *ecdsa.PrivateKey, header string, payload any) string {
	pb, _ := json.Marshal(payload)
	in := b64([]byte(header)) + "." + b64(pb)
	d := sha256.Sum256([]byte(in))
	r, s, _ := ecdsa.Sign(rand.Reader, k, d[:])
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + b64(sig)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestHTUMatching: htu compares without query and fragment, after RFC 3986
// §6.2.2/§6.2.3 normalization (RFC 9449 §4.3 item 9).
func TestHTUMatching(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	k := ecKey(t)
	v, _ := dpop.NewVerifier(dpop.WithReplay(memReplay()), dpop.WithClock(func() time.Time { return now }))
	for i, htu := range []string{
		"https://auth.example.com/token?a=b",
		"https://auth.example.com/token#frag",
		"HTTPS://Auth.Example.COM/token",
		"https://auth.example.com:443/token",
		"https://auth.example.com/%74oken",
	} {
		c := dpoptest.With(dpoptest.With(goodClaims(now), "htu", htu), "jti", string(rune('a'+i)))
		if _, err := v.Verify(context.Background(), []string{craft(t, k, jose.ES256, nil, c)}, "POST", endpoint, ""); err != nil {
			t.Errorf("htu %q: %v", htu, err)
		}
	}
	// Check takes several URIs: the token endpoint and its mTLS alias.
	c := dpoptest.With(goodClaims(now), "htu", "https://mtls.example.com:8443/token")
	if _, err := v.Check([]string{craft(t, k, jose.ES256, nil, c)}, "POST", []string{endpoint, "https://mtls.example.com:8443/token"}, ""); err != nil {
		t.Fatal(err)
	}
}

// TestNonces: with nonces required, a proof without one, with a forged or
// an expired one is answered ErrUseNonce; one from another replica sharing
// the key passes.
func TestNonces(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	key := make([]byte, 32)
	rand.Read(key)
	n1, err := dpop.NewNonces(key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	n2, _ := dpop.NewNonces(key, time.Minute) // another replica
	otherKey := make([]byte, 32)
	rand.Read(otherKey)
	n3, _ := dpop.NewNonces(otherKey, time.Minute)
	if _, err := dpop.NewNonces(key[:16], time.Minute); err == nil {
		t.Fatal("short key accepted")
	}
	v, _ := dpop.NewVerifier(dpop.WithReplay(memReplay()), dpop.WithNonces(n2), dpop.WithClock(func() time.Time { return now }))
	k := ecKey(t)
	for name, nonce := range map[string]any{
		"none":    nil,
		"forged":  n3.Nonce(now),
		"expired": n1.Nonce(now.Add(-61 * time.Second)),
		"future":  n1.Nonce(now.Add(time.Minute)),
		"garbage": "not-a-nonce",
	} {
		c := dpoptest.With(dpoptest.With(goodClaims(now), "nonce", nonce), "jti", name)
		if _, err := v.Verify(context.Background(), []string{craft(t, k, jose.ES256, nil, c)}, "POST", endpoint, ""); !errors.Is(err, dpop.ErrUseNonce) || errors.Is(err, dpop.ErrInvalidProof) {
			t.Errorf("%s: %v", name, err)
		}
	}
	c := dpoptest.With(goodClaims(now), "nonce", n1.Nonce(now.Add(-30*time.Second)))
	p, err := v.Verify(context.Background(), []string{craft(t, k, jose.ES256, nil, c)}, "POST", endpoint, "")
	if err != nil || p.Nonce == "" {
		t.Fatalf("nonce from another replica: %v", err)
	}
	// A proof that is invalid for another reason says so, not use_dpop_nonce.
	c = dpoptest.With(goodClaims(now), "htm", "GET")
	if _, err := v.Verify(context.Background(), []string{craft(t, k, jose.ES256, nil, c)}, "POST", endpoint, ""); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatal(err)
	}
}

// TestSpendOwners: Check records nothing; Spend scopes jtis by owner and
// fails closed when the cache cannot answer.
func TestSpendOwners(t *testing.T) {
	t.Parallel()
	p, _ := dpop.NewProver(ecKey(t))
	v, _ := dpop.NewVerifier(dpop.WithReplay(memReplay()))
	proof, _ := p.Proof("POST", endpoint, "", "")
	for range 2 {
		if _, err := v.Check([]string{proof}, "POST", []string{endpoint}, ""); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := v.Check([]string{proof}, "POST", []string{endpoint}, "")
	if err := v.Spend(context.Background(), "client-a", got); err != nil {
		t.Fatal(err)
	}
	if err := v.Spend(context.Background(), "client-a", got); !errors.Is(err, dpop.ErrReplay) {
		t.Fatal(err)
	}
	if got.Expiry().Sub(got.IssuedAt) < dpop.DefaultWindow {
		t.Fatalf("jti remembered for %s only", got.Expiry().Sub(got.IssuedAt))
	}
	down := dpop.ReplayFunc(func(context.Context, string, string, time.Time) (bool, error) { return false, errors.New("down") })
	v2, _ := dpop.NewVerifier(dpop.WithReplay(down))
	if err := v2.Spend(context.Background(), "client-a", got); err == nil {
		t.Fatal("cache down: accepted")
	}
	if _, err := dpop.NewVerifier(dpop.WithAlgorithms("HS256")); err == nil {
		t.Fatal("HS256 allowed")
	}
	if _, err := dpop.NewVerifier(dpop.WithAlgorithms("none")); err == nil {
		t.Fatal("none allowed")
	}
}

// TestAdmitTables: after Admit, proofs by the key verify with its table —
// good ones pass, a signature by another key under its jwk, a tampered
// payload and a replay are still refused.
func TestAdmitTables(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	k, other := ecKey(t), ecKey(t)
	v, _ := dpop.NewVerifier(dpop.WithReplay(memReplay()), dpop.WithClock(func() time.Time { return now }))
	first := craft(t, k, jose.ES256, nil, dpoptest.With(goodClaims(now), "jti", "t0"))
	p, err := v.Verify(context.Background(), []string{first}, "POST", endpoint, "")
	if err != nil {
		t.Fatal(err)
	}
	v.Admit(p)
	for i := range 3 {
		c := dpoptest.With(goodClaims(now), "jti", "t"+string(rune('1'+i)))
		if _, err := v.Verify(context.Background(), []string{craft(t, k, jose.ES256, nil, c)}, "POST", endpoint, ""); err != nil {
			t.Fatalf("admitted key: %v", err)
		}
	}
	forged := craft(t, k, jose.ES256, nil, dpoptest.With(goodClaims(now), "jti", "f1"))
	otherSig := craft(t, other, jose.ES256, map[string]any{"jwk": json.RawMessage(mustJSON(jose.JSONWebKey{Key: k.Public()}))}, dpoptest.With(goodClaims(now), "jti", "f2"))
	parts, fparts := strings.Split(forged, "."), strings.Split(craft(t, k, jose.ES256, nil, dpoptest.With(goodClaims(now), "htm", "GET")), ".")
	tampered := parts[0] + "." + fparts[1] + "." + parts[2]
	for name, s := range map[string]string{"signed by another key": otherSig, "tampered payload": tampered, "replay": first} {
		if _, err := v.Verify(context.Background(), []string{s}, "POST", endpoint, ""); !errors.Is(err, dpop.ErrInvalidProof) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
