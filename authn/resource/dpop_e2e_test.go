package resource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/authn/resource"
	"github.com/tokenbroker/tokenbroker/authn/tokensource"
	"github.com/tokenbroker/tokenbroker/broker"
)

// dpopSource is the kit as client "d", holding key for DPoP.
func (w *world) dpopSource(key *ecdsa.PrivateKey) *tokensource.Source {
	w.t.Helper()
	s, err := tokensource.New(tokensource.Config{TokenURL: w.issuer + broker.PathToken, ClientID: "d", Secret: w.dpopSecret, RootCAs: w.pool,
		Scopes: []string{"read"}, DPoP: &tokensource.DPoP{Key: key}})
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func newNonces(t testing.TB) *dpop.Nonces {
	k := make([]byte, 32)
	rand.Read(k)
	n, err := dpop.NewNonces(k, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// getJSON calls url with the kit's client and decodes the API's answer.
func getJSON(t *testing.T, c *http.Client, url string) map[string]any {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %q %s", url, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b)
	}
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

// Issue 14, "How we will know": over real TLS the kit gets a DPoP-bound
// token from the broker and calls a protected API (net/http and Echo) —
// with server nonces on at both ends, which it follows; the same token
// replayed without a proof, with a proof from another key, for another URL
// or method, with a reused jti, with a stale iat, or as a bearer token is
// refused at the API with RFC 9449 §7.1 errors.
func TestDPoPEndToEnd(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(c *broker.Config) { c.DPoP.Nonces = newNonces(t) })
	v, err := resource.New(context.Background(), resource.Config{Issuer: w.issuer, Audience: apiAudience, DPoP: resource.DPoPConfig{BaseURL: w.api, Nonces: newNonces(t)},
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.pool}}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	w.startAPI(v)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	src := w.dpopSource(key)
	api := src.Client()
	for _, path := range []string{"/read", "/echo", "/read"} {
		out := getJSON(t, api, w.api+path)
		if out["client_id"] != "d" {
			t.Fatalf("%s: %v", path, out)
		}
		if path == "/read" && out["jkt"] != src.JKT() {
			t.Fatalf("the API saw binding %v, the kit's key is %s", out["jkt"], src.JKT())
		}
	}
	tok, err := src.Token()
	if err != nil || tok.TokenType != "DPoP" {
		t.Fatalf("token_type %q, %v", tok.TokenType, err)
	}

	// Replays, by hand: the API's nonce first (a proof without one is
	// answered use_dpop_nonce before anything else is looked at).
	read := w.api + "/read"
	resp := w.send("GET", read, "DPoP "+tok.AccessToken, proof(t, mustProver(t, key), "GET", read, tok.AccessToken, ""))
	challenge(t, "no nonce", resp, 401, "DPoP", "use_dpop_nonce")
	nonce := resp.Header.Get("DPoP-Nonce")
	own := mustProver(t, key)
	auth := "DPoP " + tok.AccessToken
	used := proof(t, own, "GET", read, tok.AccessToken, nonce)
	if resp := w.send("GET", read, auth, used); resp.StatusCode != 200 {
		t.Fatalf("the key's own proof with the nonce: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	stale := mustProver(t, key, dpop.WithProverClock(func() time.Time { return time.Now().Add(-5 * time.Minute) }))
	for _, tc := range []struct {
		name, auth   string
		proofs       []string
		scheme, code string
	}{
		{"without a proof", auth, nil, "DPoP", "invalid_dpop_proof"},
		{"proof from another key", auth, []string{proof(t, newProver(t), "GET", read, tok.AccessToken, nonce)}, "DPoP", "invalid_token"},
		{"proof for another URL", auth, []string{proof(t, own, "GET", w.api+"/echo", tok.AccessToken, nonce)}, "DPoP", "invalid_dpop_proof"},
		{"proof for another method", auth, []string{proof(t, own, "DELETE", read, tok.AccessToken, nonce)}, "DPoP", "invalid_dpop_proof"},
		{"reused jti", auth, []string{used}, "DPoP", "invalid_dpop_proof"},
		{"stale iat", auth, []string{proof(t, stale, "GET", read, tok.AccessToken, nonce)}, "DPoP", "invalid_dpop_proof"},
		{"as a bearer token", "Bearer " + tok.AccessToken, nil, "Bearer", "invalid_token"},
		{"as a bearer token, with a proof", "Bearer " + tok.AccessToken, []string{proof(t, own, "GET", read, tok.AccessToken, nonce)}, "Bearer", "invalid_token"},
	} {
		challenge(t, tc.name, w.send("GET", read, tc.auth, tc.proofs...), 401, tc.scheme, tc.code)
	}

	// The same at the token endpoint: no token is minted for a proof that is
	// stale, for another URL, or reused — and client "d" gets none without one.
	tokenURL := w.issuer + broker.PathToken
	post := func(proofs ...string) (status int, code, nonce string) {
		req, _ := http.NewRequest("POST", tokenURL, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("d", w.dpopSecret)
		for _, p := range proofs {
			req.Header.Add("DPoP", p)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.pool}}}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct {
			Error       string `json:"error"`
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		if e.AccessToken != "" && resp.StatusCode != 200 {
			t.Fatalf("a token with status %d", resp.StatusCode)
		}
		return resp.StatusCode, e.Error, resp.Header.Get("DPoP-Nonce")
	}
	st, code, asNonce := post(proof(t, own, "POST", tokenURL, "", ""))
	if st != 400 || code != "use_dpop_nonce" || asNonce == "" {
		t.Fatalf("token endpoint, no nonce: %d %s %q", st, code, asNonce)
	}
	if st, code, _ := post(); st != 400 || code != "invalid_dpop_proof" {
		t.Fatalf("client d without a proof: %d %s", st, code)
	}
	good := proof(t, own, "POST", tokenURL, "", asNonce)
	if st, code, _ := post(good); st != 200 {
		t.Fatalf("token endpoint, good proof: %d %s", st, code)
	}
	for name, p := range map[string]string{
		"reused":         good,
		"stale":          proof(t, stale, "POST", tokenURL, "", asNonce),
		"another URL":    proof(t, own, "POST", w.api+"/token", "", asNonce),
		"another method": proof(t, own, "GET", tokenURL, "", asNonce),
	} {
		if st, code, _ := post(p); st != 400 || code != "invalid_dpop_proof" {
			t.Errorf("token endpoint, %s proof: %d %s", name, st, code)
		}
	}
}

func mustProver(t testing.TB, key *ecdsa.PrivateKey, opts ...dpop.ProverOption) *dpop.Prover {
	t.Helper()
	p, err := dpop.NewProver(key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
