package integration_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/broker/audit"
	"github.com/tokenbroker/tokenbroker/certs"
)

// withLimits turns the failed-authentication limits on, with buckets that
// do not refill during a test.
func withLimits(perClient, perAddress float64) envOpt {
	return func(c *broker.Config, _ *cache.Options) {
		c.RateLimits.FailedPerClient = broker.Rate{PerSecond: 0.001, Burst: perClient}
		c.RateLimits.FailedPerAddress = broker.Rate{PerSecond: 0.001, Burst: perAddress}
	}
}

// withAudit records the audit trail (hash-chained) in trail.
func withAudit(trail *syncBuffer) envOpt {
	return func(c *broker.Config, _ *cache.Options) { c.Audit = audit.New(trail, true, "") }
}

// via makes the env's requests with client c until the returned func runs.
func (e *env) via(c *http.Client) func() {
	saved := e.http
	e.http = c
	return func() { e.http = saved }
}

// auditLines returns the trail's lines that contain every one of want.
func auditLines(trail *syncBuffer, want ...string) []string {
	var out []string
	for _, l := range strings.Split(trail.String(), "\n") {
		ok := l != ""
		for _, w := range want {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// refused checks that a request was refused with 401 invalid_client or,
// once a failure bucket is empty, 429 with Retry-After — and got no token.
func refused(t *testing.T, what string, r *http.Response, b map[string]any) (limited bool) {
	t.Helper()
	switch {
	case b["access_token"] != nil:
		t.Fatalf("%s: a token was minted", what)
	case r.StatusCode == 401 && b["error"] == "invalid_client":
	case r.StatusCode == 429 && b["error"] == "temporarily_unavailable" && r.Header.Get("Retry-After") != "":
		return true
	default:
		t.Fatalf("%s: %d %v (Retry-After %q)", what, r.StatusCode, b, r.Header.Get("Retry-After"))
	}
	return false
}

// Bad requests naming a client lock nobody out: after 50 failures naming
// each victim, from the victims' own address, the right secret, the right
// certificate and a genuine assertion all still get tokens.
func TestFailuresNeverLockOutAVerifiedClient(t *testing.T) {
	var trail syncBuffer
	e := newEnv(t, withLimits(10, 1000), withAudit(&trail))
	secret := e.client(&backends.Client{ClientID: "victim", Scope: "read"})
	e.client(mtlsClient("m", func(c *backends.Client) { c.TLSClientAuthSANURI = spiffeID }))
	cert, _ := e.leafCert(nil, certs.Leaf{CommonName: "m", URIs: []string{spiffeID}, Client: true})
	key := newAssertionKey(t, "k1")
	e.client(&backends.Client{ClientID: "j", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKS: key.jwks()})
	forger := newAssertionKey(t, "k1")
	cc := url.Values{"grant_type": {"client_credentials"}}
	ccm := url.Values{"grant_type": {"client_credentials"}, "client_id": {"m"}}

	attacks := []struct {
		name   string
		attack func() (*http.Response, map[string]any)
		good   func() (*http.Response, map[string]any)
	}{
		{"client_secret_basic",
			func() (*http.Response, map[string]any) { return e.post(cc, basic("victim", "guess-"+randID())) },
			func() (*http.Response, map[string]any) { return e.post(cc, basic("victim", secret)) }},
		{"tls_client_auth",
			func() (*http.Response, map[string]any) { return e.post(ccm, basic("m", "guess-"+randID())) },
			func() (*http.Response, map[string]any) { return e.postVia(e.withCert(&cert), e.issuer, ccm, nil) }},
		{"private_key_jwt",
			func() (*http.Response, map[string]any) {
				return e.post(assertionForm(forger.sign(t, "j", e.issuer, nil)), nil)
			},
			func() (*http.Response, map[string]any) {
				return e.post(assertionForm(key.sign(t, "j", e.issuer, nil)), nil)
			}},
	}
	for _, a := range attacks {
		limited := 0
		for i := range 50 {
			r, b := a.attack()
			if refused(t, a.name+" attack", r, b) {
				limited++
			} else if i >= 10 {
				t.Fatalf("%s: failure %d answered 401: the per-client bucket (burst 10) did not apply", a.name, i+1)
			}
		}
		if limited != 40 {
			t.Errorf("%s: %d of 50 failures limited, want 40", a.name, limited)
		}
		if r, b := a.good(); r.StatusCode != 200 || b["access_token"] == nil {
			t.Fatalf("%s: the victim's valid credentials refused after the attack: %d %v", a.name, r.StatusCode, b)
		}
	}
	if n := len(auditLines(&trail, `"event":"token_issued"`)); n != 3 {
		t.Fatalf("%d tokens minted, want the 3 genuine ones", n)
	}
}

// A failed private_key_jwt attempt counts against the client its assertion
// names, and says so in the audit trail and the metrics.
func TestAssertionFailuresChargedToTheirClient(t *testing.T) {
	var trail syncBuffer
	e := newEnv(t, withLimits(3, 1000), withAudit(&trail))
	key := newAssertionKey(t, "k1")
	e.client(&backends.Client{ClientID: "j", TokenEndpointAuthMethod: backends.AuthPrivateKeyJWT, Scope: "read", JWKS: key.jwks()})
	forger := newAssertionKey(t, "k1")
	for i := range 4 {
		r, b := e.post(assertionForm(forger.sign(t, "j", e.issuer, nil)), nil)
		if limited := refused(t, "forged assertion", r, b); limited != (i == 3) {
			t.Fatalf("forged assertion %d: %d %v — want 401 three times, then 429", i+1, r.StatusCode, b)
		}
	}
	if n := len(auditLines(&trail, `"event":"token_refused"`, `"client_id":"j"`, `"auth_method":"private_key_jwt"`)); n != 4 {
		t.Fatalf("%d refusals audited with client_id and auth_method, want 4:\n%s", n, trail.String())
	}
	rec := httptest.NewRecorder()
	e.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`tokenbroker_token_failures_total{method="private_key_jwt",reason="invalid_client"} 3`,
		`tokenbroker_token_failures_total{method="private_key_jwt",reason="temporarily_unavailable"} 1`,
		`tokenbroker_rate_limited_total{limit="fail-client"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if r, b := e.post(assertionForm(key.sign(t, "j", e.issuer, nil)), nil); r.StatusCode != 200 {
		t.Fatalf("genuine assertion after the forgeries: %d %v", r.StatusCode, b)
	}
}

// /introspect and /revoke charge failed client authentication like /token.
func TestIntrospectionAndRevocationLimits(t *testing.T) {
	var trail syncBuffer
	e := newEnv(t, withLimits(3, 1000), withAudit(&trail))
	secret := e.client(&backends.Client{ClientID: "rs", Scope: "read"})
	_, b := e.post(url.Values{"grant_type": {"client_credentials"}}, basic("rs", secret))
	tok, _ := b["access_token"].(string)
	// One set of failure buckets for every endpoint: each path is tried from
	// its own address so each starts with full buckets.
	for path, addr := range map[string]string{broker.PathIntrospect: "127.0.0.3", broker.PathRevoke: "127.0.0.4"} {
		restore := e.via(e.fromAddr(addr, nil))
		for i := range 4 {
			r, b := e.form(path, url.Values{"token": {tok}}, basic("rs", "guess-"+randID()))
			if refused(t, path, r, b) != (i == 3) || b["active"] != nil {
				t.Fatalf("%s failure %d: %d %v — want 401 three times, then 429", path, i+1, r.StatusCode, b)
			}
		}
		restore()
	}
	if r, b := e.form(broker.PathIntrospect, url.Values{"token": {tok}}, basic("rs", secret)); r.StatusCode != 200 || b["active"] != true {
		t.Fatalf("introspection with the right secret: %d %v", r.StatusCode, b)
	}
	if r, _ := e.form(broker.PathRevoke, url.Values{"token": {tok}}, basic("rs", secret)); r.StatusCode != 200 {
		t.Fatalf("revocation with the right secret: %d", r.StatusCode)
	}
	if n := len(auditLines(&trail, `"client_id":"rs"`, `"auth_method":"client_secret_basic"`, `"outcome":"temporarily_unavailable"`)); n != 2 {
		t.Fatalf("%d limited refusals audited, want 2:\n%s", n, trail.String())
	}
}

// Registration (RFC 7591) and management (RFC 7592) charge a wrong initial
// or registration access token like any failed authentication.
func TestRegistrationLimits(t *testing.T) {
	e := newEnv(t, withLimits(3, 3))
	md := map[string]any{"client_name": "x", "scope": "read"}
	restore := e.via(e.fromAddr("127.0.0.3", nil))
	for i := range 4 {
		r, b := e.reg("POST", broker.PathRegister, "wrong-"+randID(), md)
		if want := map[bool]int{false: 401, true: 429}[i == 3]; r.StatusCode != want || b["client_id"] != nil {
			t.Fatalf("registration with a wrong initial access token %d: %d %v, want %d", i+1, r.StatusCode, b, want)
		}
	}
	r, b := e.reg("POST", broker.PathRegister, e.regToken, md)
	restore()
	if r.StatusCode != 201 {
		t.Fatalf("registration with the right token after failures: %d %v", r.StatusCode, b)
	}
	id, rat := b["client_id"].(string), b["registration_access_token"].(string)
	defer e.via(e.fromAddr("127.0.0.4", nil))()
	for i := range 4 {
		r, b := e.reg("GET", broker.PathRegister+"/"+id, "wrong-"+randID(), nil)
		if want := map[bool]int{false: 401, true: 429}[i == 3]; r.StatusCode != want || b["client_id"] != nil {
			t.Fatalf("management with a wrong registration access token %d: %d %v, want %d", i+1, r.StatusCode, b, want)
		}
	}
	if r, b := e.reg("GET", broker.PathRegister+"/"+id, rat, nil); r.StatusCode != 200 || b["client_id"] != id {
		t.Fatalf("management with the right token after failures: %d %v", r.StatusCode, b)
	}
}

// A forwarding header from a peer that is not a trusted proxy is ignored:
// rotating X-Forwarded-For values does not escape the per-address bucket,
// and the audit trail names the real peer.
func TestForgedForwardedForIgnored(t *testing.T) {
	var trail syncBuffer
	e := newEnv(t, withLimits(1000, 5), withAudit(&trail), withProxy(certs.FormatNginx))
	limited := 0
	for i := range 8 {
		hdr := basic("nobody", "x")
		hdr.Set("X-Forwarded-For", "198.51.100."+string(rune('1'+i)))
		r, b := e.post(url.Values{"grant_type": {"client_credentials"}}, hdr)
		if refused(t, "forged X-Forwarded-For", r, b) {
			limited++
		}
	}
	if limited != 3 {
		t.Fatalf("%d of 8 limited, want 3: the forged header moved the bucket", limited)
	}
	if n := len(auditLines(&trail, `"source":"127.0.0.1"`)); n != 8 || strings.Contains(trail.String(), "198.51.100") || strings.Contains(trail.String(), `"peer"`) {
		t.Fatalf("audit source: %d lines from 127.0.0.1, want 8:\n%s", n, trail.String())
	}
}
