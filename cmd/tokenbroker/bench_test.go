package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/tokenbroker/tokenbroker/cmd/internal/bench"
)

// TestBench drives a dev broker with the load tool (tokenbroker-bench) in each mode it offers
// and checks the report: requests succeed, none fail, and a wrong secret is
// counted as failures with the status it got.
func TestBench(t *testing.T) {
	t.Chdir(t.TempDir())
	addr := freeAddr(t)
	_, _, stop := startDev(t, addr)
	defer stop()
	demo := filepath.Join(defaultDevState, "demo")
	basic := []string{"--client-id", "demo-basic", "--secret-file", filepath.Join(demo, "demo-basic", "secret")}
	cert := []string{"--client-id", "demo-mtls-dn", "--cert", filepath.Join(demo, "demo-mtls-dn", "cert.pem"), "--cert-key", filepath.Join(demo, "demo-mtls-dn", "key.pem")}
	jwtKey := []string{"--client-id", "demo-jwt", "--key", filepath.Join(demo, "demo-jwt", "key.pem")}
	report := regexp.MustCompile(`requests: (\d+) ok, (\d+) failed`)
	for name, args := range map[string][]string{
		"closed loop, secret":      basic,
		"closed loop, certificate": cert,
		"closed loop, assertion":   jwtKey,
		"open loop":                append([]string{"--rate", "200"}, basic...),
		"new connections":          append([]string{"--new-conn"}, cert...),
		"http2":                    append([]string{"--http2"}, basic...),
	} {
		out, err := benchRun(append([]string{"--issuer", "https://" + addr, "--duration", "500ms", "--concurrency", "4"}, args...)...)
		m := report.FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		if ok, _ := strconv.Atoi(m[1]); ok == 0 || m[2] != "0" {
			t.Errorf("%s: %s ok, %s failed\n%s", name, m[1], m[2], out)
		}
		if name == "open loop" && !regexp.MustCompile(`tool lag: p50 `).MatchString(out) {
			t.Errorf("open loop without the tool's lag:\n%s", out)
		}
	}
	out, _ := benchRun("--issuer", "https://"+addr, "--duration", "300ms", "--concurrency", "2", "--client-id", "demo-basic", "--secret", "wrong")
	if m := report.FindStringSubmatch(out); m == nil || m[1] != "0" || m[2] == "0" || !regexp.MustCompile(`\[(401|429)\]`).MatchString(out) {
		t.Fatalf("wrong secret:\n%s", out)
	}
}

// benchRun runs the load tool (cmd/tokenbroker-bench) in-process.
func benchRun(args ...string) (string, error) {
	var out bytes.Buffer
	err := bench.Run(context.Background(), args, &out, &out)
	return out.String(), err
}
