package integration_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/authn/dpop/dpoptest"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
)

var ccForm = url.Values{"grant_type": {"client_credentials"}}

func dpopKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func prover(t *testing.T, k *ecdsa.PrivateKey) *dpop.Prover {
	t.Helper()
	p, err := dpop.NewProver(k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// proofHeader is a DPoP header of values (each one header line).
func proofHeader(h http.Header, values ...string) http.Header {
	out := http.Header{}
	for k, v := range h {
		out[k] = v
	}
	out["Dpop"] = values
	return out
}

func (e *env) proof(p *dpop.Prover, htu, nonce string) string {
	e.t.Helper()
	s, err := p.Proof(http.MethodPost, htu, "", nonce)
	if err != nil {
		e.t.Fatal(err)
	}
	e.handedOut = append(e.handedOut, s)
	return s
}

// refused asserts an RFC 9449 §5 refusal: 400, the error code, no token,
// and the cause in the log since mark.
func (e *env) refused(resp *http.Response, b map[string]any, code string, mark int, cause string) {
	e.t.Helper()
	if resp.StatusCode != http.StatusBadRequest || b["error"] != code || b["access_token"] != nil {
		e.t.Fatalf("got %d %v, want 400 %s and no token", resp.StatusCode, b, code)
	}
	if logs := e.logs.String()[mark:]; !strings.Contains(logs, cause) {
		e.t.Fatalf("cause %q not logged:\n%s", cause, logs)
	}
}

// TestDPoPTokenEndpoint: a proof on /token yields token_type DPoP and
// cnf.jkt (RFC 9449 §5, §6.1); introspection says so (§6.2); the metadata
// lists the algorithms (§5.1); dpop_bound_access_tokens makes a proof
// mandatory (§5.2); without a proof nothing changes.
func TestDPoPTokenEndpoint(t *testing.T) {
	e := newEnv(t)
	req := e.client(&backends.Client{ClientID: "dpop-required", Scope: "read", DPoPBoundAccessTokens: true})
	plain := e.client(&backends.Client{ClientID: "plain", Scope: "read"})
	rs := e.client(&backends.Client{ClientID: "rs", Scope: "read"})
	p := prover(t, dpopKey(t))

	resp, b := e.post(ccForm, proofHeader(basic("dpop-required", req), e.proof(p, e.issuer+broker.PathToken, "")))
	if resp.StatusCode != 200 || b["token_type"] != "DPoP" {
		t.Fatalf("%d %v\n%s", resp.StatusCode, b, e.logs)
	}
	claims, _ := e.verify(b["access_token"].(string))
	if claims.Cnf == nil || claims.Cnf.JKT != p.JKT() || claims.Cnf.X5tS256 != "" {
		t.Fatalf("cnf %+v, want jkt %s only", claims.Cnf, p.JKT())
	}
	_, in := e.form(broker.PathIntrospect, url.Values{"token": {b["access_token"].(string)}}, basic("rs", rs))
	if cnf, _ := in["cnf"].(map[string]any); in["active"] != true || in["token_type"] != "DPoP" || cnf["jkt"] != p.JKT() {
		t.Fatalf("introspection %v", in)
	}

	mark := len(e.logs.String())
	resp, b = e.post(ccForm, basic("dpop-required", req))
	e.refused(resp, b, "invalid_dpop_proof", mark, "no DPoP proof from a client registered with dpop_bound_access_tokens")

	resp, b = e.post(ccForm, basic("plain", plain))
	if resp.StatusCode != 200 || b["token_type"] != "Bearer" {
		t.Fatalf("no proof: %d %v", resp.StatusCode, b)
	}
	if c, _ := e.verify(b["access_token"].(string)); c.Cnf != nil {
		t.Fatalf("bearer token with cnf %+v", c.Cnf)
	}
	_, in = e.form(broker.PathIntrospect, url.Values{"token": {b["access_token"].(string)}}, basic("rs", rs))
	if in["token_type"] != "Bearer" || in["cnf"] != nil {
		t.Fatalf("introspection of a bearer token %v", in)
	}
	// A client that did not register the requirement may still ask for DPoP.
	resp, b = e.post(ccForm, proofHeader(basic("plain", plain), e.proof(p, e.issuer+broker.PathToken, "")))
	if resp.StatusCode != 200 || b["token_type"] != "DPoP" {
		t.Fatalf("optional DPoP: %d %v", resp.StatusCode, b)
	}

	mresp, err := e.http.Get(e.issuer + broker.PathMetadata)
	if err != nil {
		t.Fatal(err)
	}
	defer mresp.Body.Close()
	var md map[string]any
	_ = json.NewDecoder(mresp.Body).Decode(&md)
	algs, _ := md["dpop_signing_alg_values_supported"].([]any)
	if len(algs) == 0 || algs[0] != "ES256" {
		t.Fatalf("dpop_signing_alg_values_supported %v", md["dpop_signing_alg_values_supported"])
	}
	for _, a := range algs {
		if a == "none" || strings.HasPrefix(a.(string), "HS") {
			t.Fatalf("advertised %v", a)
		}
	}
}

// TestDPoPProofRefusals: every refusal of RFC 9449 §4.3 through the real
// endpoint over TLS: 400 invalid_dpop_proof, no token, the cause logged,
// the proof not logged.
func TestDPoPProofRefusals(t *testing.T) {
	e := newEnv(t)
	secret := e.client(&backends.Client{ClientID: "c", Scope: "read"})
	k := dpopKey(t)
	other := dpopKey(t)
	htu := e.issuer + broker.PathToken
	now := time.Now()
	good := func() map[string]any { return dpoptest.Claims("POST", htu, now) }
	priv, _ := json.Marshal(map[string]any{"kty": "EC", "crv": "P-256", "x": b64u(k.X.Bytes()), "y": b64u(k.Y.Bytes()), "d": b64u(k.D.Bytes())})
	used := dpoptest.Forge(t, k, nil, good())
	if r, b := e.post(ccForm, proofHeader(basic("c", secret), used)); r.StatusCode != 200 {
		t.Fatalf("good proof: %d %v", r.StatusCode, b)
	}
	for _, tc := range []struct {
		name   string
		values []string
		cause  string
	}{
		{"two DPoP headers", []string{dpoptest.Forge(t, k, nil, good()), dpoptest.Forge(t, k, nil, good())}, "more than one DPoP header"},
		{"wrong typ", []string{dpoptest.Forge(t, k, map[string]any{"typ": "JWT"}, good())}, "is not dpop+jwt"},
		{"alg none", []string{dpoptest.Forge(t, nil, map[string]any{"alg": "none", "jwk": dpoptest.JWK(k)}, good())}, "allowed algorithm"},
		{"alg HS256", []string{dpoptest.HS256(t, k, []byte("guess"), good())}, "allowed algorithm"},
		{"private key in jwk", []string{dpoptest.Forge(t, k, map[string]any{"jwk": json.RawMessage(priv)}, good())}, "private key material"},
		{"bad signature", []string{dpoptest.Forge(t, k, map[string]any{"jwk": dpoptest.JWK(other)}, good())}, "signature does not verify"},
		{"wrong htm", []string{dpoptest.Forge(t, k, nil, dpoptest.With(good(), "htm", "GET"))}, "proof htm"},
		{"wrong htu host", []string{dpoptest.Forge(t, k, nil, dpoptest.With(good(), "htu", "https://evil.example/token"))}, "is not this endpoint"},
		{"htu of another endpoint", []string{dpoptest.Forge(t, k, nil, dpoptest.With(good(), "htu", e.issuer+broker.PathIntrospect))}, "is not this endpoint"},
		{"stale iat", []string{dpoptest.Forge(t, k, nil, dpoptest.With(good(), "iat", now.Add(-2*time.Minute).Unix()))}, "iat too old"},
		{"future iat", []string{dpoptest.Forge(t, k, nil, dpoptest.With(good(), "iat", now.Add(time.Minute).Unix()))}, "iat in the future"},
		{"no jti", []string{dpoptest.Forge(t, k, nil, dpoptest.With(good(), "jti", nil))}, "no jti"},
		{"reused jti", []string{used}, "replayed"},
		{"oversized", []string{dpoptest.Forge(t, k, nil, dpoptest.With(good(), "pad", strings.Repeat("x", 5000)))}, "larger than"},
		{"duplicate claim", []string{dpoptest.Forge(t, k, nil, []byte(`{"jti":"d1","htm":"GET","htm":"POST","htu":"`+htu+`","iat":`+itoa(now.Unix())+`}`))}, "appears twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.handedOut = append(e.handedOut, tc.values...)
			mark := len(e.logs.String())
			resp, b := e.post(ccForm, proofHeader(basic("c", secret), tc.values...))
			e.refused(resp, b, "invalid_dpop_proof", mark, tc.cause)
			if d, _ := b["error_description"].(string); d != "invalid DPoP proof" {
				t.Fatalf("the description leaks the cause: %q", d)
			}
		})
	}
	// htu compares without query and fragment (RFC 9449 §4.3 item 9).
	if r, b := e.post(ccForm, proofHeader(basic("c", secret), dpoptest.Forge(t, k, nil, dpoptest.With(good(), "htu", htu+"?x=1#f")))); r.StatusCode != 200 {
		t.Fatalf("htu with a query: %d %v", r.StatusCode, b)
	}
	// The Host header does not choose the htu: a proof made for another
	// server does not match by naming that server in Host.
	req, _ := http.NewRequest(http.MethodPost, htu, strings.NewReader(ccForm.Encode()))
	req.Header = proofHeader(basic("c", secret), dpoptest.Forge(t, k, nil, dpoptest.With(good(), "htu", "https://evil.example/token")))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = "evil.example"
	mark := len(e.logs.String())
	resp, b := e.do(req)
	e.refused(resp, b, "invalid_dpop_proof", mark, "is not this endpoint")
}

// TestDPoPBadProofSpendsNoCredential: the proof is checked before client
// authentication, so a refused proof costs no assertion jti (the same
// assertion then works with a good proof), and no token comes of it.
func TestDPoPBadProofSpendsNoCredential(t *testing.T) {
	e := newEnv(t)
	key := newAssertionKey(t, "k1")
	e.client(&backends.Client{ClientID: "jwt", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKS: key.jwks()})
	k := dpopKey(t)
	a := key.sign(t, "jwt", e.issuer, nil)
	mark := len(e.logs.String())
	resp, b := e.post(assertionForm(a), proofHeader(nil, dpoptest.Forge(t, k, map[string]any{"typ": "JWT"}, dpoptest.Claims("POST", e.issuer+broker.PathToken, time.Now()))))
	e.refused(resp, b, "invalid_dpop_proof", mark, "typ")
	resp, b = e.post(assertionForm(a), proofHeader(nil, e.proof(prover(t, k), e.issuer+broker.PathToken, "")))
	if resp.StatusCode != 200 || b["token_type"] != "DPoP" {
		t.Fatalf("the assertion a bad proof came with was spent: %d %v", resp.StatusCode, b)
	}
	// The other way round: a good proof (stolen, say) with bad credentials
	// is refused and its jti not spent — nobody without credentials burns a
	// client's proofs or fills its share.
	secret := e.client(&backends.Client{ClientID: "s", Scope: "read"})
	proof := e.proof(prover(t, k), e.issuer+broker.PathToken, "")
	if resp, _ := e.post(ccForm, proofHeader(basic("s", "wrong"), proof)); resp.StatusCode != 401 {
		t.Fatalf("wrong secret: %d", resp.StatusCode)
	}
	if resp, b := e.post(ccForm, proofHeader(basic("s", secret), proof)); resp.StatusCode != 200 {
		t.Fatalf("a refused request spent the proof's jti: %d %v", resp.StatusCode, b)
	}
}

// TestDPoPJTIShare: each client holds at most its share of live proof jtis
// (shared_state.max_jtis_per_client); one that fills it has its own proofs
// refused, nobody else's.
func TestDPoPJTIShare(t *testing.T) {
	e := newEnv(t, func(c *broker.Config, _ *cache.Options) { c.DPoP.MaxJTIsPerClient = 2 })
	a := e.client(&backends.Client{ClientID: "a", Scope: "read"})
	b := e.client(&backends.Client{ClientID: "b", Scope: "read"})
	p := prover(t, dpopKey(t))
	for range 2 {
		if resp, body := e.post(ccForm, proofHeader(basic("a", a), e.proof(p, e.issuer+broker.PathToken, ""))); resp.StatusCode != 200 {
			t.Fatalf("within the share: %d %v", resp.StatusCode, body)
		}
	}
	mark := len(e.logs.String())
	resp, body := e.post(ccForm, proofHeader(basic("a", a), e.proof(p, e.issuer+broker.PathToken, "")))
	e.refused(resp, body, "invalid_dpop_proof", mark, "share of the replay cache")
	if resp, body := e.post(ccForm, proofHeader(basic("b", b), e.proof(p, e.issuer+broker.PathToken, ""))); resp.StatusCode != 200 {
		t.Fatalf("another client after a full share: %d %v", resp.StatusCode, body)
	}
}

// TestDPoPBindingRule: exactly one binding (docs/dpop.md). An mTLS client
// sending a proof gets cnf.jkt only; a client registered for
// certificate-bound tokens may not send one; the proof may be made for the
// mTLS alias (RFC 8705 §5).
func TestDPoPBindingRule(t *testing.T) {
	e := newEnv(t)
	e.client(&backends.Client{ClientID: "m", TokenEndpointAuthMethod: backends.AuthTLSClient, TLSClientAuthSANDNS: "m.example.test", Scope: "read"})
	bs := e.client(&backends.Client{ClientID: "bound", Scope: "read", TLSClientCertificateBoundAccessTokens: true})
	cert, _ := e.leafCert(nil, certs.Leaf{CommonName: "m", DNSNames: []string{"m.example.test"}, Client: true})
	p := prover(t, dpopKey(t))
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"m"}}
	resp, b := e.postVia(e.withCert(&cert), e.mtlsBase, form, proofHeader(nil, e.proof(p, e.mtlsBase+broker.PathToken, "")))
	if resp.StatusCode != 200 || b["token_type"] != "DPoP" {
		t.Fatalf("mTLS client with a proof for the alias: %d %v\n%s", resp.StatusCode, b, e.logs)
	}
	if c, _ := e.verify(b["access_token"].(string)); c.Cnf == nil || c.Cnf.JKT != p.JKT() || c.Cnf.X5tS256 != "" {
		t.Fatalf("cnf %+v: want jkt only", c.Cnf)
	}
	// Without a proof the same client keeps its certificate binding.
	resp, b = e.postVia(e.withCert(&cert), e.mtlsBase, form, nil)
	if c, _ := e.verify(b["access_token"].(string)); resp.StatusCode != 200 || b["token_type"] != "Bearer" || c.Cnf == nil || c.Cnf.X5tS256 == "" || c.Cnf.JKT != "" {
		t.Fatalf("no proof: %d %v %+v", resp.StatusCode, b, c.Cnf)
	}
	mark := len(e.logs.String())
	bcert, _ := e.leafCert(nil, certs.Leaf{CommonName: "bound", Client: true})
	resp, b = e.postVia(e.withCert(&bcert), e.issuer, ccForm, proofHeader(basic("bound", bs), e.proof(p, e.issuer+broker.PathToken, "")))
	e.refused(resp, b, "invalid_request", mark, "tls_client_certificate_bound_access_tokens")
}

// TestDPoPFailuresCharged: an invalid proof is charged to the failure
// buckets like a failed authentication (429 once they are empty), and a
// request whose credentials and proof verify still gets its token.
func TestDPoPFailuresCharged(t *testing.T) {
	e := newEnv(t, func(c *broker.Config, _ *cache.Options) {
		c.RateLimits.FailedPerClient = broker.Rate{PerSecond: 0.001, Burst: 2}
	})
	secret := e.client(&backends.Client{ClientID: "c", Scope: "read"})
	k := dpopKey(t)
	bad := func() string {
		return dpoptest.Forge(t, k, nil, dpoptest.Claims("GET", e.issuer+broker.PathToken, time.Now()))
	}
	for i := range 2 {
		if r, b := e.post(ccForm, proofHeader(basic("c", secret), bad())); r.StatusCode != 400 {
			t.Fatalf("bad proof %d: %d %v", i, r.StatusCode, b)
		}
	}
	if r, b := e.post(ccForm, proofHeader(basic("c", secret), bad())); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("third bad proof: %d %v", r.StatusCode, b)
	}
	if r, b := e.post(ccForm, proofHeader(basic("c", secret), e.proof(prover(t, k), e.issuer+broker.PathToken, ""))); r.StatusCode != 200 {
		t.Fatalf("a verified request was limited: %d %v", r.StatusCode, b)
	}
}

// TestDPoPNonces: with nonces on (RFC 9449 §8) a proof without one gets 400
// use_dpop_nonce and a DPoP-Nonce header, not charged to the failure
// limits; the retry with the served nonce gets its token and a fresh nonce.
func TestDPoPNonces(t *testing.T) {
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("k", 32)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *broker.Config, _ *cache.Options) {
		c.DPoP.Nonces = nonces
		c.RateLimits.FailedPerClient = broker.Rate{PerSecond: 0.001, Burst: 1}
	})
	secret := e.client(&backends.Client{ClientID: "c", Scope: "read", DPoPBoundAccessTokens: true})
	p := prover(t, dpopKey(t))
	var nonce string
	for range 3 { // more than the failure burst: use_dpop_nonce is not a failure
		mark := len(e.logs.String())
		resp, b := e.post(ccForm, proofHeader(basic("c", secret), e.proof(p, e.issuer+broker.PathToken, "")))
		e.refused(resp, b, "use_dpop_nonce", mark, "nonce")
		if nonce = resp.Header.Get("DPoP-Nonce"); nonce == "" {
			t.Fatal("no DPoP-Nonce header")
		}
	}
	resp, b := e.post(ccForm, proofHeader(basic("c", secret), e.proof(p, e.issuer+broker.PathToken, "forged"+nonce[6:])))
	if resp.StatusCode != 400 || b["error"] != "use_dpop_nonce" {
		t.Fatalf("forged nonce: %d %v", resp.StatusCode, b)
	}
	resp, b = e.post(ccForm, proofHeader(basic("c", secret), e.proof(p, e.issuer+broker.PathToken, nonce)))
	if resp.StatusCode != 200 || b["token_type"] != "DPoP" || resp.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("with the served nonce: %d %v %v", resp.StatusCode, b, resp.Header)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func b64u(b []byte) string {
	return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(b64(pad32(b))), "=")
}

// pad32 left-pads a P-256 coordinate to 32 bytes (RFC 7518 §6.2.1.2).
func pad32(b []byte) []byte {
	out := make([]byte, 32)
	copy(out[32-len(b):], b)
	return out
}

// TestDPoPTwoReplicasOnRedis: a proof jti used at one replica is refused at
// the other (RFC 9449 §11.1, the shared state on real Redis), and a nonce
// one replica served is accepted by the other (the shared nonce key).
func TestDPoPTwoReplicasOnRedis(t *testing.T) {
	addr, stopRedis := statetest.StartRedis(t)
	shared := state.NewRedis(redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1}), "tb:")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	withNonces := func(c *broker.Config, _ *cache.Options) {
		n, err := dpop.NewNonces(key, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		c.DPoP.Nonces = n
	}
	replicaState = shared
	e1 := newEnv(t, withNonces)
	replicaDir, replicaIssuer = e1.store.Dir(), e1.issuer
	e2 := newEnv(t, withNonces)
	replicaDir, replicaState, replicaIssuer = "", nil, ""

	secret := e1.client(&backends.Client{ClientID: "c", Scope: "read"})
	p := prover(t, dpopKey(t))
	htu := e1.issuer + broker.PathToken // the replicas share the issuer
	resp, _ := e1.post(ccForm, proofHeader(basic("c", secret), e1.proof(p, htu, "")))
	nonce := resp.Header.Get("DPoP-Nonce")
	if resp.StatusCode != 400 || nonce == "" {
		t.Fatalf("replica 1 without a nonce: %d", resp.StatusCode)
	}
	proof := e1.proof(p, htu, nonce)
	e2.handedOut = append(e2.handedOut, proof)
	if resp, b := e2.post(ccForm, proofHeader(basic("c", secret), proof)); resp.StatusCode != 200 || b["token_type"] != "DPoP" {
		t.Fatalf("replica 2 with replica 1's nonce: %d %v\n%s", resp.StatusCode, b, e2.logs)
	}
	mark := len(e1.logs.String())
	resp, b := e1.post(ccForm, proofHeader(basic("c", secret), proof))
	e1.refused(resp, b, "invalid_dpop_proof", mark, "replayed")
	// Redis down: a proof's jti cannot be recorded, so no token (fail
	// closed), while the same client without DPoP is unaffected.
	_, nonce = func() (*http.Response, string) {
		r, _ := e1.post(ccForm, proofHeader(basic("c", secret), e1.proof(p, htu, "")))
		return r, r.Header.Get("DPoP-Nonce")
	}()
	stopRedis()
	resp, b = e1.post(ccForm, proofHeader(basic("c", secret), e1.proof(p, htu, nonce)))
	if resp.StatusCode != 503 || b["error"] != "temporarily_unavailable" || b["access_token"] != nil {
		t.Fatalf("Redis down: %d %v", resp.StatusCode, b)
	}
	if resp, b := e1.post(ccForm, basic("c", secret)); resp.StatusCode != 200 {
		t.Fatalf("Redis down, no DPoP: %d %v", resp.StatusCode, b)
	}
}

// TestDPoPRegistration: RFC 9449 §5.2 through RFC 7591/7592 — a client
// registers dpop_bound_access_tokens, its own update cannot drop it (the
// ceiling), a case variant or a string is refused, and the requirement is
// enforced at /token.
func TestDPoPRegistration(t *testing.T) {
	e := newEnv(t)
	resp, b := e.reg("POST", broker.PathRegister, e.regToken, map[string]any{"scope": "read", "dpop_bound_access_tokens": true})
	if resp.StatusCode != 201 || b["dpop_bound_access_tokens"] != true {
		t.Fatalf("register: %d %v", resp.StatusCode, b)
	}
	id, secret, rat := b["client_id"].(string), b["client_secret"].(string), b["registration_access_token"].(string)
	if status, code, body := e.putMeta(id, rat, map[string]any{"scope": "read", "dpop_bound_access_tokens": false}); status != 200 || body["dpop_bound_access_tokens"] != true {
		t.Fatalf("self-update dropping DPoP: %d %s %v", status, code, body)
	}
	for name, body := range map[string]string{
		"case variant":  `{"scope":"read","dpop_bound_access_tokens":true,"DPoP_Bound_Access_Tokens":false}`,
		"a string":      `{"scope":"read","dpop_bound_access_tokens":"false"}`,
		"both bindings": `{"scope":"read","dpop_bound_access_tokens":true,"tls_client_certificate_bound_access_tokens":true}`,
	} {
		if resp, b := e.reg("POST", broker.PathRegister, e.regToken, body); resp.StatusCode != 400 || b["error"] != "invalid_client_metadata" {
			t.Fatalf("%s: %d %v", name, resp.StatusCode, b)
		}
	}
	mark := len(e.logs.String())
	resp, b = e.post(ccForm, basic(id, secret))
	e.refused(resp, b, "invalid_dpop_proof", mark, "dpop_bound_access_tokens")
	if resp, b := e.post(ccForm, proofHeader(basic(id, secret), e.proof(prover(t, dpopKey(t)), e.issuer+broker.PathToken, ""))); resp.StatusCode != 200 || b["token_type"] != "DPoP" {
		t.Fatalf("with a proof: %d %v", resp.StatusCode, b)
	}
}
