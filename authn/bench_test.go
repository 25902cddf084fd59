package authn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/certs"
)

// BenchmarkAuthenticate measures each method's verification path with the
// client already cached: what the token endpoint spends on authentication.
func BenchmarkAuthenticate(b *testing.B) {
	ca, _ := certs.NewCA("bench CA", time.Hour)
	certPEM, _, _ := ca.Issue(certs.Leaf{CommonName: "m", URIs: []string{"spiffe://example.org/m"}, Client: true})
	leaf, _ := certs.ParseCertificatesPEM(certPEM)
	ssPEM, _, _ := certs.SelfSigned(certs.Leaf{CommonName: "s", Client: true})
	ss, _ := certs.ParseCertificatesPEM(ssPEM)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k", Algorithm: "ES256"}}})
	ssJWKS, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ss[0].PublicKey, Certificates: ss[:1]}}})
	secret := "Fq0sM8y2r0WbQ6pJcS0yN6dE4kZ1uVxA9tH3gL5oI7w"
	src := source{
		"sec":  {Client: &backends.Client{ClientID: "sec", TokenEndpointAuthMethod: backends.AuthClientSecretBasic}, Secrets: &backends.SecretSet{Secrets: []backends.Secret{{Hash: backends.HashSecret(secret)}}}},
		"jwt":  {Client: &backends.Client{ClientID: "jwt", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, JWKS: jwks, Revision: "1"}, Secrets: &backends.SecretSet{}},
		"mtls": {Client: &backends.Client{ClientID: "mtls", TokenEndpointAuthMethod: backends.AuthTLSClient, TLSClientAuthSANURI: "spiffe://example.org/m"}, Secrets: &backends.SecretSet{}},
		"ss":   {Client: &backends.Client{ClientID: "ss", TokenEndpointAuthMethod: backends.AuthSelfSignedTLSClient, JWKS: ssJWKS, Revision: "1"}, Secrets: &backends.SecretSet{}},
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	keys := authn.NewKeySource(nil)
	pk, _ := authn.PrivateKeyJWT(authn.AssertionConfig{Issuer: "https://as.example", Replay: state.NewMemory(10_000_000), MaxJTIsPerClient: 10_000_000, Keys: keys})
	a, err := authn.New(src, []authn.Method{authn.ClientSecretBasic(), pk, authn.TLSClientAuth(func() *x509.CertPool { return roots }, nil), authn.SelfSignedTLSClientAuth(keys)})
	if err != nil {
		b.Fatal(err)
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k"))
	run := func(b *testing.B, mk func() *authn.Request) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Authenticate(b.Context(), mk()); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("client_secret_basic", func(b *testing.B) {
		h := basicHeader("sec", secret)
		run(b, func() *authn.Request { return &authn.Request{Authorization: h} })
	})
	b.Run("private_key_jwt", func(b *testing.B) {
		run(b, func() *authn.Request {
			b.StopTimer()
			now := time.Now()
			tok, _ := jwt.Signed(signer).Claims(jwt.Claims{Issuer: "jwt", Subject: "jwt", Audience: jwt.Audience{"https://as.example"}, Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: randID()}).Serialize()
			r := &authn.Request{Form: url.Values{"client_assertion_type": {authn.AssertionType}, "client_assertion": {tok}}}
			b.StartTimer()
			return r
		})
	})
	b.Run("tls_client_auth", func(b *testing.B) {
		pl := certs.NewPresented(leaf) // once per connection, as the broker does
		run(b, func() *authn.Request {
			return &authn.Request{Form: url.Values{"client_id": {"mtls"}}, Certificates: pl}
		})
	})
	b.Run("self_signed_tls_client_auth", func(b *testing.B) {
		ps := certs.NewPresented(ss)
		run(b, func() *authn.Request {
			return &authn.Request{Form: url.Values{"client_id": {"ss"}}, Certificates: ps}
		})
	})
}

func randID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
