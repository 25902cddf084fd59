package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/certs"
)

// SIGHUP reloads the configuration without a restart (and without dropping
// the listener): a changed token lifetime applies to the next token.
func TestSIGHUPReloadsConfiguration(t *testing.T) {
	dir := t.TempDir()
	ca, _ := certs.NewCA("server CA", time.Hour)
	sp, sk, _ := ca.Issue(certs.Leaf{CommonName: "broker", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	addr := freeAddr(t)
	cfg := func(lifetime string) []byte {
		return []byte("issuer: https://" + addr + "\nlisten: " + addr + "\ntls:\n  cert_file: " + filepath.Join(dir, "s.pem") + "\n  key_file: " + filepath.Join(dir, "s-key.pem") +
			"\nbackend:\n  file:\n    dir: " + filepath.Join(dir, "data") + "\ntokens:\n  default_audience: https://api.example.test\n  lifetime: " + lifetime + "\n")
	}
	write("s.pem", sp)
	write("s-key.pem", sk)
	cfgPath := write("broker.yaml", cfg("5m"))
	cacert := write("ca.pem", ca.CertPEM())
	ctx := context.Background()
	cli := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(ctx, args, &out, &errb)
		return out.String() + errb.String(), err
	}
	out, err := cli("clients", "create", "--config", cfgPath, "--id", "c", "--scope", "read")
	if err != nil {
		t.Fatal(err, out)
	}
	var created struct {
		Secret string `json:"client_secret"`
	}
	json.Unmarshal([]byte(out), &created)
	sctx, cancel := context.WithCancel(ctx)
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(sctx, []string{"serve", "--config", cfgPath}, &syncBuffer{}, stderr) }()
	defer func() { cancel(); <-done }()
	for !strings.Contains(stderr.String(), "listening") {
		time.Sleep(20 * time.Millisecond)
	}
	expiresIn := func() float64 {
		t.Helper()
		tok, err := cli("token", "--issuer", "https://"+addr, "--cacert", cacert, "--client-id", "c", "--secret", created.Secret, "--decode")
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
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "configuration, certificates, CA bundles and CRLs reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := expiresIn(); got != 120 {
		t.Fatalf("lifetime after SIGHUP: %v, want 120", got)
	}
	// A broken configuration on SIGHUP keeps the running one.
	write("broker.yaml", []byte("issuer: http://not-https\n"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	for !strings.Contains(stderr.String(), "reload failed; keeping the running configuration") {
		if time.Now().After(deadline) {
			t.Fatalf("bad reload not reported:\n%s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := expiresIn(); got != 120 {
		t.Fatalf("a failed reload changed the running configuration: %v", got)
	}
}
