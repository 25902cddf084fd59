package vault_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/backends/vault"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
)

// Every client authentication method issues tokens from records held in Vault.
func TestEveryMethodFromVaultHeldData(t *testing.T) {
	v := server(t)
	ctx := context.Background()
	store := open(t, v, uniquePrefix(), vault.Token(v.RootToken()), quiet())
	signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx)
	const issuer = "https://broker.example.test"
	clientCA, _ := certs.NewCA("client CA", time.Hour)
	roots := x509.NewCertPool()
	roots.AddCert(clientCA.Cert)
	keys := authn.NewKeySource(nil)
	pk, _ := authn.PrivateKeyJWT(authn.AssertionConfig{Issuer: issuer, Replay: state.NewMemory(0), Keys: keys})
	srv, err := broker.New(ctx, broker.Config{Issuer: issuer, DefaultAudience: "https://api.example.test", Logger: quiet(),
		Methods: []authn.Method{authn.ClientSecretBasic(), authn.ClientSecretPost(), pk, authn.TLSClientAuth(func() *x509.CertPool { return roots }, nil), authn.SelfSignedTLSClientAuth(keys)}}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	reg := srv.Registry()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k", Algorithm: "ES256"}}})
	ssPEM, _, _ := certs.SelfSigned(certs.Leaf{CommonName: "ss", Client: true})
	ss, _ := certs.ParseCertificatesPEM(ssPEM)
	ssJWKS, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ss[0].PublicKey, Certificates: ss[:1]}}})
	mPEM, _, _ := clientCA.Issue(certs.Leaf{CommonName: "m", URIs: []string{"spiffe://example.org/m"}, Client: true})
	m, _ := certs.ParseCertificatesPEM(mPEM)
	secrets := map[string]string{}
	for _, c := range []*backends.Client{
		{ClientID: "basic", TokenEndpointAuthMethod: backends.AuthClientSecretBasic},
		{ClientID: "post", TokenEndpointAuthMethod: backends.AuthClientSecretPost},
		{ClientID: "jwt", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, JWKS: jwks},
		{ClientID: "mtls", TokenEndpointAuthMethod: backends.AuthTLSClient, TLSClientAuthSANURI: "spiffe://example.org/m"},
		{ClientID: "ss", TokenEndpointAuthMethod: backends.AuthSelfSignedTLSClient, JWKS: ssJWKS},
	} {
		c.Scope = "read"
		r, err := reg.Create(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", c.ClientID, err)
		}
		secrets[c.ClientID] = r.Secret
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k"))
	now := time.Now()
	assertion, _ := jwt.Signed(signer).Claims(jwt.Claims{Issuer: "jwt", Subject: "jwt", Audience: jwt.Audience{issuer}, Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: "j1"}).Serialize()
	for _, tc := range []struct {
		id    string
		form  url.Values
		basic bool
		cert  []*x509.Certificate
	}{
		{id: "basic", basic: true},
		{id: "post", form: url.Values{"client_id": {"post"}, "client_secret": {secrets["post"]}}},
		{id: "jwt", form: url.Values{"client_assertion_type": {authn.AssertionType}, "client_assertion": {assertion}}},
		{id: "mtls", form: url.Values{"client_id": {"mtls"}}, cert: m},
		{id: "ss", form: url.Values{"client_id": {"ss"}}, cert: ss},
	} {
		f := url.Values{"grant_type": {"client_credentials"}}
		for k, vs := range tc.form {
			f[k] = vs
		}
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.basic {
			req.SetBasicAuth(tc.id, secrets[tc.id])
		}
		if tc.cert != nil {
			req.TLS = &tls.ConnectionState{PeerCertificates: tc.cert}
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("%s from Vault-held data: %d %s", tc.id, rec.Code, rec.Body)
		}
	}
}
