package runtime

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

// TestSPIFFETemplateFromConfig: a JWT-SVID whose SPIFFE ID matches a
// template gets the template's grant with the SPIFFE ID as sub/client_id;
// a registered SPIFFE client keeps its own record; a template matching a
// registered client's SPIFFE ID refuses the start.
func TestSPIFFETemplateFromConfig(t *testing.T) {
	h := newHarness(t)
	ca, bundle := h.spiffeCA("a.test", "a.json")
	tmpl := "  templates:\n    - name: payments\n      spiffe_id: spiffe://a.test/ns/payments/sa/*\n      token_endpoint_auth_method: spiffe_jwt\n      scope: payments:read\n      audiences: [https://payments.example]\n"
	cfg := h.write("c.yaml", []byte(h.head()+"audit:\n  file: "+h.dir+"/audit.log\nfederation:\n  spiffe:\n    trust_domains:\n      a.test:\n        bundle_file: "+bundle+"\n"+tmpl))
	reg := spiffeid.RequireFromString("spiffe://a.test/w")
	key, _ := spiffe.ClientKey(reg)
	h.register(cfg, &backends.Client{ClientID: key, TokenEndpointAuthMethod: backends.AuthSPIFFEJWT, Scope: "read", AllowedResources: []string{"https://api.example"}, DefaultAudience: "https://api.example"})
	h.serve(cfg)
	hc := h.httpClient()
	issuer := "https://" + h.addr
	post := func(tok string) (int, map[string]any) { return h.postSVID(hc, tok) }
	wl := spiffeid.RequireFromString("spiffe://a.test/ns/payments/sa/api")
	tok, _ := ca.JWTSVID(wl, []string{issuer}, 5*time.Minute)
	code, m := post(tok)
	at, _ := m["access_token"].(string)
	if code != 200 || at == "" {
		t.Fatalf("template workload: %d %v", code, m)
	}
	if c := claimsOf(t, at); c["sub"] != wl.String() || c["scope"] != "payments:read" {
		t.Fatalf("template token: %v", c)
	}
	regTok, _ := ca.JWTSVID(reg, []string{issuer}, 5*time.Minute)
	if code, m := post(regTok); code != 200 || claimsOf(t, m["access_token"].(string))["scope"] != "read" {
		t.Fatalf("registered SPIFFE client: %d %v", code, m)
	}
	other, _ := ca.JWTSVID(spiffeid.RequireFromString("spiffe://a.test/ns/billing/sa/api"), []string{issuer}, 5*time.Minute)
	if code, _ := post(other); code != 401 {
		t.Fatalf("no template, no client: %d", code)
	}
	// A registered client holding a SPIFFE ID the template matches: the start
	// logs both (a registration never stops a start: TestRegistrantCannotStopTheBroker).
	held, _ := spiffe.ClientKey(spiffeid.RequireFromString("spiffe://a.test/ns/payments/sa/held"))
	h.register(cfg, &backends.Client{ClientID: held, TokenEndpointAuthMethod: backends.AuthSPIFFEJWT, Scope: "read"})
	bad := h.write("bad.yaml", []byte(strings.Replace(h.head(), "listen: "+h.addr, "listen: "+freeAddr(t), 1)+"federation:\n  spiffe:\n    trust_domains:\n      a.test:\n        bundle_file: "+bundle+"\n"+tmpl))
	blog := &syncBuffer{}
	rt2, err := New(context.Background(), func() (*config.Config, error) { return config.Load(bad, nil) }, blog)
	if err != nil || !strings.Contains(blog.String(), "could match") {
		t.Fatalf("ambiguous SPIFFE template: %v\n%s", err, blog)
	}
	rt2.Close()
}
