package integration_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/authn/spiffe/spiffetest"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
)

// withSPIFFE adds the spiffe_x509 and spiffe_jwt methods over tds, and the
// SPIFFE ID → registered client mapping, as broker/runtime wires them.
func withSPIFFE(tds *spiffe.TrustDomains) envOpt {
	return func(c *broker.Config, _ *cache.Options) {
		jwtm, err := spiffe.JWTSVID(tds, spiffe.JWTConfig{Issuer: c.Issuer, MaxLifetime: time.Hour})
		if err != nil {
			panic(err)
		}
		c.Methods = append(c.Methods, spiffe.X509SVID(tds), jwtm)
		c.WrapClients = func(s authn.ClientSource) authn.ClientSource { return spiffe.Clients(s) }
	}
}

// spiffeEnv is a broker trusting trust domains a.test and b.test, each
// from a bundle file the test can rewrite.
type spiffeEnv struct {
	*env
	a, b   *spiffetest.CA
	tds    *spiffe.TrustDomains
	aFile  string
	x509ID spiffeid.ID
	jwtID  spiffeid.ID
}

func newSPIFFEEnv(t *testing.T) *spiffeEnv {
	t.Helper()
	a, err := spiffetest.NewCA("a.test")
	if err != nil {
		t.Fatal(err)
	}
	b, err := spiffetest.NewCA("b.test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	se := &spiffeEnv{a: a, b: b, aFile: filepath.Join(dir, "a.json"),
		x509ID: spiffeid.RequireFromString("spiffe://a.test/ns/pay/sa/x509"), jwtID: spiffeid.RequireFromString("spiffe://a.test/ns/pay/sa/jwt")}
	se.writeBundle(t)
	bFile := filepath.Join(dir, "b.json")
	bj, _ := b.BundleJSON()
	if err := os.WriteFile(bFile, bj, 0o600); err != nil {
		t.Fatal(err)
	}
	tds, err := spiffe.New(context.Background(), []spiffe.Domain{
		{TrustDomain: a.TD, BundleFile: se.aFile},
		{TrustDomain: b.TD, BundleFile: bFile},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tds.Close() })
	se.tds = tds
	se.env = newEnv(t, withSPIFFE(tds))
	for _, c := range []struct {
		id     spiffeid.ID
		method string
	}{{se.x509ID, backends.AuthSPIFFEX509}, {se.jwtID, backends.AuthSPIFFEJWT}, {spiffeid.RequireFromString("spiffe://b.test/ns/pay/sa/x509"), backends.AuthSPIFFEX509}, {spiffeid.RequireFromString("spiffe://b.test/ns/pay/sa/jwt"), backends.AuthSPIFFEJWT}} {
		key, ok := spiffe.ClientKey(c.id)
		if !ok {
			t.Fatal("key too long")
		}
		se.client(&backends.Client{ClientID: key, TokenEndpointAuthMethod: c.method, Scope: "read"})
	}
	return se
}

// writeBundle writes a.test's current bundle to its file.
func (se *spiffeEnv) writeBundle(t *testing.T) {
	t.Helper()
	bj, err := se.a.BundleJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(se.aFile, bj, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (se *spiffeEnv) svid(t *testing.T, ca *spiffetest.CA, id spiffeid.ID, opts ...spiffetest.SVIDOption) *tls.Certificate {
	t.Helper()
	c, err := ca.X509SVID(id, time.Hour, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

func (se *spiffeEnv) jwt(t *testing.T, ca *spiffetest.CA, id spiffeid.ID, aud []string, extra ...spiffetest.JWTClaims) string {
	t.Helper()
	tok, err := ca.JWTSVID(id, aud, 5*time.Minute, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func x509Form(id string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}}
}

func jwtForm(tok string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {spiffe.AssertionType}, "client_assertion": {tok}}
}

// TestSPIFFEX509SVID: a workload gets a certificate-bound token with its
// X.509-SVID over real TLS, on both listeners, with a new SVID on every
// connection (rotation never fails a request).
func TestSPIFFEX509SVID(t *testing.T) {
	t.Parallel()
	se := newSPIFFEEnv(t)
	key, _ := spiffe.ClientKey(se.x509ID)
	for i := range 10 {
		base := se.issuer
		if i%2 == 1 {
			base = se.mtlsBase
		}
		cert := se.svid(t, se.a, se.x509ID)
		resp, b := se.postVia(se.withCert(cert), base, x509Form(se.x509ID.String()), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %v\n%s", i, resp.StatusCode, b, se.logs.String())
		}
		claims, _ := se.verify(b["access_token"].(string))
		if claims.Cnf == nil || claims.Cnf.X5tS256 != certs.Thumbprint(cert.Leaf) {
			t.Fatalf("token not bound to this SVID: %+v", claims.Cnf)
		}
		if claims.ClientID != key || claims.Subject != key {
			t.Fatalf("client_id %q sub %q, want %q", claims.ClientID, claims.Subject, key)
		}
	}
}

// TestSPIFFEJWTSVID: a JWT-SVID as a jwt-spiffe client assertion; the same
// JWT-SVID may be presented again until it expires (providers cache them).
func TestSPIFFEJWTSVID(t *testing.T) {
	t.Parallel()
	se := newSPIFFEEnv(t)
	tok := se.jwt(t, se.a, se.jwtID, []string{se.issuer})
	for range 2 {
		resp, b := se.post(jwtForm(tok), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %v\n%s", resp.StatusCode, b, se.logs.String())
		}
	}
	// client_id may accompany it, and must then be the SPIFFE ID.
	f := jwtForm(tok)
	f.Set("client_id", se.jwtID.String())
	if resp, b := se.post(f, nil); resp.StatusCode != 200 {
		t.Fatalf("with client_id: %d %v", resp.StatusCode, b)
	}
	// RFC 6749 §2.3: a JWT-SVID and a second method (a Basic header) → invalid_request.
	if resp, b := se.post(jwtForm(tok), basic("demo", "secret")); resp.StatusCode != 400 || b["error"] != "invalid_request" || b["access_token"] != nil {
		t.Fatalf("two methods: %d %v", resp.StatusCode, b)
	}
	// Over mTLS with tls_client_certificate_bound_access_tokens unset, a
	// JWT-SVID client's token is unbound; the discovery document lists both methods.
	resp, err := se.http.Get(se.issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&md)
	methods, _ := json.Marshal(md["token_endpoint_auth_methods_supported"])
	for _, m := range []string{"spiffe_x509", "spiffe_jwt"} {
		if !strings.Contains(string(methods), `"`+m+`"`) {
			t.Fatalf("metadata lacks %s: %s", m, methods)
		}
	}
}

// refused asserts invalid_client, no token, and the cause in the log.
func (se *spiffeEnv) refused(t *testing.T, resp *http.Response, b map[string]any, before int, cause string) {
	t.Helper()
	if resp.StatusCode != 401 || b["error"] != "invalid_client" || b["access_token"] != nil {
		t.Fatalf("got %d %v, want 401 invalid_client", resp.StatusCode, b)
	}
	if d, _ := b["error_description"].(string); strings.Contains(d, cause) {
		t.Fatalf("the cause leaked to the client: %q", d)
	}
	if logged := se.logs.String()[before:]; !strings.Contains(logged, cause) {
		t.Fatalf("cause %q not logged:\n%s", cause, logged)
	}
}

// TestSPIFFEX509Hostile: every X.509-SVID refusal of issue 13 item 8 through
// the real token endpoint.
func TestSPIFFEX509Hostile(t *testing.T) {
	t.Parallel()
	se := newSPIFFEEnv(t)
	bID := spiffeid.RequireFromString("spiffe://b.test/ns/pay/sa/x509")
	static, _ := se.leafCert(nil, certs.Leaf{CommonName: "x", URIs: []string{se.x509ID.String()}})
	other := spiffeid.RequireFromString("spiffe://a.test/ns/pay/sa/other")
	cases := []struct {
		name     string
		cert     *tls.Certificate
		clientID string
		cause    string
	}{
		{"domain A's SVID claiming an ID of B", se.svid(t, se.a, bID), bID.String(), "could not verify leaf certificate"},
		{"B's SVID claiming an ID of A", se.svid(t, se.b, se.x509ID), se.x509ID.String(), "could not verify leaf certificate"},
		{"a certificate of the static client CA", &static, se.x509ID.String(), "could not verify leaf certificate"},
		{"client_id of another workload", se.svid(t, se.a, other), se.x509ID.String(), "is not the X.509-SVID's SPIFFE ID"},
		{"leaf that is a CA", se.svid(t, se.a, se.x509ID, func(c *x509.Certificate) { c.IsCA = true }), se.x509ID.String(), "CA flag"},
		{"no digitalSignature", se.svid(t, se.a, se.x509ID, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment }), se.x509ID.String(), "digitalSignature"},
		{"two URI SANs", se.svid(t, se.a, se.x509ID, func(c *x509.Certificate) { c.URIs = append(c.URIs, other.URL()) }), se.x509ID.String(), "could not get leaf SPIFFE ID"},
		{"expired", se.svid(t, se.a, se.x509ID, func(c *x509.Certificate) { c.NotAfter = time.Now().Add(-time.Second) }), se.x509ID.String(), "expired"},
		{"no client_id", se.svid(t, se.a, se.x509ID), "", "no client authentication"},
		{"the client key instead of the SPIFFE ID", se.svid(t, se.a, se.x509ID), "spiffe~a.test~ns~pay~sa~x509", "is not the X.509-SVID's SPIFFE ID"},
		{"a JWT-SVID client over mTLS", se.svid(t, se.a, se.jwtID), se.jwtID.String(), "presented only a certificate"},
		{"unregistered workload", se.svid(t, se.a, other), other.String(), "unknown client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(se.logs.String())
			resp, b := se.postVia(se.withCert(tc.cert), se.issuer, x509Form(tc.clientID), nil)
			se.refused(t, resp, b, before, tc.cause)
		})
	}
}

// TestSPIFFEJWTHostile: every JWT-SVID refusal of issue 13 item 8 (and the
// draft's rules) through the real token endpoint.
func TestSPIFFEJWTHostile(t *testing.T) {
	t.Parallel()
	se := newSPIFFEEnv(t)
	aud := []string{se.issuer}
	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bundleKID := ""
	for kid := range se.a.Bundle().JWTAuthorities() {
		bundleKID = kid
	}
	forged, err := spiffetest.SignJWT(forger, bundleKID, se.jwtID, aud, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	hsTok, _ := hs.Sign([]byte(`{"sub":"` + se.jwtID.String() + `","aud":["` + se.issuer + `"],"exp":9999999999}`))
	hsCompact, _ := hsTok.CompactSerialize()
	// A client registered for a workload of a trust domain nobody configured.
	se.client(&backends.Client{ClientID: "spiffe~c.test~x", TokenEndpointAuthMethod: backends.AuthSPIFFEJWT, Scope: "read"})
	cases := []struct {
		name, tok, clientID, cause string
	}{
		{"another audience", se.jwt(t, se.a, se.jwtID, []string{"https://other.example"}), "", "expected audience"},
		{"the token endpoint as audience", se.jwt(t, se.a, se.jwtID, []string{se.issuer + broker.PathToken}), "", "expected audience"},
		{"a second audience", se.jwt(t, se.a, se.jwtID, []string{se.issuer, "https://other.example"}), "", "must be this broker's issuer alone"},
		{"expired", se.jwt(t, se.a, se.jwtID, aud, spiffetest.JWTClaims{"exp": time.Now().Add(-2 * time.Minute).Unix()}), "", "token has expired"},
		{"without exp", se.jwt(t, se.a, se.jwtID, aud, spiffetest.JWTClaims{"exp": nil}), "", "missing exp"},
		{"lifetime over the cap", se.jwt(t, se.a, se.jwtID, aud, spiffetest.JWTClaims{"exp": time.Now().Add(2 * time.Hour).Unix()}), "", "lifetime over"},
		{"signed by B for an ID of A", func() string { k, _ := se.b.JWTSVID(se.jwtID, aud, time.Minute); return k }(), "", "no JWT authority"},
		{"forged with the bundle's kid", forged, "", "unable to get claims"},
		{"HS256", hsCompact, "", "not a JWS with an allowed algorithm"},
		{"sub of another client than client_id", se.jwt(t, se.a, se.jwtID, aud), "spiffe://a.test/ns/pay/sa/x509", "does not match the authenticated client"},
		{"case-variant Sub", se.jwt(t, se.a, se.jwtID, aud, spiffetest.JWTClaims{"sub": nil, "Sub": se.jwtID.String()}), "", "not a SPIFFE ID"},
		{"an X.509-SVID client", se.jwt(t, se.a, se.x509ID, aud), "", "registered spiffe_x509, request used spiffe_jwt"},
		{"unregistered workload", se.jwt(t, se.a, spiffeid.RequireFromString("spiffe://a.test/nobody"), aud), "", "unknown client"},
		{"an untrusted trust domain", func() string {
			c, _ := spiffetest.NewCA("c.test")
			k, _ := c.JWTSVID(spiffeid.RequireFromString("spiffe://c.test/x"), aud, time.Minute)
			return k
		}(), "", "no bundle found"},
		{"oversized", strings.Repeat("a", 9<<10), "", "larger than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(se.logs.String())
			f := jwtForm(tc.tok)
			if tc.clientID != "" {
				f.Set("client_id", tc.clientID)
			}
			resp, b := se.post(f, nil)
			se.refused(t, resp, b, before, tc.cause)
		})
	}
}

// TestSPIFFEAuthorityDropped: a JWT-SVID and an X.509-SVID signed by an
// authority that left the bundle are refused once the bundle is reloaded;
// those of the new authority are accepted, and a bundle file that turns
// bad keeps the last good bundle.
func TestSPIFFEAuthorityDropped(t *testing.T) {
	t.Parallel()
	se := newSPIFFEEnv(t)
	ctx := context.Background()
	oldJWT := se.jwt(t, se.a, se.jwtID, []string{se.issuer})
	oldSVID := se.svid(t, se.a, se.x509ID)
	if err := se.a.Rotate(); err != nil {
		t.Fatal(err)
	}
	se.writeBundle(t)
	if err := se.tds.Refresh(ctx, se.a.TD); err != nil {
		t.Fatal(err)
	}
	// Both authorities are in the bundle during the rotation.
	for _, f := range []func() (*http.Response, map[string]any){
		func() (*http.Response, map[string]any) { return se.post(jwtForm(oldJWT), nil) },
		func() (*http.Response, map[string]any) {
			return se.post(jwtForm(se.jwt(t, se.a, se.jwtID, []string{se.issuer})), nil)
		},
		func() (*http.Response, map[string]any) {
			return se.postVia(se.withCert(oldSVID), se.issuer, x509Form(se.x509ID.String()), nil)
		},
	} {
		if resp, b := f(); resp.StatusCode != 200 {
			t.Fatalf("during the rotation: %d %v", resp.StatusCode, b)
		}
	}
	if err := se.a.DropOldest(); err != nil {
		t.Fatal(err)
	}
	se.writeBundle(t)
	if err := se.tds.Refresh(ctx, se.a.TD); err != nil {
		t.Fatal(err)
	}
	before := len(se.logs.String())
	resp, b := se.post(jwtForm(oldJWT), nil)
	se.refused(t, resp, b, before, "no JWT authority")
	before = len(se.logs.String())
	resp, b = se.postVia(se.withCert(oldSVID), se.issuer, x509Form(se.x509ID.String()), nil)
	se.refused(t, resp, b, before, "could not verify leaf certificate")
	if resp, b := se.postVia(se.withCert(se.svid(t, se.a, se.x509ID)), se.issuer, x509Form(se.x509ID.String()), nil); resp.StatusCode != 200 {
		t.Fatalf("new SVID: %d %v", resp.StatusCode, b)
	}
	// A broken bundle file: the refresh fails, the last good bundle stays.
	if err := os.WriteFile(se.aFile, []byte(`{"keys": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := se.tds.Refresh(ctx, se.a.TD); err == nil {
		t.Fatal("a broken bundle file refreshed")
	}
	if resp, b := se.post(jwtForm(se.jwt(t, se.a, se.jwtID, []string{se.issuer})), nil); resp.StatusCode != 200 {
		t.Fatalf("after a failed refresh: %d %v", resp.StatusCode, b)
	}
}

// TestSPIFFERegistration: a SPIFFE client exists only under its SPIFFE ID's
// key; neither the operator nor a self-registering client can give a SPIFFE
// method to any other client_id.
func TestSPIFFERegistration(t *testing.T) {
	t.Parallel()
	se := newSPIFFEEnv(t)
	for _, id := range []string{"payments", "spiffe~", "spiffe~a.test~", "spiffe~A.test~x"} {
		if _, err := se.srv.Registry().Create(context.Background(), &backends.Client{ClientID: id, TokenEndpointAuthMethod: backends.AuthSPIFFEX509, Scope: "read"}); err == nil {
			t.Errorf("spiffe_x509 client %q registered", id)
		}
	}
	resp, b := se.reg(http.MethodPost, broker.PathRegister, se.regToken, map[string]any{"token_endpoint_auth_method": "spiffe_jwt", "scope": "read"})
	if resp.StatusCode != 400 || b["error"] != "invalid_client_metadata" {
		t.Fatalf("self-registered spiffe_jwt client: %d %v", resp.StatusCode, b)
	}
}
