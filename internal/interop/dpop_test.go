package interop_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn"
	"github.com/tokenbroker/tokenbroker/authn/dpop"
	"github.com/tokenbroker/tokenbroker/authn/resource"
	"github.com/tokenbroker/tokenbroker/authn/tokensource"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/certs"
)

const audience = "https://api.example.test"

// node returns the node binary and the harness directory, or skips (fails
// under TB_TEST_REQUIRE_NODE=1) when node ≥ 20 or the harness's
// node_modules is missing.
func node(t *testing.T) (bin, dir string) {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("TB_TEST_REQUIRE_NODE") == "1" {
			t.Fatalf("TB_TEST_REQUIRE_NODE=1 but %s", why)
		}
		t.Skipf("%s (install node ≥ 20 and run npm ci in internal/interop/node)", why)
	}
	bin, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	out, err := exec.Command(bin, "-p", "process.versions.node.split('.')[0] >= 20").Output()
	if err != nil || strings.TrimSpace(string(out)) != "true" {
		missing("node is older than 20")
	}
	dir, _ = filepath.Abs("node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oauth4webapi", "package.json")); err != nil {
		missing("internal/interop/node/node_modules is not installed")
	}
	return bin, dir
}

// world is a real broker over TLS on loopback with one client_secret_basic
// client, "node", and the files Node needs to trust it.
type world struct {
	t       *testing.T
	issuer  string
	secret  string
	pool    *x509.CertPool
	caFile  string // the server CA, for NODE_EXTRA_CA_CERTS
	ca      *certs.CA
	tlsCert tls.Certificate
}

func newWorld(t *testing.T, opts ...func(*broker.Config)) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t}
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if w.ca, err = certs.NewCA("interop CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	w.pool = x509.NewCertPool()
	w.pool.AddCert(w.ca.Cert)
	w.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(w.caFile, w.ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := w.ca.Issue(certs.Leaf{CommonName: "127.0.0.1", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if w.tlsCert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.issuer = "https://" + ln.Addr().String()
	cfg := broker.Config{Issuer: w.issuer, DefaultAudience: audience, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Methods: []authn.Method{authn.ClientSecretBasic()}}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := broker.New(ctx, cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		_ = srv.Serve(sctx, ln, broker.TLSConfig(broker.StaticCertificate(w.tlsCert), false))
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	r, err := srv.Registry().Create(ctx, &backends.Client{ClientID: "node", Scope: "read", AllowedResources: []string{audience}, DPoPBoundAccessTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	w.secret = r.Secret
	return w
}

// writeServerFiles writes the server certificate and key for Node's https server.
func (w *world) writeServerFiles() (certFile, keyFile string) {
	certPEM, keyPEM, err := w.ca.Issue(certs.Leaf{CommonName: "127.0.0.1", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		w.t.Fatal(err)
	}
	dir := w.t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for f, b := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			w.t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// startAPI serves our resource middleware over TLS; it answers the claims.
func (w *world) startAPI(cfg resource.DPoPConfig) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.t.Fatal(err)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://" + ln.Addr().String() // DPoP needs the URL clients call (RFC 9449 §4.3 item 9)
	}
	v, err := resource.New(context.Background(), resource.Config{Issuer: w.issuer, Audience: audience, DPoP: cfg,
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.pool}}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		w.t.Fatal(err)
	}
	api := httptest.NewUnstartedServer(v.Middleware(resource.Scopes("read"))(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c, _ := resource.FromContext(r.Context())
		json.NewEncoder(rw).Encode(map[string]string{"client_id": c.ClientID, "jkt": c.DPoPThumbprint()})
	})))
	api.Listener.Close()
	api.Listener = ln
	api.TLS = &tls.Config{Certificates: []tls.Certificate{w.tlsCert}}
	api.StartTLS()
	w.t.Cleanup(api.Close)
	return api.URL
}

func (w *world) nodeEnv(extra ...string) []string {
	return append(append(os.Environ(), "NODE_EXTRA_CA_CERTS="+w.caFile, "ISSUER="+w.issuer), extra...)
}

func newNonces(t *testing.T) *dpop.Nonces {
	k := make([]byte, 32)
	rand.Read(k)
	n, err := dpop.NewNonces(k, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// claimsOf decodes a JWT's payload (it was verified by whoever answered 200).
func claimsOf(t *testing.T, jws string) map[string]any {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %.40q", jws)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(b, &c)
	return c
}

// oauth4webapi's own proofs get a DPoP-bound token from the broker and pass
// our resource middleware — with nonces off, and with nonces on at both
// ends (the library follows use_dpop_nonce once at each).
func TestOAuth4WebAPIClientAgainstBrokerAndMiddleware(t *testing.T) {
	t.Parallel()
	bin, dir := node(t)
	for _, nonces := range []bool{false, true} {
		t.Run(map[bool]string{false: "no nonces", true: "nonces"}[nonces], func(t *testing.T) {
			t.Parallel()
			var rsCfg resource.DPoPConfig
			var opts []func(*broker.Config)
			if nonces {
				rsCfg.Nonces = newNonces(t)
				n := newNonces(t)
				opts = append(opts, func(c *broker.Config) { c.DPoP.Nonces = n })
			}
			w := newWorld(t, opts...)
			api := w.startAPI(rsCfg)
			cmd := exec.Command(bin, "interop.mjs", "client")
			cmd.Dir = dir
			cmd.Env = w.nodeEnv("CLIENT_ID=node", "CLIENT_SECRET="+w.secret, "SCOPE=read", "CALL_URL="+api+"/orders")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node client: %v\n%s", err, stderr.String())
			}
			var got struct {
				JKT           string `json:"jkt"`
				TokenType     string `json:"token_type"`
				AccessToken   string `json:"access_token"`
				CallStatus    int    `json:"call_status"`
				CallBody      string `json:"call_body"`
				CallChallenge string `json:"call_challenge"`
				TokenRetries  int    `json:"token_nonce_retries"`
				CallRetries   int    `json:"call_nonce_retries"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("node client output %q: %v", out, err)
			}
			cnf, _ := claimsOf(t, got.AccessToken)["cnf"].(map[string]any)
			// oauth4webapi lower-cases token_type; RFC 6749 §7.1 types are case-insensitive.
			if !strings.EqualFold(got.TokenType, "DPoP") || cnf["jkt"] != got.JKT || got.JKT == "" {
				t.Fatalf("token_type %q, cnf %v, oauth4webapi's key thumbprint %q", got.TokenType, cnf, got.JKT)
			}
			if got.CallStatus != 200 || !strings.Contains(got.CallBody, `"jkt":"`+got.JKT+`"`) {
				t.Fatalf("our middleware answered oauth4webapi's request with %d %q %q", got.CallStatus, got.CallBody, got.CallChallenge)
			}
			if want := map[bool]int{false: 0, true: 1}[nonces]; got.TokenRetries != want || got.CallRetries != want {
				t.Fatalf("nonce retries: token %d, call %d, want %d", got.TokenRetries, got.CallRetries, want)
			}
		})
	}
}

// The client kit's token and proofs pass oauth4webapi's resource-server
// check (validateJwtAccessToken with requireDPoP, against the broker's
// metadata and JWKS); the same token with another key's proof does not.
func TestKitAgainstOAuth4WebAPIResourceServer(t *testing.T) {
	t.Parallel()
	bin, dir := node(t)
	w := newWorld(t)
	certFile, keyFile := w.writeServerFiles()
	cmd := exec.Command(bin, "interop.mjs", "rs")
	cmd.Dir = dir
	cmd.Env = w.nodeEnv("AUDIENCE="+audience, "TLS_CERT="+certFile, "TLS_KEY="+keyFile)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the harness exits when its stdin ends
		if err := cmd.Wait(); err != nil {
			t.Errorf("node rs: %v\n%s", err, stderr.String())
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("node rs did not start: %v\n%s", err, stderr.String())
	}
	var started struct{ URL string }
	if err := json.Unmarshal([]byte(line), &started); err != nil || started.URL == "" {
		t.Fatalf("node rs said %q", line)
	}

	src, err := tokensource.New(tokensource.Config{TokenURL: w.issuer + broker.PathToken, ClientID: "node", Secret: w.secret,
		RootCAs: w.pool, Scopes: []string{"read"}, DPoP: &tokensource.DPoP{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/orders", "/orders/7"} {
		resp, err := src.Client().Post(started.URL+path+"?page=2", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"jkt":"`+src.JKT()+`"`) {
			t.Fatalf("oauth4webapi refused the kit's request to %s: %d %s", path, resp.StatusCode, b)
		}
	}

	// A proof from another key for the same token: the library refuses it too.
	tok, _ := src.Token()
	other, err := tokensource.New(tokensource.Config{TokenURL: w.issuer + broker.PathToken, ClientID: "node", Secret: w.secret, RootCAs: w.pool, DPoP: &tokensource.DPoP{}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := other.DPoPProof(http.MethodGet, started.URL+"/orders", tok)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, started.URL+"/orders", nil)
	req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
	req.Header.Set("DPoP", p)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.pool}}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("oauth4webapi accepted another key's proof: %d %s", resp.StatusCode, b)
	}
}
