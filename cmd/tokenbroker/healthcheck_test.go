package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/state/statetest"
	"github.com/tokenbroker/tokenbroker/broker/runtime"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// healthcheck runs the command in-process and returns its stdout and the
// exit status main would give it.
func healthcheck(args ...string) (stdout string, code int, err error) {
	var out, errb bytes.Buffer
	err = run(context.Background(), append([]string{"healthcheck"}, args...), &out, &errb)
	if err != nil {
		return out.String(), exitCode(err), err
	}
	return out.String(), 0, nil
}

// The container's HEALTHCHECK against a real broker (config file, admin
// listener, Redis shared state): ready → 0; Redis stopped → 1 with the
// public reason; broker gone → 1. Docker reads 1 as unhealthy and reserves 2.
func TestHealthcheckAgainstRunningBroker(t *testing.T) {
	redisAddr, stopRedis := statetest.StartRedis(t)
	h := newServeHarness(t)
	adminAddr := freeAddr(t)
	cfgPath := h.write("broker.yaml", []byte(h.head()+"backend:\n  file:\n    dir: "+filepath.Join(h.dir, "data")+
		"\nadmin:\n  listen: "+adminAddr+"\nshared_state:\n  type: redis\n  redis:\n    addrs: ["+redisAddr+"]\n"))
	h.serve(cfgPath)

	out, code, err := healthcheck("--config", cfgPath)
	if code != 0 || strings.TrimSpace(out) != "ready" {
		t.Fatalf("healthcheck of a ready broker: %d %q %v", code, out, err)
	}
	if out, code, err := healthcheck("--config", cfgPath, "--live"); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("healthcheck --live: %d %q %v", code, out, err)
	}
	stopRedis()
	testkit.WaitFor(t, "healthcheck to report Redis down", func() bool {
		_, code, err = healthcheck("--config", cfgPath)
		return code == 1 && strings.Contains(err.Error(), "503 shared state unavailable")
	})
	if strings.Contains(err.Error(), redisAddr) {
		t.Errorf("healthcheck names the internal cause: %v", err)
	}
	// Liveness still holds: the process answers, it just cannot serve.
	if _, code, err := healthcheck("--config", cfgPath, "--live"); code != 0 {
		t.Errorf("healthcheck --live with Redis down: %d %v", code, err)
	}
	// Nothing listening: unhealthy, not a usage error.
	if _, code, err := healthcheck("--url", "http://"+freeAddr(t)+"/readyz"); code != 1 {
		t.Errorf("healthcheck of nothing: %d %v", code, err)
	}
}

// Where the probe goes: admin.listen from the file or the environment, a
// wildcard host probed on loopback; refusals exit 1 and say why.
func TestHealthcheckURL(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, url, yaml string
		env             []string
		want, err       string
	}{
		{name: "file", yaml: "admin:\n  listen: 10.1.2.3:9090\n", want: "http://10.1.2.3:9090/readyz"},
		{name: "wildcard v4", yaml: "admin:\n  listen: 0.0.0.0:9090\n", want: "http://127.0.0.1:9090/readyz"},
		{name: "no host", yaml: "admin:\n  listen: :9090\n", want: "http://127.0.0.1:9090/readyz"},
		{name: "wildcard v6", yaml: "admin:\n  listen: '[::]:9090'\n", want: "http://[::1]:9090/readyz"},
		{name: "environment wins", yaml: "admin:\n  listen: :9090\n", env: []string{"TOKENBROKER_ADMIN_LISTEN=:7070"}, want: "http://127.0.0.1:7070/readyz"},
		{name: "environment only", env: []string{"TOKENBROKER_ADMIN_LISTEN=127.0.0.1:7070"}, want: "http://127.0.0.1:7070/readyz"},
		{name: "no admin listener", yaml: "listen: :8443\n", err: "set admin.listen"},
		{name: "bad admin.listen", yaml: "admin:\n  listen: nope\n", err: "admin.listen"},
		{name: "unknown key", yaml: "admin:\n  lisen: :9090\n", err: "lisen"},
		{name: "url", url: "http://127.0.0.1:1/healthz", want: "http://127.0.0.1:1/healthz"},
		{name: "https url", url: "https://127.0.0.1:1/readyz", err: "plain HTTP"},
		{name: "url with user", url: "http://u:p@127.0.0.1:1/readyz", err: "want http://"},
		{name: "not a url", url: "127.0.0.1:9090", err: "want http://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ""
			if tc.yaml != "" {
				cfg = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
				if err := os.WriteFile(cfg, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := healthURL(tc.url, cfg, "/readyz", tc.env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q %v, want an error naming %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
}

// The probe follows no redirect, reads a bounded body and prints it as one
// line of text: a hostile or broken listener cannot flood or spoof the log.
func TestHealthcheckProbeBounds(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "/readyz", http.StatusFound)
		case "/big":
			w.Write([]byte("ready\n\x1b[2J" + strings.Repeat("x", 1<<20)))
		default:
			w.Write([]byte("ready\n"))
		}
	}))
	defer srv.Close()
	if _, code, err := healthcheck("--url", srv.URL+"/redirect"); code != 1 || !strings.Contains(err.Error(), "302") {
		t.Errorf("a redirect: %d %v, want unhealthy 302", code, err)
	}
	out, code, err := healthcheck("--url", srv.URL+"/big")
	if code != 0 || len(out) > maxHealthBody+1 || strings.ContainsAny(out[:len(out)-1], "\n\x1b") {
		t.Errorf("a big answer: %d %v, %d bytes %q…", code, err, len(out), out[:min(len(out), 20)])
	}
	if _, code, err := healthcheck("--url", srv.URL, "--timeout", "0s"); code != 1 {
		t.Errorf("--timeout 0: %d %v", code, err)
	}
	if err := run(context.Background(), []string{"healthcheck", "--bogus"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || exitCode(err) != 2 {
		t.Errorf("a bad flag: %v, want usage error (2)", err)
	}
}

// The admin listener the healthcheck probes is plain HTTP: every timeout is
// set, and the write timeout leaves room for a default 30 s CPU profile.
func TestAdminServerTimeouts(t *testing.T) {
	t.Parallel()
	s := runtime.NewAdminServer(http.NotFoundHandler())
	for name, d := range map[string]time.Duration{"ReadHeaderTimeout": s.ReadHeaderTimeout, "ReadTimeout": s.ReadTimeout, "WriteTimeout": s.WriteTimeout, "IdleTimeout": s.IdleTimeout} {
		if d <= 0 {
			t.Errorf("%s not set", name)
		}
	}
	if s.WriteTimeout <= 30*time.Second {
		t.Errorf("WriteTimeout %s cuts a 30 s profile short", s.WriteTimeout)
	}
}
