package integration_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/tokenbroker/tokenbroker/authn/resource"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/awskms"
	"github.com/tokenbroker/tokenbroker/backends/awskms/kmstest"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// kmsClock is the clock alias ages are judged by, on both sides of the
// local KMS endpoint: moving it stands for the time a rotation waits.
type kmsClock struct{ off atomic.Int64 }

func (c *kmsClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *kmsClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// kmsSigning is an envOpt: the broker signs with an aws-kms source over a
// local KMS endpoint (real SDK, SigV4), reporting to metrics.
func kmsSigning(t *testing.T, srv *kmstest.Server, clk *kmsClock, metrics *broker.Metrics, set func(*awskms.Settings)) (envOpt, signing.Manager) {
	t.Helper()
	s := awskms.Settings{Key: "alias/tokenbroker", Endpoint: srv.URL, AWS: srv.AWSConfig(), Now: clk.Now}
	if set != nil {
		set(&s)
	}
	m, err := signing.Open(context.Background(), nil, signing.Options{Source: awskms.SigningSource, Alg: "ES256",
		PublishDelay: 5 * time.Minute, MaxLifetime: 15 * time.Minute, Settings: s, Observer: metrics})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return func(c *broker.Config, _ *cache.Options) {
		c.Signing, c.Metrics, c.KeyRefresh = m, metrics, 20*time.Millisecond
	}, m
}

// tokenResult is one token request made from a load goroutine.
type tokenResult struct {
	status     int
	retryAfter string
	body       map[string]any
}

// requestToken asks for a token with client_secret_basic; safe in
// goroutines. A connection that breaks before an answer (a loaded machine
// makes that likely) is tried again, twice at most, as a client would.
func requestToken(e *env, id, secret string) (tokenResult, error) {
	var err error
	for range 3 {
		var r tokenResult
		if r, err = postToken(e, id, secret); err == nil {
			return r, nil
		}
	}
	return tokenResult{}, err
}

func postToken(e *env, id, secret string) (tokenResult, error) {
	req, _ := http.NewRequest(http.MethodPost, e.issuer+broker.PathToken, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := e.http.Do(req)
	if err != nil {
		return tokenResult{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := tokenResult{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	err = json.Unmarshal(b, &r.body)
	return r, err
}

// verifyWithJWX checks tok against the broker's JWKS with jwx, a JOSE
// library independent of the broker's go-jose.
func verifyWithJWX(t *testing.T, e *env, tok string) {
	t.Helper()
	resp, err := e.http.Get(e.issuer + broker.PathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	set, err := jwk.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify([]byte(tok), jws.WithKeySet(set, jws.WithRequireKid(true))); err != nil {
		t.Fatalf("jwx does not verify the token: %v", err)
	}
}

// A malformed KMS signature and KMS throttling reach the token endpoint as 503 temporarily_unavailable
// with Retry-After — no token, no 500, no hang — and recovers by itself:
// every client that retries after Retry-After gets its token, each one
// verifying, and the metrics count the throttles.
func TestKMSThrottlingIs503ThenRecovers(t *testing.T) {
	t.Parallel()
	srv := kmstest.New("AKIDKMSBROKER", "kms-broker-secret", "us-east-1")
	defer srv.Close()
	opt, _ := kmsSigning(t, srv, &kmsClock{}, broker.NewMetrics(), func(s *awskms.Settings) { s.QueueWait = 300 * time.Millisecond })
	e := newEnv(t, opt)
	secret := e.client(&backends.Client{ClientID: "kms-throttled", Scope: "read"})

	// A malformed signature from KMS (a failing endpoint) is never a token.
	srv.CorruptSignatures(1)
	r, err := requestToken(e, "kms-throttled", secret)
	if err != nil || r.status != http.StatusServiceUnavailable || r.body["error"] != "temporarily_unavailable" || r.body["access_token"] != nil || r.retryAfter == "" {
		t.Fatalf("malformed KMS signature: %v %d %v", err, r.status, r.body)
	}

	srv.ThrottleFor(time.Hour)
	r, err = requestToken(e, "kms-throttled", secret)
	if err != nil {
		t.Fatal(err)
	}
	if ra, _ := strconv.Atoi(r.retryAfter); r.status != http.StatusServiceUnavailable || r.body["error"] != "temporarily_unavailable" || ra < 1 || r.body["access_token"] != nil {
		t.Fatalf("throttled: %d %v Retry-After %q", r.status, r.body, r.retryAfter)
	}
	if desc, _ := r.body["error_description"].(string); strings.Contains(desc, "Throttling") || strings.Contains(desc, "arn:") {
		t.Fatalf("the cause leaks to the client: %q", desc)
	}

	// Under load: a burst of throttles, then KMS recovers; every request
	// ends with a token, retried only as Retry-After says.
	srv.ThrottleFor(0)
	srv.Throttle(30)
	const clients = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	var toks []string
	var unavailable atomic.Int32
	errs := make(chan error, clients)
	for range clients {
		wg.Go(func() {
			for attempt := 0; attempt < 20; attempt++ {
				r, err := requestToken(e, "kms-throttled", secret)
				if err != nil {
					errs <- err
					return
				}
				switch r.status {
				case http.StatusOK:
					mu.Lock()
					toks = append(toks, r.body["access_token"].(string))
					mu.Unlock()
					return
				case http.StatusServiceUnavailable:
					ra, err := strconv.Atoi(r.retryAfter)
					if err != nil || ra < 1 || r.body["error"] != "temporarily_unavailable" {
						errs <- &tokenError{r}
						return
					}
					unavailable.Add(1)
					<-time.After(time.Duration(ra) * time.Second / 4) // a quarter of Retry-After keeps the test short
				default:
					errs <- &tokenError{r}
					return
				}
			}
			errs <- &tokenError{tokenResult{status: -1}}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(toks) != clients {
		t.Fatalf("%d tokens for %d clients", len(toks), clients)
	}
	for _, tok := range toks {
		verifyWithJWX(t, e, tok)
	}
	e.handedOut = append(e.handedOut, toks...)
	metricsText := scrape(t, e)
	if !strings.Contains(metricsText, `tokenbroker_signing_throttled_total{source="aws-kms"}`) || !strings.Contains(metricsText, "tokenbroker_signing_call_duration_seconds_bucket") ||
		!strings.Contains(metricsText, `tokenbroker_signing_queue_depth{source="aws-kms"} 0`) {
		t.Fatalf("signing metrics missing:\n%s", grepLines(metricsText, "tokenbroker_signing"))
	}
	t.Logf("%d tokens, %d answers 503 on the way", len(toks), unavailable.Load())
}

type tokenError struct{ r tokenResult }

func (e *tokenError) Error() string {
	b, _ := json.Marshal(e.r.body)
	return "token request: " + strconv.Itoa(e.r.status) + " Retry-After " + e.r.retryAfter + " " + string(b)
}

func scrape(t *testing.T, e *env) string {
	t.Helper()
	rec := httptest.NewRecorder()
	e.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Rotation under load, with a resource server (authn/resource) verifying
// every token: 0 failures. The resource server that fetched the JWKS
// before the alias moved verifies every token signed while the new key
// is only published (it never signs before keys.jwks_max_age); a resource
// server that refreshed its JWKS within that time verifies every token
// after the switch. The unknown-kid refetch is off (MinRefetch 1h), so
// nothing but publish-before-use can make the count 0.
func TestKMSRotationUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := kmstest.New("AKIDKMSBROKER", "kms-broker-secret", "us-east-1")
	defer srv.Close()
	clk := &kmsClock{}
	srv.SetClock(clk.Now)
	// Generous waits: this test is about verification, and a loaded
	// machine can stretch a local Sign past the defaults.
	opt, m := kmsSigning(t, srv, clk, broker.NewMetrics(), func(s *awskms.Settings) { s.QueueWait, s.Timeout = 10*time.Second, 10*time.Second })
	e := newEnv(t, opt)
	secret := e.client(&backends.Client{ClientID: "kms-load", Scope: "read"})

	newRS := func() *httptest.Server {
		v, err := resource.New(ctx, resource.Config{Issuer: e.issuer, Audience: audience, HTTPClient: e.http, MinRefetch: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		rs := httptest.NewTLSServer(v.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })))
		t.Cleanup(func() { rs.Close(); v.Close() })
		return rs
	}
	var rs atomic.Pointer[httptest.Server]
	rs.Store(newRS())
	firstKid := kidOf(t, e, "kms-load", secret)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok, failed, unavailable atomic.Int64
	var mu sync.Mutex
	var failures []string
	var toks []string
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := requestToken(e, "kms-load", secret)
				if err == nil && r.status == http.StatusServiceUnavailable && r.retryAfter != "" {
					unavailable.Add(1) // a client retries; only a token that does not verify fails
					continue
				}
				if err != nil || r.status != http.StatusOK {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, (&tokenError{r}).Error())
					mu.Unlock()
					continue
				}
				tok := r.body["access_token"].(string)
				s := rs.Load()
				req, _ := http.NewRequest(http.MethodGet, s.URL+"/orders", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := s.Client().Do(req)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, "resource server: "+err.Error())
					mu.Unlock()
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				toks = append(toks, tok)
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					failures = append(failures, "resource server: "+resp.Status+" "+resp.Header.Get("WWW-Authenticate"))
				} else {
					ok.Add(1)
				}
				mu.Unlock()
			}
		})
	}
	atLeast := func(n int64) {
		start := ok.Load()
		testkit.WaitFor(t, "more verified requests", func() bool { return ok.Load() >= start+n || failed.Load() > 0 })
	}
	atLeast(20)
	if err := m.Rotate(ctx, false); err != nil { // the alias moves to a new key
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the new key published", func() bool { return len(e.jwks().Keys) == 2 })
	atLeast(40) // the new key is published, the old one still signs
	if kid := kidOf(t, e, "kms-load", secret); kid != firstKid {
		t.Fatalf("the new key signs before keys.jwks_max_age: %s", kid)
	}
	rs.Store(newRS())                           // relying parties refresh within their max-age
	clk.Advance(5*time.Minute + 30*time.Second) // jwks_max_age + RefreshLag (keys.refresh, default 30 s)
	testkit.WaitFor(t, "the new key active", func() bool { return kidOf(t, e, "kms-load", secret) != firstKid })
	atLeast(40)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d failures of %d: %v", failed.Load(), ok.Load()+failed.Load(), failures[:min(len(failures), 5)])
	}
	for _, tok := range toks[len(toks)-5:] {
		verifyWithJWX(t, e, tok)
	}
	e.handedOut = append(e.handedOut, toks...)
	t.Logf("%d requests verified at the resource server across the rotation (%d answers 503 on the way)", ok.Load(), unavailable.Load())
}

// kidOf is the kid in the header of a fresh token of client id.
func kidOf(t *testing.T, e *env, id, secret string) string {
	t.Helper()
	r, err := requestToken(e, id, secret)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("token: %v %v", err, r.body)
	}
	tok := r.body["access_token"].(string)
	e.handedOut = append(e.handedOut, tok)
	h, _, _ := strings.Cut(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(h)
	var hdr struct{ Kid string }
	json.Unmarshal(b, &hdr)
	return hdr.Kid
}
