package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/certs"
)

// config check is a dry run: on a configuration whose backend directory,
// audit file and signing keys do not exist yet it reads what is named and
// creates nothing.
func TestConfigCheckCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	ca, err := certs.NewCA("check CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(certs.Leaf{CommonName: "broker", Server: true, DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(dir, map[string][]byte{"server.pem": certPEM, "server-key.pem": keyPEM, "ca.pem": ca.CertPEM()})
	absent := filepath.Join(dir, "absent")
	cfg := filepath.Join(dir, "broker.yaml")
	os.WriteFile(cfg, []byte(strings.Join([]string{
		"issuer: https://localhost:8443",
		"tls:",
		"  cert_file: " + filepath.Join(dir, "server.pem"),
		"  key_file: " + filepath.Join(dir, "server-key.pem"),
		"  client_ca_files: [" + filepath.Join(dir, "ca.pem") + "]",
		"backend:",
		"  file:",
		"    dir: " + filepath.Join(absent, "data"),
		"audit:",
		"  file: " + filepath.Join(absent, "audit.log"),
		"  chain: true",
		"",
	}, "\n")), 0o600)
	before, _ := os.ReadDir(dir)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"config", "check", cfg}, &out, &bytes.Buffer{}); err != nil || !strings.Contains(out.String(), "ok") {
		t.Fatalf("config check: %v %s", err, out.String())
	}
	if _, err := os.Stat(absent); !os.IsNotExist(err) {
		t.Fatalf("config check created %s: %v", absent, err)
	}
	if after, _ := os.ReadDir(dir); len(after) != len(before) {
		t.Fatalf("config check created files: %v → %v", before, after)
	}
}
