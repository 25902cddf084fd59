package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/broker"
)

// auditHarness serves a file-backed broker with the given audit section
// and one secret client, and returns a token-request function.
func auditHarness(t *testing.T, audit string) (h *serveHarness, adminAddr string, token func(secret string) (int, map[string]any), secret string) {
	h = newServeHarness(t)
	adminAddr = freeAddr(t)
	cfgPath := h.write("broker.yaml", []byte(h.head()+"backend:\n  file:\n    dir: "+filepath.Join(h.dir, "data")+
		"\ntokens:\n  default_audience: https://api.example.test\nadmin:\n  listen: "+adminAddr+"\naudit:\n"+audit))
	out, err := cli("clients", "create", "--config", cfgPath, "--id", "c", "--scope", "read")
	if err != nil {
		t.Fatal(err, out)
	}
	secret = createdSecret(t, out)
	h.serve(cfgPath)
	pem, _ := os.ReadFile(h.cacert)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 10 * time.Second}
	token = func(secret string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, "https://"+h.addr+broker.PathToken, strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("c", url.QueryEscape(secret))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	return h, adminAddr, token, secret
}

// A keyed trail (audit.chain_key_file) end to end: "audit verify --key"
// checks every line's mac; a rewritten last line passes a keyless check
// (anyone can do that) but not the keyed one; a short key is refused by name.
func TestAuditChainKeyFile(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "audit.key")
	os.WriteFile(keyFile, []byte("3f1c9a7be2d04c5f8a6b1e2d3c4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f\n"), 0o600)
	otherKey := filepath.Join(dir, "other.key")
	os.WriteFile(otherKey, []byte(strings.Repeat("k", 40)), 0o600)
	auditPath := filepath.Join(dir, "audit.log")
	_, _, token, secret := auditHarness(t, "  file: "+auditPath+"\n  chain_key_file: "+keyFile+"\n")
	if code, _ := token(secret); code != 200 {
		t.Fatalf("token: %d", code)
	}
	if code, _ := token("wrong"); code != 401 {
		t.Fatalf("wrong secret: %d", code)
	}
	if code, _ := token(secret); code != 200 {
		t.Fatalf("token: %d", code)
	}
	if out, err := cli("audit", "verify", auditPath, "--key", keyFile); err != nil || !strings.Contains(out, "3 events, chain and macs intact") {
		t.Fatalf("audit verify --key: %v %s", err, out)
	}
	if out, err := cli("audit", "verify", auditPath, "--key", otherKey); err == nil {
		t.Fatalf("audit verify with another key passed: %s", out)
	}
	b, _ := os.ReadFile(auditPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	last := len(lines) - 1 // the broker runs: no trail_closed yet, the last token line is last
	lines[last] = strings.Replace(lines[last], `"client_id":"c"`, `"client_id":"someone-else"`, 1)
	tampered := filepath.Join(dir, "tampered.log")
	os.WriteFile(tampered, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	if out, err := cli("audit", "verify", tampered); err != nil || !strings.Contains(out, "check them with --key") {
		t.Fatalf("a keyless check cannot see a rewritten tail, yet: %v %s", err, out)
	}
	if out, err := cli("audit", "verify", tampered, "--key", keyFile); err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("audit verify --key on a rewritten tail: %v %s", err, out)
	}

	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("too short"), 0o600)
	cfg := filepath.Join(dir, "short.yaml")
	h := newServeHarness(t)
	os.WriteFile(cfg, []byte(h.head()+"backend:\n  file:\n    dir: "+dir+"/data2\naudit:\n  file: "+dir+"/a2.log\n  chain_key_file: "+short+"\n"), 0o600)
	if out, err := cli("config", "check", cfg); err == nil || !strings.Contains(err.Error(), "audit.chain_key_file") {
		t.Fatalf("a short chain key: %v %s", err, out)
	}
}
