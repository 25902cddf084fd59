package runtime

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/authn/spiffe/spiffetest"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/internal/config"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// TestSPIFFEFromConfig: federation.spiffe wires the SPIFFE methods: a
// JWT-SVID client gets a token; the bundle file is re-read on its own
// (refresh_min), so an authority dropped from it stops verifying; the
// discovery document lists both methods; a bad bundle file refuses the
// start, naming its key.
func TestSPIFFEFromConfig(t *testing.T) {
	h := newHarness(t)
	ca, bundle := h.spiffeCA("a.test", "a.json")
	ca.SetRefreshHint(time.Second)
	bj, _ := ca.BundleJSON()
	h.write("a.json", bj)
	admin := freeAddr(t)
	cfg := h.write("c.yaml", []byte(h.head()+"admin:\n  listen: "+admin+"\nfederation:\n  spiffe:\n    refresh_min: 1s\n    trust_domains:\n      a.test:\n        bundle_file: "+bundle+"\n"))
	id := spiffeid.RequireFromString("spiffe://a.test/w")
	key, _ := spiffe.ClientKey(id)
	h.register(cfg, &backends.Client{ClientID: key, TokenEndpointAuthMethod: backends.AuthSPIFFEJWT, Scope: "read", AllowedResources: []string{"https://api.example"}, DefaultAudience: "https://api.example"})
	h.serve(cfg)
	hc := h.httpClient()
	issuer := "https://" + h.addr
	post := func(tok string) int {
		code, m := h.postSVID(hc, tok)
		if code != 200 {
			t.Logf("%d %v", code, m)
		}
		return code
	}
	old, _ := ca.JWTSVID(id, []string{issuer}, 5*time.Minute)
	if code := post(old); code != 200 {
		t.Fatalf("JWT-SVID: %d", code)
	}
	resp, err := hc.Get(issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Methods []string `json:"token_endpoint_auth_methods_supported"`
	}
	json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if !strings.Contains(strings.Join(md.Methods, " "), "spiffe_x509 spiffe_jwt") {
		t.Fatalf("metadata methods %v", md.Methods)
	}
	mresp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(mb), `tokenbroker_spiffe_bundle_age_seconds{trust_domain="a.test"}`) {
		t.Fatalf("no bundle age metric:\n%s", mb)
	}
	_ = ca.Rotate()
	_ = ca.DropOldest()
	bj, _ = ca.BundleJSON()
	h.write("a.json", bj)
	testkit.WaitFor(t, "the dropped authority to be refused", func() bool { return post(old) == 401 })
	fresh, _ := ca.JWTSVID(id, []string{issuer}, 5*time.Minute)
	if code := post(fresh); code != 200 {
		t.Fatalf("new authority: %d", code)
	}

	bad := h.write("bad.yaml", []byte(strings.Replace(h.head(), "listen: "+h.addr, "listen: "+freeAddr(t), 1)+"federation:\n  spiffe:\n    trust_domains:\n      a.test:\n        bundle_file: "+h.write("bad.json", []byte("{"))+"\n"))
	_, err = New(context.Background(), func() (*config.Config, error) { return config.Load(bad, nil) }, &syncBuffer{})
	if !config.Keys(err)["federation.spiffe.trust_domains"] {
		t.Fatalf("a bad bundle file: %v", err)
	}
}

// TestSPIFFECheck: "config check" reads and parses the trust domains' files
// and names the key of a bad one; it connects to no endpoint.
func TestSPIFFECheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ca, _ := spiffetest.NewCA("a.test")
	bj, _ := ca.BundleJSON()
	good := h.write("good.json", bj)
	bad := h.write("bad.json", []byte(`{"keys": 1}`))
	fc, err := config.Load(h.write("c.yaml", []byte(h.head()+"federation:\n  spiffe:\n    trust_domains:\n"+
		"      a.test:\n        bundle_file: "+good+"\n"+
		"      b.test:\n        bundle_file: "+bad+"\n"+
		"      c.test:\n        bundle_endpoint_url: https://127.0.0.1:1/bundle\n        endpoint_ca_file: "+bad+"\n"+
		"      d.test:\n        bundle_endpoint_url: https://127.0.0.1:1/bundle\n        bundle_endpoint_profile: https_spiffe\n        endpoint_spiffe_id: spiffe://d.test/s\n        bundle_file: "+bad+"\n")), nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := config.Keys(Check(fc))
	for _, k := range []string{"federation.spiffe.trust_domains.b.test.bundle_file", "federation.spiffe.trust_domains.c.test.endpoint_ca_file", "federation.spiffe.trust_domains.d.test.bundle_file"} {
		if !keys[k] {
			t.Errorf("no error for %s: %v", k, Check(fc))
		}
	}
	if keys["federation.spiffe.trust_domains.a.test.bundle_file"] {
		t.Errorf("a good bundle refused: %v", Check(fc))
	}
}
