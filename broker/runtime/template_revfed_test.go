package runtime

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/internal/config"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// TestRegistrantCannotStopTheBroker (review revfed): an identity a template
// matches and a registered client holds is refused at request time
// (template.ErrAmbiguous) whenever the registration happened — so the same
// state must not make a reload or the start of another replica fail. Here
// the registration is a self-registered client (RFC 7591, initial access
// token) naming a SPIFFE ID as its tls_client_auth_san_uri (RFC 8705 §2.1.2):
// before the fix, one such registration made every later SIGHUP fail
// ("reload failed; keeping the running configuration") and every restart or
// new replica refuse to start — a registrant could freeze the operator's
// configuration (no issuer removed, no CA rotated) and take replicas down.
func TestRegistrantCannotStopTheBroker(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	iat := strings.Repeat("r", 43)
	iatPath := h.write("iat", []byte(iat+"\n"))
	conf := func(addr, scope string) string {
		return "issuer: https://" + addr + "\nlisten: " + addr + "\ntls:\n  cert_file: " + filepath.Join(h.dir, "server.pem") +
			"\n  key_file: " + filepath.Join(h.dir, "server-key.pem") + "\n  client_ca_files: [" + h.cacert + "]\nbackend:\n  file:\n    dir: " + filepath.Join(h.dir, "data") + "\n" +
			"registration:\n  initial_access_token_file: " + iatPath + "\n" +
			`federation:
  template_refresh: 50ms
  templates:
    - name: payments-spiffe
      spiffe_id: spiffe://prod.example/ns/payments/sa/*
      token_endpoint_auth_method: tls_client_auth
      scope: ` + scope + `
      audiences: [https://payments.example.test]
`
	}
	cfgPath := h.write("broker.yaml", []byte(conf(h.addr, "payments:read")))
	rt, log := h.serve(cfgPath)

	// The registrant: an initial access token, nothing else.
	body, _ := json.Marshal(map[string]any{"client_name": "squatter", "token_endpoint_auth_method": "tls_client_auth",
		"tls_client_auth_san_uri": "spiffe://prod.example/ns/payments/sa/api", "scope": "read"})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(h.ca.CertPEM())
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+h.addr+broker.PathRegister, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+iat)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("registration: %d", resp.StatusCode)
	}
	testkit.WaitFor(t, "the running broker sees the registered identity", func() bool {
		return strings.Contains(log.String(), "ambiguous identity")
	})

	// The operator's next reload applies.
	h.write("broker.yaml", []byte(conf(h.addr, "payments:read payments:write")))
	rt.Reload(t.Context())
	if s := log.String(); strings.Contains(s, "reload failed") || !strings.Contains(s, "SIGHUP: configuration") {
		t.Fatalf("a self-registered client made the reload fail:\n%s", s)
	}
	// Another replica (same backend) starts.
	addr := testkit.FreeAddr(t)
	other := h.write("replica.yaml", []byte(conf(addr, "payments:read")))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rt2, err := New(ctx, func() (*config.Config, error) { return config.Load(other, nil) }, &syncBuffer{})
	if err != nil {
		t.Fatalf("a self-registered client stops another replica from starting: %v", err)
	}
	rt2.Close()
}
