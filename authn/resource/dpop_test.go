package resource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/authn/resource"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/backends/state"
	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
)

// mint signs a token for the API with the broker's own active key, bound
// to the DPoP key jkt and/or the certificate thumbprint x5t.
func (w *world) mint(jkt, x5t string, scopes ...string) string {
	w.t.Helper()
	if len(scopes) == 0 {
		scopes = []string{"read"}
	}
	return w.mintGrant(&accesstoken.Grant{ClientID: "m", Scopes: scopes,
		Audience: []string{apiAudience}, Lifetime: 5 * time.Minute, JKT: jkt, X5tS256: x5t})
}

// mintGrant signs g as an RFC 9068 access token (typ at+jwt) now, with the
// broker's own active key in w's store.
func (w *world) mintGrant(g *accesstoken.Grant) string {
	w.t.Helper()
	ctx := context.Background()
	ring, err := signing.NewKeyring(ctx, signing.NewLocal(w.store, signing.Options{Alg: "ES256"}), signing.WithType("at+jwt"))
	if err != nil {
		w.t.Fatal(err)
	}
	defer ring.Close()
	tok, _, err := accesstoken.Mint(ctx, ringSigner{ring}, w.issuer, g, time.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	return tok
}

// startDPoPAPI starts an API whose verifier (no introspection) checks DPoP
// proofs with d, and returns its URL.
func (w *world) startDPoPAPI(d resource.DPoPConfig) string {
	w.t.Helper()
	v, err := resource.New(context.Background(), resource.Config{Issuer: w.issuer, Audience: apiAudience, DPoP: d,
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.pool}}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		w.t.Fatal(err)
	}
	w.startAPI(v)
	return w.api
}

type ringSigner struct{ ring *signing.Keyring }

func (s ringSigner) Sign(ctx context.Context, payload []byte) (string, error) {
	a := s.ring.Active()
	return accesstoken.SignCompact(ctx, a.Header, payload, a.Sign)
}

func newProver(t testing.TB, opts ...dpop.ProverOption) *dpop.Prover {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := dpop.NewProver(key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func proof(t testing.TB, p *dpop.Prover, method, url, tok, nonce string) string {
	t.Helper()
	s, err := p.Proof(method, url, tok, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send makes one request over TLS with the given Authorization and DPoP headers.
func (w *world) send(method, url, auth string, proofs ...string) *http.Response {
	w.t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.pool}}, Timeout: 5 * time.Second}
	req, _ := http.NewRequest(method, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// challenge checks a refusal: status, and the first challenge's scheme and error.
func challenge(t *testing.T, name string, resp *http.Response, status int, scheme, code string) {
	t.Helper()
	h := resp.Header.Get("WWW-Authenticate")
	first, _, _ := strings.Cut(h, " ")
	if resp.StatusCode != status || first != scheme || (code == "" && strings.Contains(h, "error=")) || (code != "" && !strings.Contains(h, `error="`+code+`"`)) {
		t.Errorf("%s: %d %q, want %d from a %s challenge with error %q", name, resp.StatusCode, h, status, scheme, code)
	}
	if !strings.Contains(h, `DPoP realm=`) || !strings.Contains(h, `algs="ES256 ES384 EdDSA PS256 RS256"`) {
		t.Errorf("%s: no DPoP challenge with algs: %q", name, h)
	}
}

// RFC 9449 §7: a DPoP-bound token passes with a proof of its key for this
// request, on net/http and Echo; every replay of it is refused with the
// §7.1 error of the scheme the request used.
func TestDPoPBoundTokenAtTheAPI(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.startAPI(w.verifier())
	p := newProver(t)
	tok := w.mint(p.JKT(), "")
	read := w.api + "/read"
	auth := "DPoP " + tok

	for _, path := range []string{"/read", "/echo"} {
		if resp := w.send("GET", w.api+path, auth, proof(t, p, "GET", w.api+path, tok, "")); resp.StatusCode != 200 {
			t.Fatalf("%s: DPoP token with its proof: %d %q", path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if resp := w.send("GET", read+"?q=1#f", "dpop "+tok, proof(t, p, "GET", "HTTPS://"+strings.TrimPrefix(read, "https://"), tok, "")); resp.StatusCode != 200 {
		t.Fatalf("scheme in lower case, query on the request, htu scheme in upper case: %d", resp.StatusCode)
	}

	// RFC 9449 §7.2 leaves a bearer token to RFC 6750: a DPoP header beside
	// an unbound Bearer token is ignored (not checked, nothing spent).
	unbound := w.mint("", "")
	if resp := w.send("GET", read, "Bearer "+unbound, "not even a JWT"); resp.StatusCode != 200 {
		t.Fatalf("unbound bearer token with a stray DPoP header: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	challenge(t, "unbound token with the DPoP scheme", w.send("GET", read, "DPoP "+unbound, proof(t, p, "GET", read, unbound, "")), 401, "DPoP", "invalid_token")

	reused := proof(t, p, "GET", read, tok, "")
	if resp := w.send("GET", read, auth, reused); resp.StatusCode != 200 {
		t.Fatalf("first use of a proof: %d", resp.StatusCode)
	}
	stale := newProver(t, dpop.WithProverClock(func() time.Time { return time.Now().Add(-10 * time.Minute) }))
	staleTok := w.mint(stale.JKT(), "")
	other := newProver(t)
	certBound := w.mint("", "x5t-of-some-certificate")
	for _, tc := range []struct {
		name         string
		path, auth   string
		proofs       []string
		status       int
		scheme, code string
	}{
		{name: "no proof", auth: auth, status: 401, scheme: "DPoP", code: "invalid_dpop_proof"},
		{name: "reused jti", auth: auth, proofs: []string{reused}, status: 401, scheme: "DPoP", code: "invalid_dpop_proof"},
		{name: "proof from another key", auth: auth, proofs: []string{proof(t, other, "GET", read, tok, "")}, status: 401, scheme: "DPoP", code: "invalid_token"},
		{name: "proof for another URL", auth: auth, proofs: []string{proof(t, p, "GET", w.api+"/admin", tok, "")}, status: 401, scheme: "DPoP", code: "invalid_dpop_proof"},
		{name: "proof for another method", auth: auth, proofs: []string{proof(t, p, "POST", read, tok, "")}, status: 401, scheme: "DPoP", code: "invalid_dpop_proof"},
		{name: "stale iat", auth: "DPoP " + staleTok, proofs: []string{proof(t, stale, "GET", read, staleTok, "")}, status: 401, scheme: "DPoP", code: "invalid_dpop_proof"},
		{name: "proof without ath", auth: auth, proofs: []string{proof(t, p, "GET", read, "", "")}, status: 401, scheme: "DPoP", code: "invalid_dpop_proof"},
		{name: "proof for another token", auth: auth, proofs: []string{proof(t, p, "GET", read, staleTok, "")}, status: 401, scheme: "DPoP", code: "invalid_dpop_proof"},
		{name: "two proofs", auth: auth, proofs: []string{proof(t, p, "GET", read, tok, ""), proof(t, p, "GET", read, tok, "")}, status: 401, scheme: "DPoP", code: "invalid_dpop_proof"},
		{name: "as Bearer (RFC 9449 §7.2)", auth: "Bearer " + tok, status: 401, scheme: "Bearer", code: "invalid_token"},
		{name: "as Bearer with its proof", auth: "Bearer " + tok, proofs: []string{proof(t, p, "GET", read, tok, "")}, status: 401, scheme: "Bearer", code: "invalid_token"},
		{name: "DPoP scheme, certificate-bound token", auth: "DPoP " + certBound, proofs: []string{proof(t, p, "GET", read, certBound, "")}, status: 401, scheme: "DPoP", code: "invalid_token"},
		{name: "DPoP scheme, not a token", auth: "DPoP a b", status: 400, scheme: "DPoP", code: "invalid_request"},
		{name: "no credentials", status: 401, scheme: "Bearer"},
		{name: "another scheme", auth: "Basic Zm9vOmJhcg==", status: 401, scheme: "Bearer"},
		{name: "DPoP, insufficient scope", path: "/admin", auth: auth, proofs: []string{proof(t, p, "GET", w.api+"/admin", tok, "")}, status: 403, scheme: "DPoP", code: "insufficient_scope"},
		{name: "Echo: no proof", path: "/echo", auth: auth, status: 401, scheme: "DPoP", code: "invalid_dpop_proof"},
		{name: "Echo: as Bearer", path: "/echo", auth: "Bearer " + tok, status: 401, scheme: "Bearer", code: "invalid_token"},
	} {
		path := tc.path
		if path == "" {
			path = "/read"
		}
		challenge(t, tc.name, w.send("GET", w.api+path, tc.auth, tc.proofs...), tc.status, tc.scheme, tc.code)
	}
}

// An API behind a TLS-terminating proxy compares htu with the URL its
// clients use (DPoPConfig.BaseURL), never with the Host header a client
// chose: a proof made for another server is refused even with a Host
// header naming that server.
func TestDPoPBaseURL(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	p := newProver(t)
	tok := w.mint(p.JKT(), "")
	const public = "https://api.example.test/v1"
	for _, tc := range []struct {
		base, host, htu string
		ok              bool
	}{
		{public, "", public + "/read", true},
		{public, "", "https://127.0.0.1/read", false},
		{public, "other.example.test", "https://other.example.test/read", false},
		{"", "other.example.test", "https://other.example.test/read", false}, // no base: DPoP refused, never the Host the caller chose
		{"", "", "https://127.0.0.1/read", false},
	} {
		v, err := resource.New(context.Background(), resource.Config{Issuer: w.issuer, Audience: apiAudience, DPoP: resource.DPoPConfig{BaseURL: tc.base},
			HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.pool}}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		h := v.Middleware(resource.Scopes("read"))(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {}))
		req := httptest.NewRequest("GET", "https://127.0.0.1/read", nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", proof(t, p, "GET", tc.htu, tok, ""))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if (rec.Code == 200) != tc.ok {
			t.Errorf("base %q, Host %q, htu %q: %d %q", tc.base, tc.host, tc.htu, rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
	}
	for _, bad := range []string{"api.example.test", "https://", "https://u:p@api.example.test", "https://api.example.test/?x", "ftp://api.example.test"} {
		if _, err := resource.New(context.Background(), resource.Config{Issuer: w.issuer, Audience: apiAudience, DPoP: resource.DPoPConfig{BaseURL: bad}}); err == nil {
			t.Errorf("base URL %q accepted", bad)
		}
	}
}

// RFC 9449 §9: with nonces on, a proof without one is answered 401
// use_dpop_nonce and a DPoP-Nonce header; the proof carrying it passes.
func TestDPoPNonceAtTheAPI(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	key := make([]byte, 32)
	rand.Read(key)
	nonces, err := dpop.NewNonces(key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v, err := resource.New(context.Background(), resource.Config{Issuer: w.issuer, Audience: apiAudience, DPoP: resource.DPoPConfig{BaseURL: w.api, Nonces: nonces},
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.pool}}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	w.startAPI(v)
	p := newProver(t)
	tok := w.mint(p.JKT(), "")
	read := w.api + "/read"
	resp := w.send("GET", read, "DPoP "+tok, proof(t, p, "GET", read, tok, ""))
	challenge(t, "no nonce", resp, 401, "DPoP", "use_dpop_nonce")
	n := resp.Header.Get("DPoP-Nonce")
	if !nonces.Valid(n, time.Now()) {
		t.Fatalf("DPoP-Nonce %q", n)
	}
	challenge(t, "a made-up nonce", w.send("GET", read, "DPoP "+tok, proof(t, p, "GET", read, tok, "made-up")), 401, "DPoP", "use_dpop_nonce")
	for _, path := range []string{"/read", "/echo"} {
		resp := w.send("GET", w.api+path, "DPoP "+tok, proof(t, p, "GET", w.api+path, tok, n))
		if resp.StatusCode != 200 {
			t.Fatalf("%s: proof with the nonce: %d %q", path, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		// §9: a fresh nonce with the answer, for the next proof.
		if next := resp.Header.Get("DPoP-Nonce"); !nonces.Valid(next, time.Now()) {
			t.Fatalf("%s: accepted request answered with DPoP-Nonce %q", path, next)
		}
	}
}

// Each client has its own share of the replay store: a client that spends
// its share is refused, another client is not — and a proof from a key the
// token is not bound to spends nothing.
func TestDPoPReplayShares(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	store := state.NewMemory(1000)
	w.startDPoPAPI(resource.DPoPConfig{BaseURL: w.api, Replay: store, MaxProofsPerClient: 3})
	read := w.api + "/read"
	greedy, modest := newProver(t), newProver(t)
	gt, mt := w.mintFor("greedy", greedy.JKT()), w.mintFor("modest", modest.JKT())
	// A stolen token with the thief's proofs: refused, and not one entry of the owner's share spent.
	for range 5 {
		challenge(t, "thief", w.send("GET", read, "DPoP "+mt, proof(t, greedy, "GET", read, mt, "")), 401, "DPoP", "invalid_token")
	}
	for i := range 3 {
		if resp := w.send("GET", read, "DPoP "+gt, proof(t, greedy, "GET", read, gt, "")); resp.StatusCode != 200 {
			t.Fatalf("greedy proof %d: %d", i, resp.StatusCode)
		}
	}
	challenge(t, "share spent", w.send("GET", read, "DPoP "+gt, proof(t, greedy, "GET", read, gt, "")), 401, "DPoP", "invalid_dpop_proof")
	for i := range 3 {
		if resp := w.send("GET", read, "DPoP "+mt, proof(t, modest, "GET", read, mt, "")); resp.StatusCode != 200 {
			t.Fatalf("another client's proof %d after the greedy one filled its share: %d", i, resp.StatusCode)
		}
	}
}

// Two replicas of an API sharing Redis: a proof spent on one is refused by
// the other (RFC 9449 §11.1).
func TestDPoPReplayAcrossReplicasOnRedis(t *testing.T) {
	t.Parallel()
	addr, stop := statetest.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	w := newWorld(t)
	var apis []string
	for range 2 {
		apis = append(apis, w.startDPoPAPI(resource.DPoPConfig{BaseURL: "https://api.example.test", Replay: state.NewRedis(c, "rs:")}))
	}
	p := newProver(t)
	tok := w.mint(p.JKT(), "")
	pr := proof(t, p, "GET", "https://api.example.test/read", tok, "")
	if resp := w.send("GET", apis[0]+"/read", "DPoP "+tok, pr); resp.StatusCode != 200 {
		t.Fatalf("replica 1: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	challenge(t, "replica 2, same proof", w.send("GET", apis[1]+"/read", "DPoP "+tok, pr), 401, "DPoP", "invalid_dpop_proof")
	if resp := w.send("GET", apis[1]+"/read", "DPoP "+tok, proof(t, p, "GET", "https://api.example.test/read", tok, "")); resp.StatusCode != 200 {
		t.Fatalf("replica 2, fresh proof: %d", resp.StatusCode)
	}
	// Redis gone: a valid proof cannot be checked for replay, so it is not
	// accepted (fail closed) — 503, the server's trouble, not the client's.
	stop()
	resp := w.send("GET", apis[0]+"/read", "DPoP "+tok, proof(t, p, "GET", "https://api.example.test/read", tok, ""))
	if resp.StatusCode != 503 || strings.Contains(resp.Header.Get("WWW-Authenticate"), "error=") {
		t.Fatalf("replay store down: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// FuzzDPoPHeaders: whatever the Authorization and DPoP headers, the
// middleware lets nothing through without a valid token and its proof, and
// never answers 5xx.
func FuzzDPoPHeaders(f *testing.F) {
	w := newWorld(f)
	v := w.verifier()
	p := newProver(f)
	tok := w.mint(p.JKT(), "")
	h := v.Middleware(resource.Scopes("read"))(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(299) }))
	good := proof(f, p, "GET", "https://api.example.test/read", tok, "")
	for _, s := range [][2]string{
		{"DPoP " + tok, good}, {"DPoP " + tok, ""}, {"Bearer " + tok, good}, {"DPoP", good}, {"DPoP  " + tok, good + "," + good},
		{"dpop " + tok + "=", "a.b.c"}, {"DPoP " + tok, strings.Repeat("e", 9000)}, {"DPoP ===", "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30."},
	} {
		f.Add(s[0], s[1])
	}
	spent := false // the fuzzer cannot sign: a 2xx can only come from the seed's proof, and only once
	f.Fuzz(func(t *testing.T, auth, proofHeader string) {
		req := httptest.NewRequest(http.MethodGet, "https://api.example.test/read", nil)
		req.Header.Set("Authorization", auth)
		if proofHeader != "" {
			req.Header.Set("DPoP", proofHeader)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q / %q", rec.Code, auth, proofHeader)
		}
		if rec.Code == 299 {
			if spent || proofHeader != good {
				t.Fatalf("let through: %q / %q", auth, proofHeader)
			}
			spent = true
		}
	})
}

// BenchmarkVerifyDPoP is the per-request cost of the middleware's check of
// a DPoP-bound token: the token as BenchmarkVerify, plus the proof (one
// more ES256 verification, the JWK thumbprint, the in-memory jti record).
// Proofs are made before the timer starts.
func BenchmarkVerifyDPoP(b *testing.B) {
	w := newWorld(b)
	v := w.verifier()
	p := newProver(b)
	tok := w.mint(p.JKT(), "")
	proofs := make([]string, b.N)
	for i := range proofs {
		proofs[i] = proof(b, p, "GET", "https://api.example.test/read", tok, "")
	}
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		reqs[i] = httptest.NewRequest(http.MethodGet, "https://api.example.test/read", nil)
		reqs[i].Header.Set("DPoP", proofs[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(b.Context(), reqs[i], tok); err != nil {
			b.Fatal(err)
		}
	}
}
