package authn_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/certs"
)

// The claimed client comes from the credentials themselves, assertions
// included, so failed private_key_jwt attempts are charged to the client
// they name and labelled with their method.
func TestClaimed(t *testing.T) {
	t.Parallel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	assertion := func(iss, sub string) string {
		s, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: iss, Subject: sub, ID: "x"}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ca, _ := certs.NewCA("claimed CA", time.Hour)
	certPEM, _, _ := ca.Issue(certs.Leaf{CommonName: "m", Client: true})
	chain, _ := certs.ParseCertificatesPEM(certPEM)
	long := strings.Repeat("x", authn.MaxClientIDLen+1)
	for _, tc := range []struct {
		name         string
		header       string
		form         url.Values
		chain        []*x509.Certificate
		id, method   string
		authenticate bool
	}{
		{name: "basic", header: basicHeader("alice", "s"), id: "alice", method: backends.AuthClientSecretBasic},
		{name: "basic wins over client_id", header: basicHeader("alice", "s"), form: url.Values{"client_id": {"bob"}}, id: "alice", method: backends.AuthClientSecretBasic},
		{name: "malformed basic", header: "Basic !!!", form: url.Values{"client_id": {"bob"}}, id: "bob", method: backends.AuthClientSecretBasic},
		{name: "post", form: url.Values{"client_id": {"bob"}, "client_secret": {"s"}}, id: "bob", method: backends.AuthClientSecretPost},
		{name: "assertion sub", form: url.Values{"client_assertion_type": {authn.AssertionType}, "client_assertion": {assertion("carol", "carol")}}, id: "carol", method: backends.AuthPrivateKeyJWT},
		{name: "assertion sub, after Authenticate", form: url.Values{"client_assertion_type": {authn.AssertionType}, "client_assertion": {assertion("carol", "carol")}}, id: "carol", method: backends.AuthPrivateKeyJWT, authenticate: true},
		{name: "assertion iss without sub", form: url.Values{"client_assertion_type": {authn.AssertionType}, "client_assertion": {assertion("dave", "")}}, id: "dave", method: backends.AuthPrivateKeyJWT, authenticate: true},
		{name: "garbage assertion, client_id", form: url.Values{"client_assertion_type": {authn.AssertionType}, "client_assertion": {"a.b.c"}, "client_id": {"erin"}}, id: "erin", method: backends.AuthPrivateKeyJWT},
		{name: "assertion id too long", form: url.Values{"client_assertion_type": {authn.AssertionType}, "client_assertion": {assertion(long, long)}}, id: "", method: backends.AuthPrivateKeyJWT},
		{name: "certificate only", form: url.Values{"client_id": {"m"}}, chain: chain, id: "m", method: authn.ClaimedCertificate},
		{name: "certificate, registered method known", form: url.Values{"client_id": {"mtls"}}, chain: chain, id: "mtls", method: backends.AuthTLSClient, authenticate: true},
		{name: "nothing", form: url.Values{"client_id": {"frank"}}, id: "frank", method: authn.ClaimedNone},
		{name: "client_id too long", form: url.Values{"client_id": {long}}, id: "", method: authn.ClaimedNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &authn.Request{Authorization: tc.header, Form: tc.form}
			if tc.chain != nil {
				r.Certificates = certs.NewPresented(tc.chain)
			}
			if tc.authenticate {
				pk, _ := authn.PrivateKeyJWT(authn.AssertionConfig{Issuer: "https://as.example", Replay: state.NewMemory(10), Keys: authn.NewKeySource(nil)})
				roots := x509.NewCertPool()
				a, err := authn.New(source{"mtls": {Client: &backends.Client{ClientID: "mtls", TokenEndpointAuthMethod: backends.AuthTLSClient, TLSClientAuthSANURI: "spiffe://x/y"}, Secrets: &backends.SecretSet{}}},
					[]authn.Method{authn.ClientSecretBasic(), authn.ClientSecretPost(), pk, authn.TLSClientAuth(func() *x509.CertPool { return roots }, nil)})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := a.Authenticate(t.Context(), r); err == nil {
					t.Fatal("authenticated")
				}
			}
			if id, method := r.Claimed(); id != tc.id || method != tc.method {
				t.Fatalf("Claimed() = %q, %q; want %q, %q", id, method, tc.id, tc.method)
			}
		})
	}
}

// FuzzClaimed: whatever the Authorization header and the form, Claimed
// never panics, names a known method and a client id within the bound.
func FuzzClaimed(f *testing.F) {
	f.Add(basicHeader("alice", "s"), "client_id=bob", "")
	f.Add("", "client_id=bob&client_secret=x", "")
	f.Add("", "client_assertion_type=x&client_id=c", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjYXJvbCJ9.AAAA")
	f.Add("Basic Og==", "", "a.b.c")
	methods := map[string]bool{backends.AuthClientSecretBasic: true, backends.AuthClientSecretPost: true, backends.AuthPrivateKeyJWT: true, authn.ClaimedCertificate: true, authn.ClaimedNone: true}
	f.Fuzz(func(t *testing.T, header, form, assertion string) {
		v, err := url.ParseQuery(form)
		if err != nil {
			return
		}
		if assertion != "" {
			v.Set("client_assertion", assertion)
		}
		r := &authn.Request{Authorization: header, Form: v}
		id, method := r.Claimed()
		if len(id) > authn.MaxClientIDLen || !methods[method] {
			t.Fatalf("Claimed() = %q, %q", id, method)
		}
		if id2, method2 := r.Claimed(); id2 != id || method2 != method {
			t.Fatal("Claimed changed its answer")
		}
	})
}

// Identify is Authenticate's first step, run once: the Identity it returns
// is the one Authenticate went on with and the one Claimed reports, also
// when the request fails before any lookup (two methods, a malformed
// credential, no credentials).
func TestIdentifyIsAuthenticatesFirstStep(t *testing.T) {
	a, err := authn.New(source{"alice": {Client: &backends.Client{ClientID: "alice", TokenEndpointAuthMethod: backends.AuthClientSecretPost}, Secrets: &backends.SecretSet{}}},
		[]authn.Method{authn.ClientSecretPost(), authn.ClientSecretBasic()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		header  string
		form    url.Values
		want    authn.Identity
		invalid error // Identify's error, nil when the request gets as far as the lookup
	}{
		{"basic and post: the header counts", basicHeader("alice", "s"), url.Values{"client_id": {"alice"}, "client_secret": {"s"}}, authn.Identity{ClientID: "alice", Method: backends.AuthClientSecretBasic}, authn.ErrInvalidRequest},
		{"post", "", url.Values{"client_id": {"alice"}, "client_secret": {"wrong"}}, authn.Identity{ClientID: "alice", Method: backends.AuthClientSecretPost}, nil},
		{"post without client_id", "", url.Values{"client_secret": {"s"}}, authn.Identity{Method: backends.AuthClientSecretPost}, authn.ErrInvalidRequest},
		{"malformed basic", "Basic !!!", url.Values{"client_id": {"bob"}}, authn.Identity{ClientID: "bob", Method: backends.AuthClientSecretBasic}, authn.ErrInvalidRequest},
		{"client_id disagrees", basicHeader("alice", "s"), url.Values{"client_id": {"bob"}}, authn.Identity{ClientID: "alice", Method: backends.AuthClientSecretBasic}, authn.ErrInvalidClient},
		{"nothing", "", url.Values{"client_id": {"carol"}}, authn.Identity{ClientID: "carol", Method: authn.ClaimedNone}, authn.ErrInvalidClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &authn.Request{Authorization: tc.header, Form: tc.form}
			id, err := a.Identify(r)
			if id != tc.want || !errors.Is(err, tc.invalid) || (tc.invalid == nil) != (err == nil) {
				t.Fatalf("Identify = %+v, %v; want %+v, %v", id, err, tc.want, tc.invalid)
			}
			_, aerr := a.Authenticate(t.Context(), r)
			if aerr == nil || tc.invalid != nil && aerr.Error() != err.Error() {
				t.Fatalf("Authenticate = %v; want Identify's %v", aerr, err)
			}
			if cid, method := r.Claimed(); cid != tc.want.ClientID || method != tc.want.Method {
				t.Fatalf("Claimed = %q, %q after Authenticate; want %+v", cid, method, tc.want)
			}
		})
	}
}
