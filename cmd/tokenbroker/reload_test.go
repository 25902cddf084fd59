package main

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

	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/broker/audit"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// SIGHUP reloads the configuration without a restart (and without dropping
// the listener): a changed token lifetime applies to the next token.
func TestSIGHUPReloadsConfiguration(t *testing.T) {
	h := newServeHarness(t)
	cfg := func(lifetime string) []byte {
		return []byte(h.head() + "backend:\n  file:\n    dir: " + filepath.Join(h.dir, "data") + "\ntokens:\n  default_audience: https://api.example.test\n  lifetime: " + lifetime + "\n")
	}
	cfgPath := h.write("broker.yaml", cfg("5m"))
	out, err := cli("clients", "create", "--config", cfgPath, "--id", "c", "--scope", "read")
	if err != nil {
		t.Fatal(err, out)
	}
	secret := createdSecret(t, out)
	stderr := h.serve(cfgPath)
	addr, cacert, write := h.addr, h.cacert, h.write
	expiresIn := func() float64 {
		t.Helper()
		tok, err := cli("token", "--issuer", "https://"+addr, "--cacert", cacert, "--client-id", "c", "--secret", secret, "--decode")
		if err != nil {
			t.Fatal(err, tok)
		}
		var d struct {
			Claims struct{ Exp, Iat float64 } `json:"claims"`
		}
		json.Unmarshal([]byte(tok), &d)
		return d.Claims.Exp - d.Claims.Iat
	}
	if got := expiresIn(); got != 300 {
		t.Fatalf("lifetime before reload: %v", got)
	}
	write("broker.yaml", cfg("2m"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, stderr, "configuration, certificates, CA bundles and CRLs reloaded")
	if got := expiresIn(); got != 120 {
		t.Fatalf("lifetime after SIGHUP: %v, want 120", got)
	}
	// A broken configuration on SIGHUP keeps the running one.
	write("broker.yaml", []byte("issuer: http://not-https\n"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, stderr, "reload failed; keeping the running configuration")
	if got := expiresIn(); got != 120 {
		t.Fatalf("a failed reload changed the running configuration: %v", got)
	}
}

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
	h := newServeHarness(t)
	sharedCfg := "shared_state:\n  type: memory\n"
	if shared == "redis" {
		addr, _ := statetest.StartRedis(t)
		sharedCfg = "shared_state:\n  type: redis\n  redis:\n    addrs: [" + addr + "]\n    prefix: \"reload-test:\"\n"
	}
	auditPath := filepath.Join(h.dir, "audit.log")
	adminAddr := freeAddr(t)
	cfgPath := h.write("broker.yaml", []byte(h.head()+"backend:\n  file:\n    dir: "+filepath.Join(h.dir, "data")+
		"\ntokens:\n  default_audience: https://api.example.test\naudit:\n  file: "+auditPath+"\n  chain: true\nadmin:\n  listen: "+adminAddr+"\n"+sharedCfg+
		"rate_limits:\n  failed_per_client: {per_second: 0.001, burst: 3}\n"))
	secrets := map[string]string{}
	for _, id := range []string{"c", "victim"} {
		out, err := cli("clients", "create", "--config", cfgPath, "--id", id, "--scope", "read")
		if err != nil {
			t.Fatal(err, out)
		}
		secrets[id] = createdSecret(t, out)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if out, err := cli("clients", "create", "--config", cfgPath, "--id", "jwt", "--method", "private_key_jwt", "--jwks", h.write("jwks.json", jwks), "--scope", "read"); err != nil {
		t.Fatal(err, out)
	}
	stderr := h.serve(cfgPath)
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
	assertion, err := signAssertion(key, jose.ES256, "k1", "jwt", iss, time.Minute)
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
	out, err := cli("audit", "verify", auditPath)
	if err != nil {
		t.Fatalf("audit verify after %d reloads under load: %v %s", reloads, err, out)
	}
	if want := fmt.Sprintf("%d events, chain intact", requests.Load()); !strings.Contains(out, want) {
		t.Errorf("audit verify: %s, want %s", out, want)
	}
}

// shared_state and audit are the process's: a reload that changes them says
// they need a restart and keeps the running ones (the trail stays in its
// file, the state where it was); the rest of the new configuration applies.
func TestReloadKeepsProcessSettingsUntilRestart(t *testing.T) {
	h := newServeHarness(t)
	trailA, trailB := filepath.Join(h.dir, "a.log"), filepath.Join(h.dir, "b.log")
	cfg := func(trail, shared, lifetime string) []byte {
		return []byte(h.head() + "backend:\n  file:\n    dir: " + filepath.Join(h.dir, "data") + "\ntokens:\n  default_audience: https://api.example.test\n  lifetime: " + lifetime +
			"\naudit:\n  file: " + trail + "\n  chain: true\nshared_state:\n" + shared)
	}
	cfgPath := h.write("broker.yaml", cfg(trailA, "  type: memory\n", "5m"))
	out, err := cli("clients", "create", "--config", cfgPath, "--id", "c", "--scope", "read")
	if err != nil {
		t.Fatal(err, out)
	}
	secret := createdSecret(t, out)
	stderr := h.serve(cfgPath)
	token := func() {
		t.Helper()
		if out, err := cli("token", "--issuer", "https://"+h.addr, "--cacert", h.cacert, "--client-id", "c", "--secret", secret); err != nil {
			t.Fatal(err, out)
		}
	}
	token()
	h.write("broker.yaml", cfg(trailB, "  type: redis\n  redis:\n    addrs: [127.0.0.1:1]\n", "2m"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, stderr, "configuration, certificates, CA bundles and CRLs reloaded")
	if !strings.Contains(stderr.String(), `"msg":"SIGHUP: these settings changed; they take effect after a restart","keys":["shared_state","audit"]`) {
		t.Errorf("no restart warning for shared_state and audit:\n%s", stderr)
	}
	token()
	if _, err := os.Stat(trailB); err == nil {
		t.Error("a reload opened a second audit trail")
	}
	if out, err := cli("audit", "verify", trailA); err != nil || !strings.Contains(out, "2 events, chain intact") {
		t.Errorf("the running trail after the reload: %v %s", err, out)
	}
}

// Log rotation: rename the trail, send SIGHUP, and the one writer goes on in
// a new file at the configured path; its first line links to the renamed
// file's last ("audit verify --from").
func TestSIGHUPRotatesAuditFile(t *testing.T) {
	h := newServeHarness(t)
	trail := filepath.Join(h.dir, "audit.log")
	cfgPath := h.write("broker.yaml", []byte(h.head()+"backend:\n  file:\n    dir: "+filepath.Join(h.dir, "data")+
		"\ntokens:\n  default_audience: https://api.example.test\naudit:\n  file: "+trail+"\n  chain: true\n"))
	out, err := cli("clients", "create", "--config", cfgPath, "--id", "c", "--scope", "read")
	if err != nil {
		t.Fatal(err, out)
	}
	secret := createdSecret(t, out)
	stderr := h.serve(cfgPath)
	token := func() {
		t.Helper()
		if out, err := cli("token", "--issuer", "https://"+h.addr, "--cacert", h.cacert, "--client-id", "c", "--secret", secret); err != nil {
			t.Fatal(err, out)
		}
	}
	token()
	token()
	if err := os.Rename(trail, trail+".1"); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, stderr, "configuration, certificates, CA bundles and CRLs reloaded")
	token()
	// The rotated file ends with the writer's trail_closed, the new one
	// starts with its trail_opened.
	if out, err := cli("audit", "verify", trail+".1"); err != nil || !strings.Contains(out, "2 events, chain intact (4 lines with 1 trail_opened, 1 trail_closed)") {
		t.Fatalf("rotated file: %v %s", err, out)
	}
	f, _ := os.Open(trail + ".1")
	last, err := audit.LastHash(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cli("audit", "verify", trail, "--from", last); err != nil || !strings.Contains(out, "1 events, chain intact (2 lines with 1 trail_opened, 0 trail_closed)") {
		t.Fatalf("new file, --from the rotated one's last hash: %v %s", err, out)
	}
}

// waitLog waits until the broker's log holds line (the log is printed if not).
func waitLog(t *testing.T, log fmt.Stringer, line string) {
	t.Helper()
	if testkit.Poll(testkit.Timeout, func() bool { return strings.Contains(log.String(), line) }) != nil {
		t.Fatalf("no %q in the log:\n%s", line, log)
	}
}
