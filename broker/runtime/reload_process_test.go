package runtime

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// SIGHUP rebuilds the broker from its configuration but keeps what belongs to
// the process (DESIGN: process vs. configuration): under concurrent token
// load and repeated reloads, a revoked token stays revoked, a spent assertion
// stays spent, a drained rate-limit bucket stays drained, counters keep
// counting, and the one audit writer keeps one intact chain with a line per
// request — with the in-memory shared state and with Redis.
func TestReloadKeepsProcessState(t *testing.T) {
	for _, shared := range []string{"memory", "redis"} {
		t.Run(shared, func(t *testing.T) { testReloadKeepsProcessState(t, shared) })
	}
}

func testReloadKeepsProcessState(t *testing.T, shared string) {
	h := newHarness(t)
	sharedCfg := "shared_state:\n  type: memory\n"
	if shared == "redis" {
		addr, _ := statetest.StartRedis(t)
		sharedCfg = "shared_state:\n  type: redis\n  redis:\n    addrs: [" + addr + "]\n    prefix: \"reload-test:\"\n"
	}
	auditPath := filepath.Join(h.dir, "audit.log")
	adminAddr := freeAddr(t)
	cfgPath := h.write("broker.yaml", []byte(h.head()+
		"tokens:\n  default_audience: https://api.example.test\naudit:\n  file: "+auditPath+"\n  chain: true\nadmin:\n  listen: "+adminAddr+"\n"+sharedCfg+
		"rate_limits:\n  failed_per_client: {per_second: 0.001, burst: 3}\n"))
	secrets := map[string]string{}
	for _, id := range []string{"c", "victim"} {
		secrets[id] = h.client(cfgPath, id)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	h.register(cfgPath, &backends.Client{ClientID: "jwt", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, JWKS: jwks, Scope: "read"})
	_, stderr := h.serve(cfgPath)
	iss := "https://" + h.addr
	pem, _ := os.ReadFile(h.cacert)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: 8}, Timeout: 10 * time.Second}
	var requests atomic.Int64 // audited requests sent: every /token, every successful /revoke
	post := func(path string, form url.Values, id, secret string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, iss+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if id != "" {
			req.SetBasicAuth(id, secret)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Error(err)
			return 0, nil
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		if path == broker.PathToken || path == broker.PathRevoke && resp.StatusCode == 200 {
			requests.Add(1)
		}
		return resp.StatusCode, m
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	token := func() string {
		code, m := post(broker.PathToken, cc, "c", secrets["c"])
		if code != 200 {
			t.Fatalf("token: %d %v", code, m)
		}
		return m["access_token"].(string)
	}
	active := func(tok string) any {
		_, m := post(broker.PathIntrospect, url.Values{"token": {tok}}, "c", secrets["c"])
		return m["active"]
	}

	// Before the reloads: a revoked token, a spent assertion, a drained bucket.
	revoked := token()
	if code, _ := post(broker.PathRevoke, url.Values{"token": {revoked}}, "c", secrets["c"]); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if a := active(revoked); a != false {
		t.Fatalf("revoked token before reload: active=%v", a)
	}
	assertion, err := signAssertion(key, "k1", "jwt", iss)
	if err != nil {
		t.Fatal(err)
	}
	jwtForm := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	if code, m := post(broker.PathToken, jwtForm, "", ""); code != 200 {
		t.Fatalf("assertion, first use: %d %v", code, m)
	}
	var drained int
	for range 4 {
		drained, _ = post(broker.PathToken, cc, "victim", "wrong")
	}
	if drained != http.StatusTooManyRequests {
		t.Fatalf("4th failure for a client with burst 3: %d, want 429", drained)
	}

	// Concurrent load while SIGHUPs arrive.
	const reloads = 5
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var issued atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if code, _ := post(broker.PathToken, cc, "c", secrets["c"]); code == 200 {
					issued.Add(1)
				}
			}
		}()
	}
	// underLoad waits until the load has had n more tokens issued.
	underLoad := func(n int64) {
		t.Helper()
		base := issued.Load()
		testkit.WaitFor(t, "tokens issued under load", func() bool { return issued.Load() >= base+n })
	}
	const reloaded = "configuration, certificates, CA bundles and CRLs reloaded"
	for i := 1; i <= reloads; i++ {
		underLoad(10)
		syscall.Kill(os.Getpid(), syscall.SIGHUP)
		testkit.WaitFor(t, fmt.Sprintf("reload %d", i), func() bool { return strings.Count(stderr.String(), reloaded) >= i })
	}
	underLoad(10)
	close(stop)
	wg.Wait()
	if issued.Load() == 0 {
		t.Fatal("no token issued under load")
	}

	// After the reloads.
	if a := active(revoked); a != false {
		t.Errorf("a token revoked before the reloads is active=%v after them", a)
	}
	if code, m := post(broker.PathToken, jwtForm, "", ""); code != http.StatusUnauthorized || m["access_token"] != nil {
		t.Errorf("a spent assertion after the reloads: %d %v, want 401", code, m)
	}
	if code, _ := post(broker.PathToken, cc, "victim", "wrong"); code != drained {
		t.Errorf("drained bucket after the reloads: %d, want %d (the bucket was reset)", code, drained)
	}
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The first token (revoked) and the assertion's count too.
	if want := fmt.Sprintf(`tokenbroker_tokens_issued_total{client_id="c",method="client_secret_basic"} %d`, issued.Load()+1); !strings.Contains(string(body), want) {
		t.Errorf("metrics after the reloads lack %s", want)
	}
	if rep := trail(t, auditPath, ""); int64(rep.Events) != requests.Load() {
		t.Errorf("audit trail after %d reloads under load: %d events, want %d", reloads, rep.Events, requests.Load())
	}
}

// signAssertion mints an RFC 7523 client assertion for clientID at aud.
func signAssertion(key *ecdsa.PrivateKey, kid, clientID, aud string) (string, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", err
	}
	now := time.Now()
	return jwt.Signed(s).Claims(jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud}, ID: rand.Text(),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
}
