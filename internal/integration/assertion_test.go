package integration_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/certs"
)

type assertionKey struct {
	priv crypto.Signer
	kid  string
}

func newAssertionKey(t *testing.T, kid string) assertionKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return assertionKey{k, kid}
}

func (k assertionKey) jwks() json.RawMessage {
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.priv.Public(), KeyID: k.kid, Algorithm: "ES256", Use: "sig"}}})
	return b
}

// sign makes an assertion; claims override the defaults (nil deletes a claim).
func (k assertionKey) sign(t *testing.T, clientID, aud string, over map[string]any) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{"iss": clientID, "sub": clientID, "aud": aud, "exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "jti": randID()}
	for k, v := range over {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func randID() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func assertionForm(a string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {authn.AssertionType}, "client_assertion": {a}}
}

func TestPrivateKeyJWT(t *testing.T) {
	e := newEnv(t)
	key := newAssertionKey(t, "k1")
	e.client(&backends.Client{ClientID: "jwt", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKS: key.jwks()})
	ok := func(a string) {
		t.Helper()
		resp, b := e.post(assertionForm(a), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("valid assertion refused: %d %v\n%s", resp.StatusCode, b, e.logs)
		}
	}
	ok(key.sign(t, "jwt", e.issuer, nil))
	// Compatibility audiences (default on): token endpoint and its mTLS alias, also inside an array.
	ok(key.sign(t, "jwt", e.issuer+"/token", nil))
	ok(key.sign(t, "jwt", "", map[string]any{"aud": []string{e.mtlsBase + "/token", "https://other.example"}}))
	// A matching client_id parameter is fine.
	f := assertionForm(key.sign(t, "jwt", e.issuer, nil))
	f.Set("client_id", "jwt")
	if resp, _ := e.post(f, nil); resp.StatusCode != 200 {
		t.Fatal("matching client_id parameter refused")
	}

	replayed := key.sign(t, "jwt", e.issuer, nil)
	ok(replayed)
	other := newAssertionKey(t, "k1") // same kid, different key
	now := time.Now()
	hs := hs256WithPublicKey(t, key, "jwt", e.issuer)
	none := unsignedAssertion("jwt", e.issuer)
	mismatch := assertionForm(key.sign(t, "jwt", e.issuer, nil))
	mismatch.Set("client_id", "someone-else")
	wrongType := assertionForm(key.sign(t, "jwt", e.issuer, nil))
	wrongType.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
	for _, tc := range []struct {
		name   string
		form   url.Values
		reason string
	}{
		{"replayed jti", assertionForm(replayed), "replayed"},
		{"missing jti", assertionForm(key.sign(t, "jwt", e.issuer, map[string]any{"jti": nil})), "jti missing"},
		{"expired", assertionForm(key.sign(t, "jwt", e.issuer, map[string]any{"exp": now.Add(-2 * time.Minute).Unix(), "iat": now.Add(-3 * time.Minute).Unix()})), "assertion expired"},
		{"missing exp", assertionForm(key.sign(t, "jwt", e.issuer, map[string]any{"exp": nil})), "without exp"},
		{"future iat", assertionForm(key.sign(t, "jwt", e.issuer, map[string]any{"iat": now.Add(5 * time.Minute).Unix(), "exp": now.Add(6 * time.Minute).Unix()})), "iat in the future"},
		{"future nbf", assertionForm(key.sign(t, "jwt", e.issuer, map[string]any{"nbf": now.Add(5 * time.Minute).Unix()})), "nbf in the future"},
		{"lifetime over the cap", assertionForm(key.sign(t, "jwt", e.issuer, map[string]any{"exp": now.Add(time.Hour).Unix()})), "lifetime over"},
		{"lifetime over the cap without iat", assertionForm(key.sign(t, "jwt", e.issuer, map[string]any{"iat": nil, "exp": now.Add(time.Hour).Unix()})), "lifetime over"},
		{"wrong aud", assertionForm(key.sign(t, "jwt", "https://evil.example", nil)), "is not this authorization server"},
		{"iss != sub", assertionForm(key.sign(t, "jwt", e.issuer, map[string]any{"iss": "someone"})), "iss and sub"},
		{"alg none", assertionForm(none), "allowed algorithm"},
		{"HS256 keyed with the public key", assertionForm(hs), "allowed algorithm"},
		{"unknown kid", assertionForm(newAssertionKey(t, "k9").sign(t, "jwt", e.issuer, nil)), "no registered key with kid"},
		{"bad signature", assertionForm(other.sign(t, "jwt", e.issuer, nil)), "does not verify"},
		{"wrong client_assertion_type", wrongType, "client_assertion_type must be"},
		{"oversize", assertionForm(key.sign(t, "jwt", e.issuer, map[string]any{"pad": strings.Repeat("x", 9000)})), "larger than"},
		{"client_id parameter mismatch", mismatch, "does not match"},
		{"garbage", assertionForm("not.a.jwt"), "allowed algorithm"},
		{"assertion for an unknown client", assertionForm(key.sign(t, "ghost", e.issuer, nil)), "unknown client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.logs.String())
			resp, b := e.post(tc.form, nil)
			if resp.StatusCode != 401 || b["error"] != "invalid_client" || b["access_token"] != nil {
				t.Fatalf("got %d %v, want 401 invalid_client", resp.StatusCode, b)
			}
			// Refused for the intended reason (logged, never in the response).
			if logged := e.logs.String()[before:]; !strings.Contains(logged, tc.reason) {
				t.Fatalf("refused, but not because of %q:\n%s", tc.reason, logged)
			}
		})
	}
	// A secret client cannot be reached with an assertion, nor a JWT client with a secret.
	s := e.client(&backends.Client{ClientID: "sec", Scope: "read"})
	if resp, _ := e.post(assertionForm(key.sign(t, "sec", e.issuer, nil)), nil); resp.StatusCode != 401 {
		t.Fatal("assertion accepted for a secret client")
	}
	if resp, b := e.post(assertionForm(key.sign(t, "jwt", e.issuer, nil)), basic("sec", s)); resp.StatusCode != 400 || b["error"] != "invalid_request" {
		t.Fatalf("two methods: %d %v", resp.StatusCode, b)
	}
	if strings.Contains(e.logs.String(), replayed) {
		t.Fatal("assertion logged")
	}
}

// Strict mode: the issuer identifier as the sole audience (draft-ietf-oauth-rfc7523bis).
func TestAssertionAudienceStrict(t *testing.T) {
	key := newAssertionKey(t, "k")
	fetcher := authn.NewJWKSFetcher(authn.FetcherOptions{})
	m, err := authn.PrivateKeyJWT(authn.AssertionConfig{Issuer: "https://as.example", CompatAudiences: []string{"https://as.example/token"}, Compat: false, Replay: newReplay(), Keys: authn.NewKeySource(fetcher)})
	if err != nil {
		t.Fatal(err)
	}
	src := sourceOf(&backends.Client{ClientID: "c", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, JWKS: key.jwks()})
	a, _ := authn.New(src, []authn.Method{m})
	try := func(aud any) error {
		f := assertionForm(key.sign(t, "c", "", map[string]any{"aud": aud}))
		_, err := a.Authenticate(t.Context(), &authn.Request{Form: f})
		return err
	}
	if err := try("https://as.example"); err != nil {
		t.Fatalf("issuer as sole audience refused: %v", err)
	}
	for _, aud := range []any{"https://as.example/token", []string{"https://as.example", "https://other"}} {
		if err := try(aud); err == nil {
			t.Fatalf("strict mode accepted aud %v", aud)
		}
	}
}

// jwks_uri: keys fetched over HTTPS; an unknown kid triggers a refetch,
// at most once per client per 10 s.
func TestPrivateKeyJWTWithJWKSURI(t *testing.T) {
	e := newEnv(t)
	k1, k2 := newAssertionKey(t, "a"), newAssertionKey(t, "b")
	var mu sync.Mutex
	current, hits := k1.jwks(), 0
	certPEM, keyPEM, _ := e.ca.Issue(certs.Leaf{CommonName: "jwks", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	tc, _ := tls.X509KeyPair(certPEM, keyPEM)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		hits++
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(current)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{tc}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.client(&backends.Client{ClientID: "remote", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKSURI: srv.URL + "/jwks"})
	if resp, b := e.post(assertionForm(k1.sign(t, "remote", e.issuer, nil)), nil); resp.StatusCode != 200 {
		t.Fatalf("jwks_uri client refused: %v\n%s", b, e.logs)
	}
	// The client rotates to key b: the unknown kid makes the broker refetch once.
	mu.Lock()
	current = k2.jwks()
	mu.Unlock()
	if resp, b := e.post(assertionForm(k2.sign(t, "remote", e.issuer, nil)), nil); resp.StatusCode != 200 {
		t.Fatalf("rotated key refused: %v", b)
	}
	// A flood of unknown kids does not turn into a flood of fetches.
	for range 5 {
		e.post(assertionForm(newAssertionKey(t, "zzz").sign(t, "remote", e.issuer, nil)), nil)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 2 {
		t.Fatalf("%d fetches, want 2 (first use + one refetch for the new kid)", hits)
	}
}

func newReplay() *state.Memory { return state.NewMemory(0) }

type staticSource map[string]*backends.ClientEntry

func (s staticSource) Get(_ context.Context, id string) (*backends.ClientEntry, error) {
	if e, ok := s[id]; ok {
		return e, nil
	}
	return nil, backends.ErrNotFound
}

func sourceOf(cs ...*backends.Client) staticSource {
	s := staticSource{}
	for _, c := range cs {
		s[c.ClientID] = &backends.ClientEntry{Client: c, Secrets: &backends.SecretSet{}}
	}
	return s
}

func hs256WithPublicKey(t *testing.T, k assertionKey, clientID, aud string) string {
	der, _ := x509.MarshalPKIXPublicKey(k.priv.Public())
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"` + k.kid + `","typ":"JWT"}`))
	now := time.Now().Unix()
	payload, _ := json.Marshal(map[string]any{"iss": clientID, "sub": clientID, "aud": aud, "exp": now + 60, "iat": now, "jti": randID()})
	in := header + "." + base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, der)
	mac.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func unsignedAssertion(clientID, aud string) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	now := time.Now().Unix()
	payload, _ := json.Marshal(map[string]any{"iss": clientID, "sub": clientID, "aud": aud, "exp": now + 60, "iat": now, "jti": randID()})
	return header + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
}

// Nothing from a client is trusted before its signature verified: an
// assertion with a bad signature must not consume the jti it names.
func TestForgedAssertionCannotBurnJTI(t *testing.T) {
	e := newEnv(t)
	key := newAssertionKey(t, "k1")
	e.client(&backends.Client{ClientID: "jwt", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKS: key.jwks()})
	forger := newAssertionKey(t, "k1")
	if resp, _ := e.post(assertionForm(forger.sign(t, "jwt", e.issuer, map[string]any{"jti": "victim-jti"})), nil); resp.StatusCode != 401 {
		t.Fatal("forged assertion accepted")
	}
	if resp, b := e.post(assertionForm(key.sign(t, "jwt", e.issuer, map[string]any{"jti": "victim-jti"})), nil); resp.StatusCode != 200 {
		t.Fatalf("the real client's jti was burnt by a forgery: %d %v", resp.StatusCode, b)
	}
}
