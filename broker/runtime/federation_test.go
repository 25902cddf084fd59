package runtime

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/federation/oidctest"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/config"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// fedEnv is a broker process started from a configuration file with two
// federated issuers — a Kubernetes-shaped and a GitHub-Actions-shaped local
// OIDC issuer over real TLS — and a third issuer configured without
// allow_private, whose loopback jwks_uri the SSRF guard must refuse.
type fedEnv struct {
	*harness
	cfgPath           string
	kube, gh, private *oidctest.Issuer
	issuer            string
	log               *syncBuffer
	auditPath         string
}

func newOIDC(t *testing.T, opts ...oidctest.Option) *oidctest.Issuer {
	t.Helper()
	is, err := oidctest.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { is.Close() })
	return is
}

// fedConfig is the federation section for e's issuers, with templates.
func (e *fedEnv) fedConfig(templates string) string {
	kubeCA := e.write("kube-ca.pem", e.kube.CAPEM)
	ghCA := e.write("gh-ca.pem", e.gh.CAPEM)
	privCA := e.write("priv-ca.pem", e.private.CAPEM)
	return fmt.Sprintf(`tokens:
  default_audience: https://api.example.test
rate_limits:
  failed_per_client: {per_second: 100, burst: 1000}
  failed_per_address: {per_second: 100, burst: 1000}
audit:
  file: %s
federation:
  template_refresh: 50ms
  issuers:
    - issuer: %s
      audience: %s
      allow_private: true
      ca_file: %s
      max_age: 30m
      algs: [RS256]
    - issuer: %s
      jwks_uri: %s
      audience: %s
      allow_private: true
      ca_file: %s
      required_claims:
        repository_owner: octo
    - issuer: %s
      audience: %s
      ca_file: %s
%s`, e.auditPath, e.kube.URL, e.issuer, kubeCA, e.gh.URL, e.gh.JWKSURI(), e.issuer, ghCA, e.private.URL, e.issuer, privCA, templates)
}

const fedTemplates = `  templates:
    - name: payments-k8s
      issuer: %[1]s
      claims:
        sub: system:serviceaccount:payments:*
        kubernetes.io.namespace: payments
      scope: payments:read
      audiences: [https://payments.example.test]
      lifetime: 2m
    - name: deploy-main
      issuer: %[2]s
      claims:
        sub: repo:octo/*:ref:refs/heads/main
        repository: octo/*
      scope: deploy
      audiences: [https://deploy.example.test]
    - name: bound-batch
      issuer: %[1]s
      claims:
        sub: system:serviceaccount:batch:*
      scope: batch
      audiences: [https://batch.example.test]
      bound_tokens: true
`

func newFedEnv(t *testing.T) *fedEnv {
	t.Helper()
	e := &fedEnv{harness: newHarness(t)}
	e.issuer = "https://" + e.addr
	e.kube, e.gh, e.private = newOIDC(t), newOIDC(t, oidctest.WithPath("gh")), newOIDC(t, oidctest.WithAlg(jose.ES256))
	e.auditPath = filepath.Join(e.dir, "audit.log")
	e.cfgPath = e.write("broker.yaml", []byte(e.head()+e.fedConfig(fmt.Sprintf(fedTemplates, e.kube.URL, e.gh.URL))))
	e.register(e.cfgPath, &backends.Client{ClientID: "k8s-api", Scope: "read", TokenEndpointAuthMethod: backends.AuthFederatedJWT,
		FederatedSubject: &backends.FederatedSubject{Issuer: e.kube.URL, Subject: "system:serviceaccount:prod:api"}})
	e.register(e.cfgPath, &backends.Client{ClientID: "gh-deployer", Scope: "read", TokenEndpointAuthMethod: backends.AuthFederatedJWT,
		FederatedSubject: &backends.FederatedSubject{Issuer: e.gh.URL, Subject: "repo:octo/app:ref:refs/heads/release"}})
	_, e.log = e.serve(e.cfgPath)
	return e
}

// post sends a client-credentials request with the assertion (and
// client_id when set) over real TLS.
func (e *fedEnv) post(assertion, clientID string, extra url.Values) (int, map[string]any) {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {authn.AssertionType}, "client_assertion": {assertion}}
	if clientID != "" {
		form.Set("client_id", clientID)
	}
	for k, v := range extra {
		form[k] = v
	}
	return e.postForm(e.httpClient(), e.issuer+broker.PathToken, form)
}

// registerWorkload registers clientID as a federated_jwt client holding the
// Kubernetes service account sa ("namespace:name") of e.kube — an identity
// fedTemplates' payments template also matches.
func (e *fedEnv) registerWorkload(clientID, sa string) {
	e.t.Helper()
	e.register(e.cfgPath, &backends.Client{ClientID: clientID, Scope: "read", TokenEndpointAuthMethod: backends.AuthFederatedJWT,
		FederatedSubject: &backends.FederatedSubject{Issuer: e.kube.URL, Subject: "system:serviceaccount:" + sa}})
}

// requireHeldIdentity checks the aftermath of a template request with tok
// refused because clientID holds its identity: the cause is in the log,
// and named by its client_id the registered client authenticates.
func (e *fedEnv) requireHeldIdentity(t *testing.T, tok, clientID string) {
	t.Helper()
	if !strings.Contains(e.log.String(), "identity held by a registered client") {
		t.Fatalf("cause not logged:\n%s", e.log)
	}
	if code, m := e.post(tok, clientID, nil); code != http.StatusOK {
		t.Fatalf("the registered client: %d %v", code, m)
	}
}

// postWithCert is post over a TLS connection presenting cert.
func (e *fedEnv) postWithCert(cert *tls.Certificate, assertion string) (int, map[string]any) {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {authn.AssertionType}, "client_assertion": {assertion}}
	hc := e.httpClient()
	hc.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{*cert}
	return e.postForm(hc, e.issuer+broker.PathToken, form)
}

func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20q", tok)
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// ok(t)(tok, err) is tok, or the test fails.
func ok(t *testing.T) func(string, error) string {
	return func(tok string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

func TestFederatedClientsGetTokens(t *testing.T) {
	t.Parallel()
	e := newFedEnv(t)
	aud := []string{e.issuer}
	kube := ok(t)(e.kube.Kubernetes("prod", "api", "api-7f9c", oidctest.Token{Audience: aud}))
	gh := ok(t)(e.gh.GitHub("octo/app", "refs/heads/release", oidctest.Token{Audience: aud}))
	for _, tc := range []struct {
		name, assertion, clientID, wantSub, wantScope, wantTemplate string
	}{
		{"registered kubernetes client", kube, "k8s-api", "k8s-api", "read", ""},
		{"registered GitHub client", gh, "gh-deployer", "gh-deployer", "read", ""},
		{"kubernetes template", ok(t)(e.kube.Kubernetes("payments", "worker", "w-1", oidctest.Token{Audience: aud})), "",
			e.kube.URL + "#system:serviceaccount:payments:worker", "payments:read", "payments-k8s"},
		{"GitHub template", ok(t)(e.gh.GitHub("octo/site", "refs/heads/main", oidctest.Token{Audience: aud})), "",
			e.gh.URL + "#repo:octo/site:ref:refs/heads/main", "deploy", "deploy-main"},
	} {
		code, m := e.post(tc.assertion, tc.clientID, nil)
		tok, _ := m["access_token"].(string)
		if code != http.StatusOK || tok == "" {
			t.Fatalf("%s: %d %v\n%s", tc.name, code, m, e.log)
		}
		c := claimsOf(t, tok)
		if c["sub"] != tc.wantSub || c["client_id"] != tc.wantSub || c["scope"] != tc.wantScope {
			t.Errorf("%s: token claims %v", tc.name, c)
		}
		if tc.wantTemplate != "" {
			b, _ := os.ReadFile(e.auditPath)
			if !bytes.Contains(b, []byte(`"template":"`+tc.wantTemplate+`"`)) {
				t.Errorf("%s: no audit event names the template:\n%s", tc.name, b)
			}
		}
	}
	// The same platform token is reusable until max_age: no jti single use.
	if code, m := e.post(kube, "k8s-api", nil); code != http.StatusOK {
		t.Fatalf("reusing the platform token: %d %v", code, m)
	}
	// Template grants bound audiences: another resource is refused.
	if code, m := e.post(ok(t)(e.kube.Kubernetes("payments", "worker", "w-1", oidctest.Token{Audience: aud})), "", url.Values{"resource": {"https://api.example.test"}}); code != http.StatusBadRequest || m["error"] != "invalid_target" {
		t.Fatalf("template workload asked for another audience: %d %v", code, m)
	}
	// bound_tokens: without a client certificate, no token; with one, the
	// token is bound to it (cnf.x5t#S256, RFC 8705 §3).
	batch := ok(t)(e.kube.Kubernetes("batch", "nightly", "n-1", oidctest.Token{Audience: aud}))
	if code, m := e.post(batch, "", nil); code != http.StatusBadRequest || m["access_token"] != nil {
		t.Fatalf("bound template without a certificate: %d %v", code, m)
	}
	certPEM, keyPEM, err := certs.SelfSigned(certs.Leaf{CommonName: "nightly", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	code, m := e.postWithCert(&cert, batch)
	tok, _ := m["access_token"].(string)
	if code != http.StatusOK || tok == "" {
		t.Fatalf("bound template with a certificate: %d %v", code, m)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	if cnf, _ := claimsOf(t, tok)["cnf"].(map[string]any); cnf == nil || cnf["x5t#S256"] != certs.Thumbprint(leaf) {
		t.Fatalf("template token not bound to the certificate: %v", claimsOf(t, tok))
	}
	// Key rotation: a token signed by the issuer's new key verifies (an
	// unknown kid refetches the JWKS).
	if err := e.kube.Rotate(jose.RS256); err != nil {
		t.Fatal(err)
	}
	if code, m := e.post(ok(t)(e.kube.Kubernetes("prod", "api", "api-2", oidctest.Token{Audience: aud})), "k8s-api", nil); code != http.StatusOK {
		t.Fatalf("after rotation: %d %v\n%s", code, m, e.log)
	}
}

// TestFederatedRefusals: each hostile case of issue 13 item 8, through the
// real token endpoint: invalid_client, no token, the cause in the log.
func TestFederatedRefusals(t *testing.T) {
	t.Parallel()
	e := newFedEnv(t)
	aud := []string{e.issuer}
	unconfigured := newOIDC(t, oidctest.WithAlg(jose.ES256))
	attackerKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	active := e.kube.Active()
	spoof := &jose.JSONWebKey{Key: attackerKey, KeyID: active.KeyID, Algorithm: string(jose.ES256)}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spoofRSA := &jose.JSONWebKey{Key: rsaKey, KeyID: active.KeyID, Algorithm: string(jose.RS256)}
	pub, _ := x509.MarshalPKIXPublicKey(active.Public().Key)
	hmacKey := &jose.JSONWebKey{Key: pub, KeyID: active.KeyID, Algorithm: string(jose.HS256)}
	old := time.Now().Add(-45 * time.Minute)
	k8s := func(tok oidctest.Token) string {
		if tok.Audience == nil {
			tok.Audience = aud
		}
		return ok(t)(e.kube.Kubernetes("prod", "api", "api-1", tok))
	}
	gh := func(tok oidctest.Token) string {
		if tok.Audience == nil {
			tok.Audience = aud
		}
		return ok(t)(e.gh.GitHub("octo/app", "refs/heads/release", tok))
	}
	noneTok := func() string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`))
		p, _ := json.Marshal(map[string]any{"iss": e.kube.URL, "sub": "system:serviceaccount:prod:api", "aud": e.issuer, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
		return h + "." + base64.RawURLEncoding.EncodeToString(p) + "."
	}
	now := time.Now().Unix()
	dup := fmt.Sprintf(`{"iss":%q,"sub":"system:serviceaccount:prod:api","sub":"system:serviceaccount:prod:admin","aud":[%q],"iat":%d,"exp":%d}`, e.kube.URL, e.issuer, now, now+600)
	fold := fmt.Sprintf(`{"iss":%q,"sub":"system:serviceaccount:prod:api","SUB":"x","aud":[%q],"iat":%d,"exp":%d}`, e.kube.URL, e.issuer, now, now+600)
	for _, tc := range []struct {
		name, assertion, clientID, logged string
	}{
		{"issuer not configured", ok(t)(unconfigured.Kubernetes("prod", "api", "p", oidctest.Token{Audience: aud})), "k8s-api", "does not match the authenticated client"},
		{"wrong audience", k8s(oidctest.Token{Audience: []string{"https://other.example"}}), "k8s-api", "aud does not name"},
		{"too old", k8s(oidctest.Token{IssuedAt: old, Lifetime: 2 * time.Hour}), "k8s-api", "older than max_age"},
		{"expired", k8s(oidctest.Token{IssuedAt: time.Now().Add(-20 * time.Minute), Lifetime: 10 * time.Minute}), "k8s-api", "token expired"},
		{"no iat", k8s(oidctest.Token{Claims: map[string]any{"iat": nil}}), "k8s-api", "iat missing"},
		{"missing required claim", gh(oidctest.Token{Claims: map[string]any{"repository_owner": nil}}), "gh-deployer", "required claim repository_owner"},
		{"wrong required claim", gh(oidctest.Token{Claims: map[string]any{"repository_owner": "evil"}}), "gh-deployer", "required claim repository_owner"},
		{"spoofed iss, attacker's key", k8s(oidctest.Token{Signer: spoof}), "k8s-api", "allowed algorithm"},
		{"spoofed iss, attacker's RS256 key with the issuer's kid", k8s(oidctest.Token{Signer: spoofRSA}), "k8s-api", "signature does not verify"},
		{"alg confusion HS256 with the public key", k8s(oidctest.Token{Signer: hmacKey}), "k8s-api", "not a JWS with an allowed algorithm"},
		{"alg none", noneTok(), "k8s-api", "not a JWS with an allowed algorithm"},
		{"access token typ", k8s(oidctest.Token{Header: map[jose.HeaderKey]any{jose.HeaderType: "at+jwt"}}), "k8s-api", "is not a JWT client credential"},
		{"private jwks_uri without allow_private", ok(t)(e.private.Kubernetes("prod", "api", "p", oidctest.Token{Audience: aud})), "", "refusing to connect"},
		{"another subject for a registered client", ok(t)(e.kube.Kubernetes("prod", "admin", "p", oidctest.Token{Audience: aud})), "k8s-api", "'s federated subject"},
		{"client_id of an unknown client", k8s(oidctest.Token{}), "nobody", "names no registered client"},
		{"no template matches", ok(t)(e.kube.Kubernetes("billing", "worker", "p", oidctest.Token{Audience: aud})), "", "no client template matches"},
		{"template claim only partly matching", ok(t)(e.kube.Kubernetes("payments", "worker", "p", oidctest.Token{Audience: aud, Claims: map[string]any{"kubernetes.io": map[string]any{"namespace": "billing"}}})), "", "no client template matches"},
		// go-jose's own JSON refuses duplicates: private_key_jwt's parse fails, so the
		// assertion is refused as malformed, never read by either method.
		{"duplicate sub", ok(t)(e.kube.SignRaw([]byte(dup), oidctest.Token{})), "k8s-api", "assertion claims are malformed"},
		{"case-variant sub", ok(t)(e.kube.SignRaw([]byte(fold), oidctest.Token{})), "k8s-api", "appears twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, m := e.post(tc.assertion, tc.clientID, nil)
			if code != http.StatusUnauthorized || m["error"] != "invalid_client" || m["access_token"] != nil {
				t.Fatalf("%d %v", code, m)
			}
			if d, _ := m["error_description"].(string); strings.Contains(d, tc.logged) {
				t.Errorf("the cause leaked into the response: %q", d)
			}
			if !strings.Contains(e.log.String(), tc.logged) {
				t.Fatalf("cause %q not logged:\n%s", tc.logged, e.log)
			}
		})
	}
}

// TestTemplateAmbiguity: a template that could match a registered client's
// identity is refused at start, and one registered after start makes the
// requests for that identity fail (refused, never resolved to either).
func TestTemplateAmbiguity(t *testing.T) {
	t.Parallel()
	e := &fedEnv{harness: newHarness(t)}
	e.issuer = "https://" + e.addr
	e.kube, e.gh, e.private = newOIDC(t), newOIDC(t, oidctest.WithAlg(jose.ES256)), newOIDC(t, oidctest.WithAlg(jose.ES256))
	e.auditPath = filepath.Join(e.dir, "audit.log")
	// Overlapping templates: a configuration error naming the key.
	overlap := fmt.Sprintf(fedTemplates, e.kube.URL, e.gh.URL) + fmt.Sprintf(`    - name: all-workers
      issuer: %s
      claims:
        sub: system:serviceaccount:*:worker
      scope: read
      audiences: [https://x.example.test]
`, e.kube.URL)
	bad := e.write("overlap.yaml", []byte(e.head()+e.fedConfig(overlap)))
	fc, err := config.Load(bad, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(fc); err == nil || !strings.Contains(err.Error(), "federation.templates[3].name") || !strings.Contains(err.Error(), `overlaps template "payments-k8s"`) {
		t.Fatalf("config check of overlapping templates = %v", err)
	}
	// A template's grant is checked like a client's: scope tokens, audiences, lifetime.
	badGrant := strings.Replace(strings.Replace(fmt.Sprintf(fedTemplates, e.kube.URL, e.gh.URL), "scope: deploy", "scope: \"deploy \\\\\"", 1), "[https://deploy.example.test]", "[not-a-uri]", 1)
	badGrant = strings.Replace(badGrant, "lifetime: 2m", "lifetime: 1h", 1)
	badGrant = strings.Replace(badGrant, "issuer: "+e.gh.URL+"\n      claims", "issuer: https://unconfigured.example\n      claims", 1)
	fc, err = config.Load(e.write("grant.yaml", []byte(e.head()+e.fedConfig(badGrant))), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = Check(fc)
	for _, k := range []string{"federation.templates[1].scope", "federation.templates[1].audiences", "federation.templates[0].lifetime", "federation.templates[1].issuer"} {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("config check does not name %s: %v", k, err)
		}
	}
	// A registered client holding an identity a template matches: the start
	// names both in the log (a registration never stops a start, a reload or
	// a replica — TestRegistrantCannotStopTheBroker), and that identity's
	// template requests are refused while the registered client answers.
	e.cfgPath = e.write("broker.yaml", []byte(e.head()+e.fedConfig(fmt.Sprintf(fedTemplates, e.kube.URL, e.gh.URL))))
	e.registerWorkload("payments-api", "payments:api")
	_, e.log = e.serve(e.cfgPath)
	if s := e.log.String(); !strings.Contains(s, `could match`) || !strings.Contains(s, "payments-api") || !strings.Contains(s, `"level":"ERROR"`) {
		t.Fatalf("start with an ambiguous template logged:\n%s", s)
	}
	tok := ok(t)(e.kube.Kubernetes("payments", "api", "p", oidctest.Token{Audience: []string{e.issuer}}))
	if code, m := e.post(tok, "", nil); code != http.StatusUnauthorized || m["access_token"] != nil {
		t.Fatalf("template request for a registered identity: %d %v", code, m)
	}
	e.requireHeldIdentity(t, tok, "payments-api")
}

// TestTemplateAmbiguityAtRequestTime: registered after start (another
// replica, the CLI), the identity's template requests are refused within
// one template_refresh.
func TestTemplateAmbiguityAtRequestTime(t *testing.T) {
	t.Parallel()
	e := newFedEnv(t)
	aud := []string{e.issuer}
	tok := ok(t)(e.kube.Kubernetes("payments", "late", "p", oidctest.Token{Audience: aud}))
	if code, m := e.post(tok, "", nil); code != http.StatusOK {
		t.Fatalf("before: %d %v", code, m)
	}
	e.registerWorkload("late", "payments:late")
	testkit.WaitFor(t, "the template refused for a registered identity", func() bool {
		code, _ := e.post(tok, "", nil)
		return code == http.StatusUnauthorized
	})
	e.requireHeldIdentity(t, tok, "late")
}

// TestFederatedDiscoveryRules: a discovery document that names another
// issuer (OIDC Discovery §4.3) or a jwks_uri that is not https is never
// used: invalid_client, cause logged.
func TestFederatedDiscoveryRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	liar, plain := newOIDC(t, oidctest.WithAlg(jose.ES256)), newOIDC(t, oidctest.WithAlg(jose.ES256))
	liar.SetDiscovery("issuer", "https://someone-else.example")
	plain.SetDiscovery("jwks_uri", strings.Replace(plain.JWKSURI(), "https://", "http://", 1))
	issuer := "https://" + h.addr
	cfg := h.head() + "federation:\n  issuers:\n"
	for i, is := range []*oidctest.Issuer{liar, plain} {
		cfg += fmt.Sprintf("    - issuer: %s\n      audience: %s\n      allow_private: true\n      ca_file: %s\n", is.URL, issuer, h.write(fmt.Sprintf("ca%d.pem", i), is.CAPEM))
	}
	cfgPath := h.write("broker.yaml", []byte(cfg))
	h.register(cfgPath, &backends.Client{ClientID: "liar-app", Scope: "read", TokenEndpointAuthMethod: backends.AuthFederatedJWT,
		FederatedSubject: &backends.FederatedSubject{Issuer: liar.URL, Subject: "system:serviceaccount:a:b"}})
	h.register(cfgPath, &backends.Client{ClientID: "plain-app", Scope: "read", TokenEndpointAuthMethod: backends.AuthFederatedJWT,
		FederatedSubject: &backends.FederatedSubject{Issuer: plain.URL, Subject: "system:serviceaccount:a:b"}})
	_, log := h.serve(cfgPath)
	e := &fedEnv{harness: h, issuer: issuer, log: log}
	for _, tc := range []struct {
		is             *oidctest.Issuer
		client, logged string
	}{
		{liar, "liar-app", "names issuer"},
		{plain, "plain-app", "jwks_uri is not an https URL"},
	} {
		tok := ok(t)(tc.is.Kubernetes("a", "b", "p", oidctest.Token{Audience: []string{issuer}}))
		if code, m := e.post(tok, tc.client, nil); code != http.StatusUnauthorized || m["error"] != "invalid_client" || m["access_token"] != nil {
			t.Fatalf("%s: %d %v", tc.client, code, m)
		}
		if !strings.Contains(log.String(), tc.logged) {
			t.Fatalf("%s: cause %q not logged:\n%s", tc.client, tc.logged, log)
		}
	}
}
