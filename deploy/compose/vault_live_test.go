package compose_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends/vault/vaulttest"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// The vault profile run for real without a container engine: the pinned
// Vault (dev server, as the compose file runs it), vault-init.sh executed
// with Vault's own CLI, a password-protected redis-server, the broker
// binary running the broker service's command with its mounted
// configuration (container addresses and mount points mapped to this
// machine), the seed services' commands against that Vault, and tokens for
// both seeded clients. What this proves and the static test cannot: the
// policy vault-init writes is enough for the broker's start-up capability
// check, registration and issuance; AppRole login with the secret-id it
// writes works; the seeds' command lines do what the comments say.
func TestComposeVaultProfileLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("vault-init.sh chowns the secret-id to the image's user: needs root (CI runs as root)")
	}
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("TB_TEST_REQUIRE_REDIS") != "" {
			t.Fatal("redis-server is required (TB_TEST_REQUIRE_REDIS)")
		}
		t.Skip("redis-server not installed")
	}
	v := vaulttest.Start(t)
	p := load(t, "vault")
	dir := t.TempDir()

	// vault-init: its entrypoint script, /approle mapped here, the vault CLI on PATH.
	approle := filepath.Join(dir, "approle")
	os.Mkdir(approle, 0o755)
	binDir := filepath.Join(dir, "bin")
	os.Mkdir(binDir, 0o755)
	if err := os.Symlink(vaulttest.Bin(), filepath.Join(binDir, "vault")); err != nil {
		t.Fatal(err)
	}
	vi := p.Services["vault-init"]
	script := ""
	for _, m := range vi.Volumes {
		if m.Target == vi.Entrypoint[1] {
			b, err := os.ReadFile(m.Source)
			if err != nil {
				t.Fatal(err)
			}
			// The volume's paths only, not the auth/approle/… API paths.
			script = regexp.MustCompile(`(^|[\s>])/approle/`).ReplaceAllString(string(b), "${1}"+approle+"/")
		}
	}
	initCmd := exec.Command("sh", "-c", script)
	initCmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"), "VAULT_ADDR="+v.URL(), "VAULT_TOKEN="+*vi.Environment["VAULT_TOKEN"])
	if out, err := initCmd.CombinedOutput(); err != nil {
		t.Fatalf("vault-init.sh: %v\n%s", err, out)
	}

	// redis, as the compose service runs it: the password from pki.sh's file.
	redisAddr := testkit.FreeAddr(t)
	pass, _ := os.ReadFile(filepath.Join(pki, "redis-password"))
	_, port, _ := strings.Cut(redisAddr, ":")
	rc := exec.Command(redisBin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--requirepass", strings.TrimSpace(string(pass)))
	rc.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := rc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Process.Kill(); rc.Wait() })

	// The broker's configuration with the compose network's names mapped here.
	addr, admin := testkit.FreeAddr(t), testkit.FreeAddr(t)
	_, brokerPort, _ := strings.Cut(addr, ":")
	broker := p.Services["broker-vault"]
	m, _, _ := mountFor(broker, *broker.Environment["TOKENBROKER_CONFIG"])
	cfg, err := os.ReadFile(m.Source)
	if err != nil {
		t.Fatal(err)
	}
	cfgText := strings.NewReplacer("/pki/", pki+"/", "/approle/", approle+"/", "http://vault:8200", v.URL(), "redis:6379", redisAddr,
		"0.0.0.0:8443", addr, "0.0.0.0:9090", admin, "https://localhost:8443", "https://localhost:"+brokerPort).Replace(string(cfg))
	cfgPath := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfgPath, []byte(cfgText), 0o600)
	environ := append(os.Environ(), "TOKENBROKER_CONFIG="+cfgPath)

	serve := exec.Command(bin, broker.Command...)
	serve.Env, serve.Dir = environ, dir
	serve.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logs := &testkit.Buffer{}
	serve.Stdout, serve.Stderr = logs, logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when the broker has exited, with its error in
	// exitErr: every reader sees it (a channel send would be taken once).
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = serve.Wait(); close(exited) }()
	t.Cleanup(func() { serve.Process.Kill(); <-exited })
	// depends_on: service_healthy — the image's HEALTHCHECK command.
	cf := containerfile(t)
	testkit.WaitFor(t, "the broker's HEALTHCHECK", func() bool {
		select {
		case <-exited:
			t.Fatalf("broker exited: %v\n%s", exitErr, logs)
		default:
		}
		hc := exec.Command(bin, cf.Final.Config.Healthcheck.Test[2:]...)
		hc.Env = environ
		return hc.Run() == nil
	})

	seed := func(name string) []byte {
		t.Helper()
		c := exec.Command(bin, p.Services[name].Command...)
		c.Env = environ
		out, err := c.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return out
	}
	idOf := func(name string) string {
		c := p.Services[name].Command
		return c[slices.Index(c, "--id")+1]
	}
	var created struct {
		Client struct {
			ID string `json:"client_id"`
		} `json:"client"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal(seed("seed-vault"), &created); err != nil || created.Secret == "" || created.Client.ID != idOf("seed-vault") {
		t.Fatalf("seed-vault output: %v %+v", err, created)
	}
	seed("seed-vault-mtls")

	// Both clients get tokens from the broker (as the compose file's curl lines).
	caPEM, _ := os.ReadFile(filepath.Join(pki, "ca.pem"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	token := func(cfg *tls.Config, form url.Values, user, secret string) (int, string) {
		t.Helper()
		cfg.RootCAs, cfg.ServerName = roots, "localhost"
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(secret))
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if code, body := token(&tls.Config{}, url.Values{"grant_type": {"client_credentials"}}, created.Client.ID, created.Secret); code != http.StatusOK || !strings.Contains(body, `"access_token"`) {
		t.Errorf("compose-demo: %d %s\n%s", code, body, logs)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "client.pem"), filepath.Join(pki, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	mtlsID := idOf("seed-vault-mtls")
	if code, body := token(&tls.Config{Certificates: []tls.Certificate{cert}}, url.Values{"grant_type": {"client_credentials"}, "client_id": {mtlsID}}, "", ""); code != http.StatusOK || !strings.Contains(body, `"access_token"`) {
		t.Errorf("%s over mTLS: %d %s", mtlsID, code, body)
	}
	// A client certificate alone, no such client: refused as the RFC says.
	if code, body := token(&tls.Config{Certificates: []tls.Certificate{cert}}, url.Values{"grant_type": {"client_credentials"}, "client_id": {"nobody"}}, "", ""); code != http.StatusUnauthorized || !strings.Contains(body, "invalid_client") {
		t.Errorf("unknown client: %d %s", code, body)
	}
}
