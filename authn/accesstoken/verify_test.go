package accesstoken_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/certs"
)

const (
	issuer = "https://as.example.test"
	api    = "https://api.example.test"
)

// key is a signing key of a test issuer: an accesstoken.Signer.
type key struct {
	alg, kid string
	priv     crypto.Signer
	typ      string // "" = at+jwt
}

var _ accesstoken.Signer = (*key)(nil)

func newKey(t testing.TB, alg, kid string) *key {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &key{alg: alg, kid: kid, priv: priv}
}

func (k *key) header() string {
	if k.typ == "" {
		return accesstoken.Header(k.alg, k.kid)
	}
	h, _ := json.Marshal(map[string]string{"alg": k.alg, "kid": k.kid, "typ": k.typ})
	return base64.RawURLEncoding.EncodeToString(h)
}

func (k *key) Sign(ctx context.Context, payload []byte) (string, error) {
	return accesstoken.SignCompact(ctx, k.header(), payload, func(_ context.Context, in []byte) ([]byte, error) {
		d := sha256.Sum256(in)
		switch p := k.priv.(type) {
		case *ecdsa.PrivateKey:
			r, s, err := ecdsa.Sign(rand.Reader, p, d[:])
			if err != nil {
				return nil, err
			}
			sig := make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
			return sig, nil
		case ed25519.PrivateKey:
			return ed25519.Sign(p, in), nil
		default:
			return rsa.SignPKCS1v15(rand.Reader, p.(*rsa.PrivateKey), crypto.SHA256, d[:])
		}
	})
}

// keySet is a published key set: an accesstoken.KeySet.
type keySet map[string]crypto.PublicKey

var _ accesstoken.KeySet = keySet(nil)

func (s keySet) PublicKey(_ context.Context, kid string) (crypto.PublicKey, bool) {
	k, ok := s[kid]
	return k, ok
}

func publish(keys ...*key) keySet {
	s := keySet{}
	for _, k := range keys {
		s[k.kid] = k.priv.Public()
	}
	return s
}

func signJSON(t testing.TB, k *key, claims map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(claims)
	tok, err := k.Sign(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestMintThenVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			k := newKey(t, alg, "k-"+alg)
			g := &accesstoken.Grant{ClientID: "svc", Scopes: []string{"read", "write"}, Audience: []string{api}, Lifetime: 5 * time.Minute, X5tS256: "thumb"}
			tok, minted, err := accesstoken.Mint(context.Background(), k, issuer, g, now)
			if err != nil {
				t.Fatal(err)
			}
			if minted.Subject != "svc" || minted.ClientID != "svc" || minted.Scope != "read write" || minted.Expiry != now.Unix()+300 ||
				minted.IssuedAt != now.Unix() || minted.NotBefore != now.Unix() || len(minted.ID) != 22 || minted.Cnf.X5tS256 != "thumb" {
				t.Fatalf("minted claims %+v", minted)
			}
			v, err := accesstoken.NewVerifier(publish(k), accesstoken.Expected{Issuer: issuer, Audience: api})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second ES256 verification uses the key's table
				got, err := v.Verify(context.Background(), tok, now.Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				gb, _ := json.Marshal(got)
				mb, _ := json.Marshal(minted)
				if string(gb) != string(mb) {
					t.Fatalf("verified claims\n%s\nminted\n%s", gb, mb)
				}
			}
		})
	}
}

// TestVerifyRefuses: every check, and the one time rule: exp exact, nbf and
// iat up to Leeway ahead.
func TestVerifyRefuses(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	k, other := newKey(t, "ES256", "k1"), newKey(t, "ES256", "k1")
	jwt := *k
	jwt.typ = "JWT"
	unknown := newKey(t, "ES256", "k9")
	base := func(kv ...any) map[string]any {
		c := map[string]any{"iss": issuer, "sub": "svc", "aud": api, "exp": now.Unix() + 60, "iat": now.Unix(), "nbf": now.Unix(), "jti": "j1", "client_id": "svc"}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	leeway := 30 * time.Second
	for _, tc := range []struct {
		name  string
		token string
		at    time.Time
		want  error // nil: accepted
	}{
		{"valid", signJSON(t, k, base()), now, nil},
		{"audience among several", signJSON(t, k, base("aud", []string{"x", api})), now, nil},
		{"fractional NumericDates", signJSON(t, k, base("exp", float64(now.Unix())+60.5, "iat", float64(now.Unix())+0.25)), now, nil},
		{"no nbf, no iat", signJSON(t, k, base("nbf", nil, "iat", nil)), now, nil},
		{"one second before exp", signJSON(t, k, base()), now.Add(59 * time.Second), nil},
		{"at exp", signJSON(t, k, base()), now.Add(60 * time.Second), accesstoken.ErrRejected},
		{"after exp, within the leeway", signJSON(t, k, base()), now.Add(61 * time.Second), accesstoken.ErrRejected},
		{"nbf ahead, within the leeway", signJSON(t, k, base("nbf", now.Unix()+30, "iat", now.Unix()+30)), now, nil},
		{"nbf ahead, beyond the leeway", signJSON(t, k, base("nbf", now.Unix()+31)), now, accesstoken.ErrRejected},
		{"iat ahead, beyond the leeway", signJSON(t, k, base("iat", now.Unix()+31)), now, accesstoken.ErrRejected},
		{"foreign issuer", signJSON(t, k, base("iss", "https://evil.example")), now, accesstoken.ErrRejected},
		{"another audience", signJSON(t, k, base("aud", "https://other.example")), now, accesstoken.ErrRejected},
		{"no aud", signJSON(t, k, base("aud", nil)), now, accesstoken.ErrRejected},
		{"no exp", signJSON(t, k, base("exp", nil)), now, accesstoken.ErrMalformed},
		{"no jti", signJSON(t, k, base("jti", nil)), now, accesstoken.ErrMalformed},
		{"claims not an object", func() string { tok, _ := k.Sign(context.Background(), []byte(`[1]`)); return tok }(), now, accesstoken.ErrMalformed},
		{"typ JWT", signJSON(t, &jwt, base()), now, accesstoken.ErrNotAccessToken},
		{"unknown kid", signJSON(t, unknown, base()), now, accesstoken.ErrUnknownKey},
		{"another key under the kid", signJSON(t, other, base()), now, accesstoken.ErrSignature},
		{"garbage", "not-a-token", now, accesstoken.ErrMalformed},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.e30.", now, accesstoken.ErrMalformed},
		{"too large", strings.Repeat("a", accesstoken.MaxTokenSize+1), now, accesstoken.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := accesstoken.NewVerifier(publish(k), accesstoken.Expected{Issuer: issuer, Audience: api, Leeway: leeway})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), tc.token, tc.at)
			if (err == nil) != (tc.want == nil) || !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	// AnyAudience accepts a token for anyone (the issuer's own introspection).
	v, _ := accesstoken.NewVerifier(publish(k), accesstoken.Expected{Issuer: issuer, AnyAudience: true})
	if _, err := v.Verify(context.Background(), signJSON(t, k, base("aud", "https://other.example")), now); err != nil {
		t.Fatal(err)
	}
}

func TestNewVerifierRequires(t *testing.T) {
	for name, tc := range map[string]struct {
		keys accesstoken.KeySet
		exp  accesstoken.Expected
	}{
		"no keys":     {nil, accesstoken.Expected{Issuer: issuer, Audience: api}},
		"no issuer":   {keySet{}, accesstoken.Expected{Audience: api}},
		"no audience": {keySet{}, accesstoken.Expected{Issuer: issuer}},
		"negative":    {keySet{}, accesstoken.Expected{Issuer: issuer, Audience: api, Leeway: -time.Second}},
	} {
		if _, err := accesstoken.NewVerifier(tc.keys, tc.exp); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestCheckBinding: RFC 8705 §3, a bound token only with its certificate.
func TestCheckBinding(t *testing.T) {
	ca, err := certs.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(cn string) *certs.Presented {
		p, _, err := ca.Issue(certs.Leaf{CommonName: cn, Client: true})
		if err != nil {
			t.Fatal(err)
		}
		cs, _ := certs.ParseCertificatesPEM(p)
		return certs.NewPresented(cs)
	}
	mine, theirs := leaf("mine"), leaf("theirs")
	bound := &accesstoken.Claims{Cnf: &accesstoken.Confirmation{X5tS256: mine.Thumbprint}}
	for _, tc := range []struct {
		name   string
		claims *accesstoken.Claims
		p      *certs.Presented
		want   error
	}{
		{"bound, its certificate", bound, mine, nil},
		{"bound, another certificate", bound, theirs, accesstoken.ErrCertificateMismatch},
		{"bound, no certificate", bound, nil, accesstoken.ErrCertificateRequired},
		{"unbound, no certificate", &accesstoken.Claims{}, nil, nil},
		{"unbound, a certificate", &accesstoken.Claims{}, theirs, nil},
		{"empty cnf", &accesstoken.Claims{Cnf: &accesstoken.Confirmation{}}, nil, nil},
	} {
		if err := tc.claims.CheckBinding(tc.p); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// RFC 9449 §6.1, §7.1: a DPoP-bound token only with a proof by its key,
	// never as a bearer or certificate-only token.
	dpopBound := &accesstoken.Claims{Cnf: &accesstoken.Confirmation{JKT: "jkt-mine"}}
	for _, tc := range []struct {
		name string
		p    *certs.Presented
		jkt  string
		want error
	}{
		{"its key", nil, "jkt-mine", nil},
		{"its key, and a certificate", mine, "jkt-mine", nil},
		{"another key", nil, "jkt-theirs", accesstoken.ErrProofKeyMismatch},
		{"no proof", mine, "", accesstoken.ErrProofRequired},
	} {
		if err := dpopBound.CheckBindings(tc.p, tc.jkt); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("DPoP-bound, %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := dpopBound.CheckBinding(mine); !errors.Is(err, accesstoken.ErrProofRequired) {
		t.Errorf("DPoP-bound token through CheckBinding: %v", err)
	}
	if err := bound.CheckBindings(mine, "jkt-any"); err != nil {
		t.Errorf("certificate-bound token with a proof: %v", err)
	}
}

// FuzzVerify: no string but the one the issuer signed verifies, Verify
// never panics, and every refusal names its reason.
func FuzzVerify(f *testing.F) {
	k := newKey(f, "ES256", "k1")
	now := time.Unix(1_700_000_000, 0)
	good, _, err := accesstoken.Mint(context.Background(), k, issuer, &accesstoken.Grant{ClientID: "svc", Audience: []string{api}, Lifetime: time.Minute}, now)
	if err != nil {
		f.Fatal(err)
	}
	v, _ := accesstoken.NewVerifier(publish(k), accesstoken.Expected{Issuer: issuer, Audience: api})
	for _, s := range []string{good, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", good[:len(good)-2], strings.Replace(good, ".", "..", 1)} {
		f.Add(s)
	}
	reasons := []error{accesstoken.ErrMalformed, accesstoken.ErrNotAccessToken, accesstoken.ErrUnknownKey, accesstoken.ErrSignature, accesstoken.ErrRejected}
	f.Fuzz(func(t *testing.T, tok string) {
		_, err := v.Verify(context.Background(), tok, now)
		if err == nil {
			if tok != good {
				t.Fatalf("%q verified", tok)
			}
			return
		}
		for _, r := range reasons {
			if errors.Is(err, r) {
				return
			}
		}
		t.Fatalf("refusal without a reason: %v", err)
	})
}
