package vault_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/vault"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

type transitBroker struct {
	t      testing.TB
	h      http.Handler
	srv    *broker.Server
	tr     *vault.Transit
	clk    *testkit.Clock // Transit's: a version's age moves only when the test says
	secret string
}

func newTransitBroker(t testing.TB, alg string, delay time.Duration) *transitBroker {
	v := server(t)
	ctx := context.Background()
	store := open(t, v, uniquePrefix(), vault.Token(v.RootToken()), quiet())
	clk := testkit.NewClock(time.Now())
	tr, err := store.Transit(ctx, vault.TransitConfig{Key: "tb-" + strings.ToLower(alg) + "-" + uniquePrefix(), Alg: alg, PublishDelay: delay, MaxLifetime: 2 * time.Second, Skew: 100 * time.Millisecond, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	srv, err := broker.New(ctx, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test", Logger: quiet(), Signing: tr, KeyRefresh: 50 * time.Millisecond}, store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	r, err := srv.Registry().Create(ctx, &backends.Client{ClientID: "c", Scope: "read"})
	if err != nil {
		t.Fatal(err)
	}
	return &transitBroker{t: t, h: srv.Handler(), srv: srv, tr: tr, clk: clk, secret: r.Secret}
}

func (b *transitBroker) token() (string, error) {
	req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("c:"+b.secret)))
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		return "", fmt.Errorf("status %d: %s", rec.Code, rec.Body)
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(rec.Body.Bytes(), &out)
	return out.AccessToken, nil
}

func (b *transitBroker) jwks() jose.JSONWebKeySet {
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jwks.json", nil))
	var ks jose.JSONWebKeySet
	json.Unmarshal(rec.Body.Bytes(), &ks)
	return ks
}

// verify checks tok against the broker's current JWKS and returns its kid.
func (b *transitBroker) verify(tok string) string {
	b.t.Helper()
	p, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256, jose.PS256})
	if err != nil {
		b.t.Fatal(err)
	}
	ks := b.jwks()
	keys := ks.Key(p.Headers[0].KeyID)
	if len(keys) != 1 {
		b.t.Fatalf("kid %s not published", p.Headers[0].KeyID)
	}
	var c jwt.Claims
	if err := p.Claims(keys[0].Key, &c); err != nil {
		b.t.Fatalf("Transit signature does not verify against the JWKS (%s): %v", p.Headers[0].Algorithm, err)
	}
	return p.Headers[0].KeyID
}

// Every algorithm signs through Transit and verifies against the JWKS built
// from the key's versions; rotation keeps publish-before-use and keep-until-expiry.
func TestTransitSigningAndRotation(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256", "PS256"} {
		t.Run(alg, func(t *testing.T) {
			b := newTransitBroker(t, alg, 1500*time.Millisecond)
			before, err := b.token()
			if err != nil {
				t.Fatal(err)
			}
			k1 := b.verify(before)
			if err := b.tr.Rotate(context.Background(), false); err != nil {
				t.Fatal(err)
			}
			// Published at once, not yet signing.
			waitFor(t, func() bool { return len(b.jwks().Keys) == 2 })
			tok, _ := b.token()
			if kid := b.verify(tok); kid != k1 {
				t.Fatalf("new version signs before it was published long enough: %s", kid)
			}
			// After the publish delay the new version signs; the old token
			// still verifies. (Vault dates the version: the clock moves on
			// from there, a step per look.)
			waitFor(t, func() bool { b.clk.Advance(100 * time.Millisecond); tok, _ := b.token(); return b.verify(tok) != k1 })
			b.verify(before)
			// Once the old version's tokens have all expired it leaves the JWKS.
			waitFor(t, func() bool { b.clk.Advance(100 * time.Millisecond); return len(b.jwks().Keys) == 1 })
		})
	}
}

// Concurrent sign requests are coalesced into batch calls.
func TestTransitBatching(t *testing.T) {
	b := newTransitBroker(t, "ES256", time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for range 200 {
		wg.Go(func() {
			tok, err := b.token()
			if err != nil {
				errs <- err
				return
			}
			b.verify(tok)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	calls, sigs := b.tr.Stats()
	if sigs != 200 || calls >= 200 {
		t.Fatalf("%d signatures in %d Transit calls: not batched", sigs, calls)
	}
	t.Logf("200 concurrent tokens: %d Transit calls (mean batch %.1f)", calls, float64(sigs)/float64(calls))
}

// BenchmarkTransitTokens is tokens/s with Transit signing under parallel load.
func BenchmarkTransitTokens(b *testing.B) {
	tb := newTransitBroker(b, "ES256", time.Minute)
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := tb.token(); err != nil {
				b.Fatal(err)
			}
		}
	})
	calls, sigs := tb.tr.Stats()
	b.ReportMetric(float64(sigs)/float64(max(calls, 1)), "sigs/call")
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, "the condition", cond)
}
