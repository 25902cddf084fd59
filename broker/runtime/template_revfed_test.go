package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/internal/config"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// TestRegistrantCannotStopTheBroker (review revfed): an identity a template
// matches and a registered client holds is refused at request time
// (template.ErrAmbiguous) whenever the registration happened — so the same
// state must not make a reload or the start of another replica fail. Here
// a client naming a SPIFFE ID as its tls_client_auth_san_uri (RFC 8705
// §2.1.2) is registered after start: before the fix, that registration made
// every later SIGHUP fail ("reload failed; keeping the running
// configuration") and every restart or new replica refuse to start — the
// operator's configuration frozen (no issuer removed, no jwks_file key
// dropped, no CA rotated) and replicas down; any RFC 7591 registrant could
// make such a registration (TestRegistrantCannotSquatATemplateIdentity).
func TestRegistrantCannotStopTheBroker(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	iat := strings.Repeat("r", 43)
	iatPath := h.write("iat", []byte(iat+"\n"))
	_, bundle := h.spiffeCA("prod.example", "prod-bundle.json")
	conf := func(addr, scope string) string {
		return "issuer: https://" + addr + "\nlisten: " + addr + "\ntls:\n  cert_file: " + filepath.Join(h.dir, "server.pem") +
			"\n  key_file: " + filepath.Join(h.dir, "server-key.pem") + "\n  client_ca_files: [" + h.cacert + "]\nbackend:\n  file:\n    dir: " + filepath.Join(h.dir, "data") + "\n" +
			"registration:\n  initial_access_token_file: " + iatPath + "\n" +
			`federation:
  spiffe:
    trust_domains:
      prod.example:
        bundle_file: ` + bundle + `
  template_refresh: 50ms
  templates:
    - name: payments-spiffe
      spiffe_id: spiffe://prod.example/ns/payments/sa/*
      token_endpoint_auth_method: spiffe_x509
      scope: ` + scope + `
      audiences: [https://payments.example.test]
`
	}
	cfgPath := h.write("broker.yaml", []byte(conf(h.addr, "payments:read")))
	rt, log := h.serve(cfgPath)

	// Registered after start — the CLI, another replica (and, before
	// TestRegistrantCannotSquatATemplateIdentity's fix, any RFC 7591 registrant).
	h.register(cfgPath, &backends.Client{ClientID: "squatter", Scope: "read", TokenEndpointAuthMethod: backends.AuthTLSClient,
		TLSClientAuthSANURI: "spiffe://prod.example/ns/payments/sa/api"})
	testkit.WaitFor(t, "the running broker sees the registered identity", func() bool {
		return strings.Contains(log.String(), "ambiguous identity")
	})

	// The operator's next reload applies.
	h.write("broker.yaml", []byte(conf(h.addr, "payments:read payments:write")))
	rt.Reload(t.Context())
	if s := log.String(); strings.Contains(s, "reload failed") || !strings.Contains(s, "SIGHUP: configuration") {
		t.Fatalf("a registration made the reload fail:\n%s", s)
	}
	// Another replica (same backend) starts.
	addr := testkit.FreeAddr(t)
	other := h.write("replica.yaml", []byte(conf(addr, "payments:read")))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rt2, err := New(ctx, func() (*config.Config, error) { return config.Load(other, nil) }, &syncBuffer{})
	if err != nil {
		t.Fatalf("a registration stops another replica from starting: %v", err)
	}
	rt2.Close()
}

// TestRegistrantCannotSquatATemplateIdentity (review revfed): a registered
// client holding a SPIFFE ID (its tls_client_auth_san_uri) makes that
// identity's template requests fail (template.ErrAmbiguous) — so an RFC 7591
// registrant, who needs nothing but an initial access token and never holds
// the workload's SVID, must not be able to register one: before the fix a
// single registration naming a workload's SPIFFE ID cut that workload off
// its template's grant for good.
func TestRegistrantCannotSquatATemplateIdentity(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ca, bundle := h.spiffeCA("a.test", "a.json")
	iat := strings.Repeat("s", 43)
	iatPath := h.write("iat", []byte(iat+"\n"))
	cfg := h.write("c.yaml", []byte(strings.Replace(h.head(), "\nbackend:", "\n  client_ca_files: ["+h.cacert+"]\nbackend:", 1)+
		"registration:\n  initial_access_token_file: "+iatPath+"\n"+
		"federation:\n  template_refresh: 50ms\n  spiffe:\n    trust_domains:\n      a.test:\n        bundle_file: "+bundle+"\n"+
		"  templates:\n    - name: payments\n      spiffe_id: spiffe://a.test/ns/payments/sa/*\n      token_endpoint_auth_method: spiffe_jwt\n      scope: payments:read\n      audiences: [https://payments.example]\n"))
	_, log := h.serve(cfg)
	hc := h.httpClient()
	issuer := "https://" + h.addr
	wl := spiffeid.RequireFromString("spiffe://a.test/ns/payments/sa/api")
	post := func() (int, map[string]any) {
		tok, _ := ca.JWTSVID(wl, []string{issuer}, 5*time.Minute)
		return h.postSVID(hc, tok)
	}
	if code, m := post(); code != http.StatusOK {
		t.Fatalf("template workload: %d %v", code, m)
	}
	register := func(san string) (int, map[string]any) {
		body, _ := json.Marshal(map[string]any{"client_name": "squatter", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_uri": san, "scope": "read"})
		req, _ := http.NewRequest(http.MethodPost, issuer+broker.PathRegister, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+iat)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, m := register(wl.String())
	if code == http.StatusCreated {
		testkit.WaitFor(t, "the template index sees the registration", func() bool { c, _ := post(); return c == http.StatusUnauthorized })
		t.Fatalf("a registrant named a template workload's SPIFFE ID (client %v) and cut the workload off its template's grant:\n%s", m["client_id"], log)
	}
	if code != http.StatusBadRequest || m["error"] != "invalid_client_metadata" {
		t.Fatalf("registering a template's workload identity: %d %v", code, m)
	}
	// A SPIFFE ID no template covers stays registrable, and the workload keeps its grant.
	if code, m := register("spiffe://a.test/ns/billing/sa/api"); code != http.StatusCreated {
		t.Errorf("registering a SPIFFE ID outside the templates: %d %v", code, m)
	}
	if code, m := post(); code != http.StatusOK {
		t.Fatalf("the template workload: %d %v", code, m)
	}
}
