package tokensource_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/authn/tokensource"
)

// dpopServer is a broker and an API in one TLS server that check the kit's
// proofs with the real dpop.Verifier and, when nonces are on, demand one
// the way RFC 9449 §8 (token endpoint) and §9 (resource server) say.
type dpopServer struct {
	*recorder
	t          *testing.T
	verifier   *dpop.Verifier
	nonces     *dpop.Nonces
	tokenType  string
	alwaysAsk  bool // the API answers use_dpop_nonce to every request
	mu         sync.Mutex
	jkts       []string // the proof keys tokens were bound to
	tokens     atomic.Int32
	nonceAsked atomic.Int32 // use_dpop_nonce answers
	calls      atomic.Int32 // API requests that passed
}

func newDPoPServer(t *testing.T, withNonces bool) *dpopServer {
	s := &dpopServer{t: t, tokenType: "DPoP"}
	var opts []dpop.VerifierOption
	if withNonces {
		key := make([]byte, 32)
		rand.Read(key)
		s.nonces, _ = dpop.NewNonces(key, time.Minute)
		opts = append(opts, dpop.WithNonces(s.nonces))
	}
	seen := sync.Map{}
	opts = append(opts, dpop.WithReplay(dpop.ReplayFunc(func(_ context.Context, _, key string, _ time.Time) (bool, error) {
		_, used := seen.LoadOrStore(key, true)
		return !used, nil
	})))
	var err error
	if s.verifier, err = dpop.NewVerifier(opts...); err != nil {
		t.Fatal(err)
	}
	s.recorder = newRecorder(t, s.serve)
	return s
}

func (s *dpopServer) serve(w http.ResponseWriter, r *http.Request) {
	htu := "https://" + r.Host + r.URL.Path
	if r.URL.Path == "/token" {
		p, err := s.verifier.Verify(r.Context(), r.Header.Values("DPoP"), r.Method, htu, "")
		switch {
		case errors.Is(err, dpop.ErrUseNonce):
			s.nonceAsked.Add(1)
			w.Header().Set("DPoP-Nonce", s.nonces.Nonce(time.Now()))
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(map[string]string{"error": "use_dpop_nonce"})
			return
		case err != nil:
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_dpop_proof", "error_description": err.Error()})
			return
		}
		s.mu.Lock()
		s.jkts = append(s.jkts, p.JKT)
		s.mu.Unlock()
		n := s.tokens.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d.%s", n, p.JKT), "token_type": s.tokenType, "expires_in": 300})
		return
	}
	auth := r.Header.Get("Authorization")
	if s.tokenType != "DPoP" {
		if !strings.HasPrefix(auth, "Bearer ") || r.Header.Get("DPoP") != "" {
			w.WriteHeader(401)
			return
		}
		s.calls.Add(1)
		return
	}
	tok, ok := strings.CutPrefix(auth, "DPoP ")
	if !ok {
		w.Header().Set("WWW-Authenticate", `DPoP algs="ES256"`)
		w.WriteHeader(401)
		return
	}
	p, err := s.verifier.Verify(r.Context(), r.Header.Values("DPoP"), r.Method, htu, tok)
	if s.alwaysAsk || errors.Is(err, dpop.ErrUseNonce) {
		s.nonceAsked.Add(1)
		w.Header().Set("DPoP-Nonce", s.nonces.Nonce(time.Now()))
		w.Header().Set("WWW-Authenticate", `Bearer realm="x", DPoP realm="x", error="use_dpop_nonce", error_description="nonce \"please\"", algs="ES256"`)
		w.WriteHeader(401)
		return
	}
	if err != nil || !strings.HasSuffix(tok, "."+p.JKT) {
		w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof"`)
		w.WriteHeader(401)
		s.t.Logf("API refused: %v", err)
		return
	}
	s.calls.Add(1)
}

func (s *dpopServer) source(t *testing.T, d *tokensource.DPoP, opts ...func(*tokensource.Config)) *tokensource.Source {
	cfg := tokensource.Config{TokenURL: s.URL + "/token", ClientID: "c", Secret: "s3cret", RootCAs: pool(t), DPoP: d}
	for _, o := range opts {
		o(&cfg)
	}
	src, err := tokensource.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// The kit proves possession at the token endpoint and at the API, follows
// use_dpop_nonce once at each, remembers the nonce per origin (the next
// call needs no retry), and keeps its key across refreshes.
func TestDPoPNoncesAndRefresh(t *testing.T) {
	t.Parallel()
	s := newDPoPServer(t, true)
	src := s.source(t, &tokensource.DPoP{}, func(c *tokensource.Config) { c.RefreshAhead = 10 * time.Minute }) // a new token for every call
	api := src.Client()
	for i := range 3 {
		resp, err := api.Post(s.URL+"/orders?page=1", "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("call %d: %d", i, resp.StatusCode)
		}
	}
	// One nonce for the origin, learnt at the token endpoint (same origin as the API here).
	if n := s.nonceAsked.Load(); n != 1 {
		t.Fatalf("%d use_dpop_nonce answers, want 1 (the nonce is remembered per origin)", n)
	}
	if s.tokens.Load() < 3 || s.calls.Load() != 3 {
		t.Fatalf("%d tokens, %d calls", s.tokens.Load(), s.calls.Load())
	}
	for _, j := range s.jkts {
		if j != src.JKT() {
			t.Fatalf("a token was bound to %s, the source's key is %s", j, src.JKT())
		}
	}
	tok, _ := src.Token()
	if tok.TokenType != "DPoP" {
		t.Fatalf("token_type %q", tok.TokenType)
	}

	// An API on another origin with nonces of its own: its first answer is
	// use_dpop_nonce, the retry carries its nonce, and the next call needs none.
	other := newDPoPServer(t, true)
	for i := range 2 {
		resp, err := api.Get(other.URL + "/orders")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("other origin, call %d: %d", i, resp.StatusCode)
		}
	}
	if n := other.nonceAsked.Load(); n != 1 || other.calls.Load() != 2 {
		t.Fatalf("other origin: %d use_dpop_nonce answers and %d calls, want 1 and 2", n, other.calls.Load())
	}
}

// An API that asks for a nonce again and again gets exactly one retry; a
// body that cannot be replayed gets none.
func TestDPoPNonceRetriedOnce(t *testing.T) {
	t.Parallel()
	s := newDPoPServer(t, true)
	s.alwaysAsk = true
	src := s.source(t, &tokensource.DPoP{})
	if _, err := src.Token(); err != nil {
		t.Fatal(err)
	}
	before := s.nonceAsked.Load()
	resp, err := src.Client().Get(s.URL + "/orders")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || s.nonceAsked.Load()-before != 2 {
		t.Fatalf("status %d after %d nonce answers, want 401 after 2", resp.StatusCode, s.nonceAsked.Load()-before)
	}
	before = s.nonceAsked.Load()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/orders", io.NopCloser(strings.NewReader("once"))) // no GetBody: not replayable
	resp, err = src.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := s.nonceAsked.Load() - before; n != 1 {
		t.Fatalf("a request whose body cannot be replayed was sent %d times", n)
	}
}

// The kit takes the caller's key, RSA included (PS256 or RS256), and its
// proofs verify; DPoPProof makes one for a request the caller builds.
func TestDPoPCallerKey(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []jose.SignatureAlgorithm{"", jose.RS256} {
		s := newDPoPServer(t, false)
		src := s.source(t, &tokensource.DPoP{Key: key, Alg: alg})
		p, _ := dpop.NewProver(key)
		if src.JKT() != p.JKT() {
			t.Fatalf("JKT %s, want the key's %s", src.JKT(), p.JKT())
		}
		tok, err := src.Token()
		if err != nil {
			t.Fatal(err)
		}
		proof, err := src.DPoPProof(http.MethodGet, s.URL+"/orders", tok)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/orders", nil)
		req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
		req.Header.Set("DPoP", proof)
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("alg %q: hand-made request with DPoPProof: %d", alg, resp.StatusCode)
		}
	}
	if _, err := tokensource.New(tokensource.Config{TokenURL: "https://as.example/token", ClientID: "c", Secret: "s", DPoP: &tokensource.DPoP{Key: key, Alg: jose.ES256}}); err == nil {
		t.Fatal("an RSA key with ES256 was accepted")
	}
}

func TestParseChallenges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`Bearer realm="x", DPoP algs="ES256 PS256"`, `Bearer realm=x|DPoP algs=ES256 PS256`},
		{`DPoP error="use_dpop_nonce", error_description="a \"quoted\", comma"`, `DPoP error=use_dpop_nonce error_description=a "quoted", comma`},
		{`Basic dXNlcjpwYXNz==, DPoP error=use_dpop_nonce`, `Basic|DPoP error=use_dpop_nonce`},
		{`Bearer error="use_dpop_nonce"`, `Bearer error=use_dpop_nonce`},
		{`DPoP error="unterminated`, `DPoP`},
		{`DPoP error="a", ERROR="b"`, `DPoP error=a`},
		{``, ``},
		{`,,, `, ``},
	} {
		if got := strings.Join(tokensource.ParseChallenges(tc.in), "|"); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzParseChallenges: whatever a server sends in WWW-Authenticate, the
// parser ends, stays bounded, and reads only what is there.
func FuzzParseChallenges(f *testing.F) {
	for _, s := range []string{`Bearer realm="x", DPoP algs="ES256"`, `DPoP error="use_dpop_nonce"`, `a b=c, d e="\"", f`, `x="`, `==,==`, "DPoP error=\"a\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		cs := tokensource.ParseChallenges(v)
		if len(cs) > 16 {
			t.Fatalf("%d challenges", len(cs))
		}
		for _, c := range cs {
			scheme, _, _ := strings.Cut(c, " ")
			if scheme == "" || !strings.Contains(v, scheme) {
				t.Fatalf("challenge %q not in %q", c, v)
			}
		}
	})
}

// A DPoP-bound token and its proofs follow a redirect within the origin
// (each hop its own proof) and never one to another origin; a DPoP-Nonce
// that is not RFC 9449 §8.1 syntax is never put in a proof.
func TestDPoPRedirectsAndBadNonces(t *testing.T) {
	t.Parallel()
	s := newDPoPServer(t, false)
	var mu sync.Mutex
	var leaked []string
	other := newRecorder(t, func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range []string{"Authorization", "DPoP"} {
			if v := r.Header.Get(h); v != "" {
				leaked = append(leaked, h)
			}
		}
	})
	var nonces []string
	api := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/landing", http.StatusTemporaryRedirect)
		case "/near":
			http.Redirect(w, r, "/landing", http.StatusFound)
		case "/bad-nonce":
			mu.Lock()
			defer mu.Unlock()
			p, _ := jose.ParseSigned(r.Header.Get("DPoP"), dpop.Algorithms)
			var c struct{ Nonce string }
			if p != nil {
				json.Unmarshal(p.UnsafePayloadWithoutVerification(), &c)
			}
			nonces = append(nonces, c.Nonce)
			w.Header().Set("DPoP-Nonce", "bad\"nonce")
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
			w.WriteHeader(401)
		case "/landing":
			if !strings.HasPrefix(r.Header.Get("Authorization"), "DPoP ") || r.Header.Get("DPoP") == "" {
				w.WriteHeader(401)
			}
		}
	})
	src := s.source(t, &tokensource.DPoP{})
	c := src.Client()
	for path, want := range map[string]int{"/away": 200, "/near": 200, "/bad-nonce": 401} {
		resp, err := c.Get(api.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 || len(other.requests()) == 0 {
		t.Fatalf("sent across origins: %v (requests there: %d)", leaked, len(other.requests()))
	}
	if len(nonces) != 2 || nonces[0] != "" || nonces[1] != "" {
		t.Fatalf("nonces in the proofs: %q, want two without one", nonces)
	}
	var landed int
	for _, r := range api.requests() {
		if strings.HasPrefix(r, "/landing ") {
			landed++
		}
	}
	if landed != 1 {
		t.Fatalf("the same-origin redirect landed %d times", landed)
	}
}
