package runtime

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/authn/spiffe/spiffetest"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/broker/audit"
	"github.com/tokenbroker/tokenbroker/broker/registry"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/config"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// syncBuffer is a log the server writes while the test reads it.
type syncBuffer = testkit.Buffer

// harness runs a runtime from a configuration file: a temporary directory,
// a server certificate from a test CA, a free address.
type harness struct {
	t      *testing.T
	dir    string
	addr   string
	cacert string
	ca     *certs.CA
}

// freeAddr is a loopback address nobody listens on.
func freeAddr(t *testing.T) string { return testkit.FreeAddr(t) }

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, dir: t.TempDir(), addr: freeAddr(t)}
	h.ca, _ = certs.NewCA("server CA", time.Hour)
	sp, sk, _ := h.ca.Issue(certs.Leaf{CommonName: "broker", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	h.write("server.pem", sp)
	h.write("server-key.pem", sk)
	h.cacert = h.write("ca.pem", h.ca.CertPEM())
	return h
}

func (h *harness) write(name string, b []byte) string {
	p := filepath.Join(h.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// head is the configuration every test starts with: issuer, listen, tls,
// and a file backend in the test's directory.
func (h *harness) head() string {
	return "issuer: https://" + h.addr + "\nlisten: " + h.addr + "\ntls:\n  cert_file: " + filepath.Join(h.dir, "server.pem") +
		"\n  key_file: " + filepath.Join(h.dir, "server-key.pem") + "\nbackend:\n  file:\n    dir: " + filepath.Join(h.dir, "data") + "\n"
}

// serve runs the runtime over the configuration file at cfgPath (read
// again on every reload) until the test ends, and returns it and its log.
func (h *harness) serve(cfgPath string) (*Runtime, *syncBuffer) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := &syncBuffer{}
	rt, err := New(ctx, func() (*config.Config, error) { return config.Load(cfgPath, nil) }, log)
	if err != nil {
		cancel()
		h.t.Fatalf("New: %v\n%s", err, log)
	}
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	h.t.Cleanup(func() { cancel(); <-done; rt.Close() })
	waitFor(h.t, log, "listening")
	return rt, log
}

// client registers a client_secret_basic client in the configuration's
// backend and returns its secret.
func (h *harness) client(cfgPath, id string) string {
	h.t.Helper()
	return h.register(cfgPath, &backends.Client{ClientID: id, Scope: "read"})
}

// register registers c in the configuration's backend and returns its
// secret, if it has one.
func (h *harness) register(cfgPath string, c *backends.Client) string {
	h.t.Helper()
	fc, err := config.Load(cfgPath, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	store, err := OpenStore(context.Background(), fc, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	defer store.Close()
	r, err := registry.New(store, registry.Config{Methods: SupportedMethods}).Create(context.Background(), c)
	if err != nil {
		h.t.Fatal(err)
	}
	return r.Secret
}

// httpClient is an HTTPS client that trusts the harness's server CA.
func (h *harness) httpClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(h.ca.CertPEM())
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// spiffeCA is a test SPIFFE CA for trust domain td whose bundle the
// harness wrote to the file bundleName; it returns the CA and the file's path.
func (h *harness) spiffeCA(td, bundleName string) (*spiffetest.CA, string) {
	h.t.Helper()
	ca, err := spiffetest.NewCA(td)
	if err != nil {
		h.t.Fatal(err)
	}
	bj, err := ca.BundleJSON()
	if err != nil {
		h.t.Fatal(err)
	}
	return ca, h.write(bundleName, bj)
}

// postSVID posts a client_credentials request authenticated by the JWT-SVID
// tok as client_assertion (RFC 7521 §4.2, spiffe_jwt) with hc and returns
// the status and the decoded response.
func (h *harness) postSVID(hc *http.Client, tok string) (int, map[string]any) {
	h.t.Helper()
	return h.postForm(hc, "https://"+h.addr+broker.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {spiffe.AssertionType}, "client_assertion": {tok}})
}

// postForm posts form to u with hc and returns the status and the decoded
// response.
func (h *harness) postForm(hc *http.Client, u string, form url.Values) (int, map[string]any) {
	h.t.Helper()
	resp, err := hc.PostForm(u, form)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// request asks the running broker for a token as id and returns the
// status and the decoded response.
func (h *harness) request(id, secret string) (int, map[string]any) {
	h.t.Helper()
	hc := h.httpClient()
	req, _ := http.NewRequest(http.MethodPost, "https://"+h.addr+broker.PathToken, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := hc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// token gets a token for id at the running broker and returns its claims.
func (h *harness) token(id, secret string) map[string]any {
	h.t.Helper()
	code, m := h.request(id, secret)
	tok, _ := m["access_token"].(string)
	if code != http.StatusOK || tok == "" {
		h.t.Fatalf("token: %d %v", code, m)
	}
	parts := strings.Split(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	claims := map[string]any{}
	json.Unmarshal(b, &claims)
	return claims
}

// waitFor waits until log holds s.
func waitFor(t *testing.T, log *syncBuffer, s string) {
	t.Helper()
	testkit.WaitFor(t, fmt.Sprintf("%q logged", s), func() bool { return strings.Contains(log.String(), s) })
}

// trail verifies the audit trail at path, its first line following from.
func trail(t *testing.T, path, from string) audit.Report {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := audit.Verify(f, from, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Broken != 0 || len(rep.Unclean) > 0 {
		t.Fatalf("%s: %+v", path, rep)
	}
	return rep
}
