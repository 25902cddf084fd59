package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/certs"
	"github.com/tokenbroker/tokenbroker/internal/config"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// syncBuffer is a log the server writes while the test reads it.
type syncBuffer = testkit.Buffer

// freeAddr is a loopback address nobody listens on.
func freeAddr(t *testing.T) string { return testkit.FreeAddr(t) }

// devCLI runs the dev broker once in a fresh working directory, so that its
// state (keys, file backend) exists there, and returns runCLI.
func devCLI(t *testing.T) func(args ...string) (string, error) {
	t.Helper()
	t.Chdir(t.TempDir())
	_, _, stop := startDev(t, freeAddr(t))
	stop()
	return runCLI
}

// runCLI runs the command line args in the current directory and returns
// its stdout and stderr together.
func runCLI(args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String() + errb.String(), err
}

// startDev runs "serve --dev" in the current directory and waits for the banner.
func startDev(t *testing.T, addr string) (stdout, stderr *syncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--dev", "--listen", addr}, stdout, stderr) }()
	testkit.WaitFor(t, "the serve --dev banner", func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve --dev exited: %v\n%s", err, stderr)
		default:
		}
		return strings.Contains(stderr.String(), "listening")
	})
	return stdout, stderr, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve --dev: %v", err)
		}
	}
}

// The README's promise: one command, then paste the printed curl lines.
func TestDevModeCurlLines(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	// The private_key_jwt line calls this program: build it.
	bin := filepath.Join(t.TempDir(), "tokenbroker")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	saved := selfCommand
	selfCommand = func() string { return bin }
	t.Cleanup(func() { selfCommand = saved })
	t.Chdir(t.TempDir())
	addr := freeAddr(t)
	stdout, stderr, stop := startDev(t, addr)
	for _, f := range []string{"ca.pem", "client-ca.pem", "client-ca-key.pem", "registration-token", "data/signing-keys.json", "demo/demo-basic/secret", "demo/demo-post/secret",
		"demo/demo-mtls-dn/cert.pem", "demo/demo-mtls-dn/key.pem", "demo/demo-mtls-spiffe/cert.pem", "demo/demo-selfsigned/cert.pem", "demo/demo-jwt/key.pem", "demo/demo-k8s/issuer-key.pem", "demo/demo-k8s/issuer-jwks.json",
		"demo/demo-dpop/dpop-key.pem", "demo/demo-dpop/secret",
		"spiffe-bundle.json", "spiffe-jwt-key.pem", "demo/spiffe~tokenbroker.test~ns~demo~sa~x509-svid/cert.pem"} {
		if _, err := os.Stat(filepath.Join(defaultDevState, f)); err != nil {
			t.Errorf("state file %s: %v", f, err)
		}
	}
	banner := stdout.String()
	if !strings.Contains(banner, "https://"+addr+"/.well-known/oauth-authorization-server") {
		t.Fatalf("banner lacks the metadata URL:\n%s", banner)
	}
	lines := curlLines(banner)
	if len(lines) != len(demoClients)+2 {
		t.Fatalf("want a curl line per demo client, one for the demo federated template and one for registration:\n%s", banner)
	}
	for _, l := range lines {
		out, err := exec.Command("sh", "-c", l+" -sS").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", l, err, out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil || (m["access_token"] == nil && m["client_id"] == nil) {
			t.Fatalf("%s:\n%s\n%s", l, out, stderr)
		}
		if strings.Contains(l, "DPoP: ") { // demo-dpop: RFC 9449 — a DPoP-bound token, and none without the proof
			if m["token_type"] != "DPoP" {
				t.Fatalf("%s: token_type %v", l, m["token_type"])
			}
			bare := regexp.MustCompile(`-H "DPoP: \$\([^)]*\)" `).ReplaceAllString(l, "")
			out, _ := exec.Command("sh", "-c", bare+" -sS").CombinedOutput()
			if bare == l || !strings.Contains(string(out), "invalid_dpop_proof") {
				t.Fatalf("%s without its proof: %s", bare, out)
			}
		}
	}
	stop()
	// The log never carries a secret handed out in the state directory.
	for _, f := range []string{"demo/demo-basic/secret", "demo/demo-post/secret", "registration-token"} {
		b, _ := os.ReadFile(filepath.Join(defaultDevState, f))
		if s := strings.TrimSpace(string(b)); strings.Contains(stderr.String(), s) {
			t.Errorf("%s appears in the log", f)
		}
	}

	// A restart reuses the state: same CA, same demo credentials.
	ca1, _ := os.ReadFile(filepath.Join(defaultDevState, "ca.pem"))
	stdout, _, stop = startDev(t, addr)
	defer stop()
	ca2, _ := os.ReadFile(filepath.Join(defaultDevState, "ca.pem"))
	if !bytes.Equal(ca1, ca2) {
		t.Fatal("restart replaced the CA")
	}
	out, err := exec.Command("sh", "-c", curlLines(stdout.String())[0]+" -sS").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "access_token") {
		t.Fatalf("demo client after restart: %v %s", err, out)
	}
}

// curlLines joins the banner's curl commands (with their continuation lines).
func curlLines(banner string) []string {
	var out []string
	var cur string
	for _, l := range strings.Split(banner, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "curl "):
			cur = l
		case cur != "" && l != "":
			cur = strings.TrimSuffix(cur, "\\") + " " + l
		}
		if cur != "" && !strings.HasSuffix(cur, "\\") {
			out = append(out, cur)
			cur = ""
		}
	}
	return out
}

func TestClientsAndKeysCLI(t *testing.T) {
	cli := devCLI(t)
	out, err := cli("clients", "create", "--id", "billing", "--scope", "read", "--resource", "https://api.example.test", "--lifetime", "2m")
	if err != nil {
		t.Fatalf("create: %v %s", err, out)
	}
	var created struct {
		Client map[string]any `json:"client"`
		Secret string         `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Secret == "" || created.Client["access_token_lifetime"] != 120.0 {
		t.Fatalf("create output: %v %s", err, out)
	}
	if out, _ := cli("clients", "list"); !strings.Contains(out, "billing\n") || !strings.Contains(out, "demo-basic\n") {
		t.Fatalf("list: %s", out)
	}
	if out, err := cli("clients", "update", "billing", "--scope", "read write"); err != nil || !strings.Contains(out, `"read write"`) {
		t.Fatalf("update: %v %s", err, out)
	}
	if out, err := cli("clients", "get", "billing"); err != nil || !strings.Contains(out, `"https://api.example.test"`) {
		t.Fatalf("get: %v %s", err, out)
	}
	if out, err := cli("clients", "rotate-secret", "billing"); err != nil || !strings.Contains(out, "client_secret") {
		t.Fatalf("rotate-secret: %v %s", err, out)
	}
	if out, err := cli("clients", "create", "--id", "bad", "--method", "none"); err == nil || !strings.Contains(out+err.Error(), "token_endpoint_auth_method") {
		t.Fatalf("bad method accepted: %v %s", err, out)
	}
	if _, err := cli("clients", "delete", "billing"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("clients", "get", "billing"); err == nil {
		t.Fatal("deleted client still readable")
	}

	if _, err := cli("keys", "rotate"); err == nil || !strings.Contains(err.Error(), "published") {
		t.Fatalf("rotation right after start should wait for publication: %v", err)
	}
	out, err = cli("keys", "rotate", "--force")
	states := map[string]int{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[1] == "ES256" {
			states[f[2]]++
		}
	}
	if err != nil || states["retired"] != 1 || states["active"] != 1 || states["next"] != 1 {
		t.Fatalf("keys rotate --force: %v\n%s", err, out)
	}
}

func TestConfigFileAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // the configurations below name the relative backend dir "x"
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "issuer: https://auth.example.test\nbackend:\n  file:\n    dir: "+dir+"/data\ntokens:\n  lifetime: 2m\n  default_audience: https://api.example.test\n")
	fc, err := config.Load(good, []string{"TOKENBROKER_TOKENS_LIFETIME=3m", "TOKENBROKER_SCOPES_SUPPORTED=read, write", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(fc.Tokens.Lifetime) != 3*time.Minute || len(fc.ScopesSupported) != 2 || fc.Backend.Section(file.Name).(*file.Settings).Dir != dir+"/data" {
		t.Fatalf("environment not applied over the file: %+v", fc)
	}
	fc.TLS.CertFile, fc.TLS.KeyFile = "server.pem", "server-key.pem" // named, not read: Validate opens nothing
	if err := fc.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	for name, tc := range map[string]struct {
		yaml string
		env  []string
		key  string
	}{
		"unknown key":      {"issuer: https://a.example\nisuser: x\n", nil, "isuser"},
		"bad duration":     {"tokens:\n  lifetime: soon\n", nil, "soon"},
		"unknown env":      {"", []string{"TOKENBROKER_NOPE=1"}, "TOKENBROKER_NOPE"},
		"bad env duration": {"", []string{"TOKENBROKER_TOKENS_LIFETIME=x"}, "TOKENBROKER_TOKENS_LIFETIME"},
	} {
		p := write(strings.ReplaceAll(name, " ", "-")+".yaml", tc.yaml)
		if _, err := config.Load(p, tc.env); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v, want an error naming %s", name, err, tc.key)
		}
	}
	for name, tc := range map[string]struct {
		yaml, key string
	}{
		"http issuer":   {"issuer: http://a.example\nbackend:\n  file:\n    dir: x\n", "issuer"},
		"long lifetime": {"issuer: https://a.example\nbackend:\n  file:\n    dir: x\ntokens:\n  max_lifetime: 1h\n", "tokens.max_lifetime"},
		"no backend":    {"issuer: https://a.example\n", "backend.file.dir"},
		"bad backend":   {"issuer: https://a.example\nbackend:\n  type: etcd\n", "backend.type"},
		"bad log level": {"issuer: https://a.example\nbackend:\n  file:\n    dir: x\nlog:\n  level: loud\n", "log.level"},
		"no tls":        {"issuer: https://a.example\nbackend:\n  file:\n    dir: x\n", "tls.cert_file"},
		"neg jti share": {"issuer: https://a.example\nbackend:\n  file:\n    dir: x\nshared_state:\n  max_jtis_per_client: -1\n", "shared_state.max_jtis_per_client"},
	} {
		p := write(strings.ReplaceAll(name, " ", "-")+".yaml", tc.yaml)
		err := run(context.Background(), []string{"config", "check", p}, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v, want an error naming %s", name, err, tc.key)
		}
		if _, err := os.Stat(filepath.Join(dir, "x")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: config check created the backend directory: %v", name, err)
		}
	}
}

// token, inspect and the relying-party demo against a real dev broker.
func TestTokenInspectAndDemo(t *testing.T) {
	t.Chdir(t.TempDir())
	addr := freeAddr(t)
	_, _, stop := startDev(t, addr)
	defer stop()
	iss := "https://" + addr
	ctx := context.Background()
	cli := runCLI
	demo := filepath.Join(defaultDevState, "demo")
	for name, args := range map[string][]string{
		"secret":      {"--client-id", "demo-basic", "--secret-file", filepath.Join(demo, "demo-basic", "secret")},
		"secret post": {"--client-id", "demo-post", "--secret-file", filepath.Join(demo, "demo-post", "secret"), "--post"},
		"key":         {"--client-id", "demo-jwt", "--key", filepath.Join(demo, "demo-jwt", "key.pem")},
		"certificate": {"--client-id", "demo-mtls-dn", "--cert", filepath.Join(demo, "demo-mtls-dn", "cert.pem"), "--cert-key", filepath.Join(demo, "demo-mtls-dn", "key.pem")},
	} {
		out, err := cli(append([]string{"token", "--issuer", iss}, args...)...)
		if err != nil || strings.Count(strings.TrimSpace(out), ".") != 2 {
			t.Fatalf("token (%s): %v %s", name, err, out)
		}
		if name != "certificate" {
			continue
		}
		tok := strings.TrimSpace(out)
		if out, err := cli("inspect", "--issuer", iss, tok); err != nil || !strings.Contains(out, "client_id: demo-mtls-dn") || !strings.Contains(out, "give --cert") {
			t.Fatalf("inspect: %v %s", err, out)
		}
		if out, err := cli("inspect", "--issuer", iss, "--cert", filepath.Join(demo, "demo-mtls-dn", "cert.pem"), tok); err != nil || !strings.Contains(out, "matches") {
			t.Fatalf("inspect --cert (own): %v %s", err, out)
		}
		if _, err := cli("inspect", "--issuer", iss, "--cert", filepath.Join(demo, "demo-mtls-spiffe", "cert.pem"), tok); err == nil {
			t.Fatal("inspect accepted another certificate for a bound token")
		}
	}
	if out, err := cli("token", "--issuer", iss, "--client-id", "demo-basic", "--secret", "wrong"); err == nil || !strings.Contains(out+err.Error(), "invalid_client") {
		t.Fatalf("wrong secret: %v %s", err, out)
	}

	apiAddr := freeAddr(t)
	actx, cancel := context.WithCancel(ctx)
	apiOut := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(actx, []string{"demo", "api", "--issuer", iss, "--listen", apiAddr}, apiOut, &syncBuffer{})
	}()
	defer func() { cancel(); <-done }()
	testkit.WaitFor(t, "the demo API banner", func() bool { return strings.Contains(apiOut.String(), "demo API on") })
	out, err := cli("demo", "client", "--issuer", iss, "--api", "https://"+apiAddr)
	if err != nil || !strings.Contains(out, "1. demo-mtls-spiffe with its own certificate: 200") || !strings.Contains(out, "2. the same token from another certificate: 401") {
		t.Fatalf("demo client: %v\n%s", err, out)
	}
}

// serveHarness is what the serve-with-a-config-file tests share: a temp
// dir, a server certificate from a test CA, a free address.
type serveHarness struct {
	t      *testing.T
	dir    string
	addr   string
	cacert string
	ca     *certs.CA
}

func newServeHarness(t *testing.T) *serveHarness {
	h := &serveHarness{t: t, dir: t.TempDir(), addr: freeAddr(t)}
	h.ca, _ = certs.NewCA("server CA", time.Hour)
	sp, sk, _ := h.ca.Issue(certs.Leaf{CommonName: "broker", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	h.write("server.pem", sp)
	h.write("server-key.pem", sk)
	h.cacert = h.write("ca.pem", h.ca.CertPEM())
	return h
}

func (h *serveHarness) write(name string, b []byte) string {
	p := filepath.Join(h.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// head is the configuration every test starts with: issuer, listen, tls.
func (h *serveHarness) head() string {
	return "issuer: https://" + h.addr + "\nlisten: " + h.addr + "\ntls:\n  cert_file: " + filepath.Join(h.dir, "server.pem") + "\n  key_file: " + filepath.Join(h.dir, "server-key.pem") + "\n"
}

// serve runs "serve --config" until the test ends and returns its log.
func (h *serveHarness) serve(cfgPath string) *syncBuffer {
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", cfgPath}, &syncBuffer{}, stderr) }()
	h.t.Cleanup(func() { cancel(); <-done })
	testkit.WaitFor(h.t, "the serve banner", func() bool {
		select {
		case err := <-done:
			h.t.Fatalf("serve: %v\n%s", err, stderr)
		default:
		}
		return strings.Contains(stderr.String(), "listening")
	})
	return stderr
}

// cli runs a command in-process and returns its output.
func cli(args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String() + errb.String(), err
}

// createdSecret extracts client_secret from "clients create" output.
func createdSecret(t *testing.T, out string) string {
	var c struct {
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.Secret == "" {
		t.Fatalf("clients create output: %v %s", err, out)
	}
	return c.Secret
}
