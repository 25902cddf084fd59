package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends/awssm/awssmtest"
	"github.com/tokenbroker/tokenbroker/certs"
)

// Serve and the CLI against Secrets Manager (the local SigV4 endpoint), with
// credentials from the SDK's default chain (here: the environment).
func TestServeAndCLIWithSecretsManager(t *testing.T) {
	srv := awssmtest.New("AKIDCMDTEST", "cmd-test-secret-key", "us-east-1")
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDCMDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "cmd-test-secret-key")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	dir := t.TempDir()
	ca, _ := certs.NewCA("server CA", time.Hour)
	sp, sk, _ := ca.Issue(certs.Leaf{CommonName: "broker", Server: true, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	addr := freeAddr(t)
	cfgPath := write("broker.yaml", []byte(`issuer: https://`+addr+`
listen: `+addr+`
tls:
  cert_file: `+write("server.pem", sp)+`
  key_file: `+write("server-key.pem", sk)+`
backend:
  type: awssm
  awssm:
    region: us-east-1
    endpoint: `+srv.URL+`
signing:
  type: aws-version-stages
tokens:
  default_audience: https://api.example.test
`))
	ctx := context.Background()
	cli := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(ctx, args, &out, &errb)
		return out.String() + errb.String(), err
	}
	out, err := cli("clients", "create", "--config", cfgPath, "--id", "svc", "--scope", "read")
	if err != nil {
		t.Fatalf("clients create against Secrets Manager: %v %s", err, out)
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
		select {
		case err := <-done:
			t.Fatalf("serve with Secrets Manager: %v\n%s", err, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cacert := write("ca.pem", ca.CertPEM())
	tok, err := cli("token", "--issuer", "https://"+addr, "--cacert", cacert, "--client-id", "svc", "--secret", created.Secret)
	if err != nil {
		t.Fatalf("token: %v %s\n%s", err, tok, stderr)
	}
	if out, err := cli("inspect", "--issuer", "https://"+addr, "--cacert", cacert, strings.TrimSpace(tok)); err != nil || !strings.Contains(out, "client_id: svc") {
		t.Fatalf("inspect: %v %s", err, out)
	}
	if out, err := cli("clients", "rotate-secret", "svc", "--config", cfgPath); err != nil || !strings.Contains(out, "client_secret") {
		t.Fatalf("rotate-secret: %v %s", err, out)
	}
	if out, err := cli("keys", "rotate", "--config", cfgPath, "--force"); err != nil || !strings.Contains(out, "AWSPENDING is now AWSCURRENT") {
		t.Fatalf("keys rotate: %v %s", err, out)
	}
	if srv.Calls("BatchGetSecretValue") == 0 {
		t.Error("serve did not warm its cache with BatchGetSecretValue")
	}
}
