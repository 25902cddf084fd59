package integration_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/broker/audit"
	"github.com/tokenbroker/tokenbroker/broker/registry"
)

// putMeta sends an RFC 7592 update and returns status, error and body.
func (e *env) putMeta(id, rat string, md map[string]any) (int, string, map[string]any) {
	e.t.Helper()
	md["client_id"] = id
	resp, b := e.reg("PUT", broker.PathRegister+"/"+id, rat, md)
	code, _ := b["error"].(string)
	if desc, _ := b["error_description"].(string); desc != "" {
		code += " " + desc
	}
	return resp.StatusCode, code, b
}

// RFC 7592 management narrows within what the registration granted and never
// widens it: on main a client registered for "read" could PUT "read admin"
// and get admin tokens.
func TestSelfUpdateNarrowsWithinTheCeiling(t *testing.T) {
	e := newEnv(t)
	resp, b := e.reg("POST", broker.PathRegister, e.regToken, map[string]any{"scope": "read write", "allowed_resources": []string{audience}, "access_token_lifetime": 300})
	if resp.StatusCode != 201 {
		t.Fatalf("register: %d %v", resp.StatusCode, b)
	}
	id, secret, rat := b["client_id"].(string), b["client_secret"].(string), b["registration_access_token"].(string)
	steps := []struct {
		name   string
		md     map[string]any
		status int
		field  string // named in the refusal
	}{
		{"narrow scope", map[string]any{"scope": "read"}, 200, ""},
		{"back up to the grant", map[string]any{"scope": "read write"}, 200, ""},
		{"beyond the grant", map[string]any{"scope": "read write admin"}, 400, "scope"},
		{"another audience", map[string]any{"scope": "read", "allowed_resources": []string{audience, "https://billing.example.test"}}, 400, "allowed_resources"},
		{"another default audience", map[string]any{"scope": "read", "default_audience": "https://billing.example.test"}, 400, "default_audience"},
		{"longer lifetime", map[string]any{"scope": "read", "access_token_lifetime": 900}, 400, "access_token_lifetime"},
		{"another auth method", map[string]any{"token_endpoint_auth_method": "client_secret_post"}, 400, "token_endpoint_auth_method"},
		{"a certificate match", map[string]any{"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "evil.example.test"}, 400, "token_endpoint_auth_method"},
		{"narrow lifetime, scope omitted", map[string]any{"access_token_lifetime": 60}, 200, ""},
	}
	for _, st := range steps {
		status, code, body := e.putMeta(id, rat, st.md)
		if status != st.status || (st.field != "" && !strings.HasPrefix(code, "invalid_client_metadata "+st.field+":")) {
			t.Fatalf("%s: %d %q %v, want %d naming %q", st.name, status, code, body, st.status, st.field)
		}
	}
	// Omitted scope means the granted one (RFC 7592 §2.2 default), never more.
	if got, _ := e.tokenScope(id, secret, ""); got != "read write" {
		t.Fatalf("registered scope %q, want the grant", got)
	}
	if got, code := e.tokenScope(id, secret, "admin"); code != "invalid_scope" {
		t.Fatalf("token for admin after the attempts: %q %q", got, code)
	}
	c, err := e.srv.Registry().Get(context.Background(), id)
	if err != nil || c.TokenEndpointAuthMethod != backends.AuthClientSecretBasic || c.Ceiling == nil || c.Ceiling.Scope != "read write" || c.AccessTokenLifetime != 60 {
		t.Fatalf("stored record %+v %v", c, err)
	}
}

// An operator-created client gets no registration access token unless the
// operator asks; with one, it still cannot leave what the operator set: its
// certificate match, CA pin, method and bound-token requirement.
func TestSelfUpdateKeepsTheOperatorsCertificateBinding(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	plain, err := e.srv.Registry().Create(ctx, &backends.Client{ClientID: "plain", Scope: "read"})
	if err != nil {
		t.Fatal(err)
	}
	e.handedOut = append(e.handedOut, plain.Secret)
	if plain.RegistrationToken != "" {
		t.Fatal("an operator-created client got a registration access token without asking")
	}
	op := &backends.Client{ClientID: "svc", Scope: "read write", TokenEndpointAuthMethod: backends.AuthTLSClient, TLSClientAuthSANDNS: "svc.example.test",
		TLSClientAuthCASHA256: strings.Repeat("ab", 32), TLSClientCertificateBoundAccessTokens: true, AllowedResources: []string{audience}}
	r, err := e.srv.Registry().Create(ctx, op, registry.WithRegistrationToken())
	if err != nil {
		t.Fatal(err)
	}
	rat := r.RegistrationToken
	e.handedOut = append(e.handedOut, rat)
	for _, tc := range []struct {
		md    map[string]any
		field string
	}{
		{map[string]any{"token_endpoint_auth_method": "client_secret_basic"}, "token_endpoint_auth_method"},
		{map[string]any{"tls_client_auth_san_dns": "other.example.test"}, "tls_client_auth_san_dns"},
		{map[string]any{"tls_client_auth_subject_dn": "CN=svc"}, "tls_client_auth_subject_dn"},
		{map[string]any{"tls_client_auth_ca_sha256": strings.Repeat("cd", 32)}, "tls_client_auth_ca_sha256"},
		{map[string]any{"scope": "read admin"}, "scope"},
	} {
		if status, code, b := e.putMeta("svc", rat, tc.md); status != 400 || !strings.HasPrefix(code, "invalid_client_metadata "+tc.field+":") {
			t.Errorf("PUT %v: %d %q %v, want invalid_client_metadata naming %s", tc.md, status, code, b, tc.field)
		}
	}
	// Dropping the bound-token requirement leaves it in place (§2.2: the
	// server's value is returned).
	status, code, b := e.putMeta("svc", rat, map[string]any{"scope": "read", "tls_client_certificate_bound_access_tokens": false})
	if status != 200 || b["tls_client_certificate_bound_access_tokens"] != true || b["client_secret"] != nil {
		t.Fatalf("PUT dropping bound tokens: %d %q %v", status, code, b)
	}
	c, _ := e.srv.Registry().Get(ctx, "svc")
	if c.TokenEndpointAuthMethod != backends.AuthTLSClient || c.TLSClientAuthSANDNS != "svc.example.test" || !c.TLSClientCertificateBoundAccessTokens || c.TLSClientAuthCASHA256 == "" || c.Scope != "read" {
		t.Fatalf("stored record %+v", c)
	}
	if set, _ := e.store.GetSecrets(ctx, "svc"); len(set.Secrets) != 0 {
		t.Fatalf("a certificate client got secrets: %+v", set)
	}
}

// raceStore interleaves an operator's write with a request: after the n-th
// read of the client while armed, it runs op once.
type raceStore struct {
	backends.Store
	mu    sync.Mutex
	armed bool
	reads int
	n     int
	op    func()
	fired bool
}

func (s *raceStore) GetClient(ctx context.Context, id string) (*backends.Client, error) {
	c, err := s.Store.GetClient(ctx, id)
	s.mu.Lock()
	run := s.armed && id == "raced"
	if run {
		s.reads++
		run = s.reads == s.n && !s.fired
		s.fired = s.fired || run
	}
	s.mu.Unlock()
	if run {
		s.op() // the operator's change lands between this read and the next step
	}
	return c, err
}

// A PUT is check-and-set against the revision it read: an operator's disable
// that lands anywhere during the PUT stays (the PUT gets 409 or 401), and no
// token is minted afterwards. On main the handler read Disabled, then Update
// re-read the revision: a disable between the two was silently undone.
func TestSelfUpdateNeverOverwritesAConcurrentOperatorChange(t *testing.T) {
	for n := 1; n <= 4; n++ {
		rs := &raceStore{n: n}
		wrapStore = func(s backends.Store) backends.Store { rs.Store = s; return rs }
		e := newEnv(t)
		wrapStore = nil
		ctx := context.Background()
		r, err := e.srv.Registry().Create(ctx, &backends.Client{ClientID: "raced", Scope: "read write", AllowedResources: []string{audience}}, registry.WithRegistrationToken())
		if err != nil {
			t.Fatal(err)
		}
		e.handedOut = append(e.handedOut, r.Secret, r.RegistrationToken)
		disable := func() {
			rs.mu.Lock()
			rs.armed = false
			rs.mu.Unlock()
			cur, err := e.srv.Registry().Get(ctx, "raced")
			if err != nil {
				t.Error(err)
				return
			}
			cur.Disabled = true
			if _, err := e.srv.Registry().Update(ctx, "raced", cur); err != nil {
				t.Errorf("operator disable: %v", err)
			}
		}
		rs.op = disable
		rs.mu.Lock()
		rs.armed = true
		rs.mu.Unlock()
		status, code, _ := e.putMeta("raced", r.RegistrationToken, map[string]any{"scope": "read"})
		rs.mu.Lock()
		fired := rs.fired
		rs.armed = false
		rs.mu.Unlock()
		t.Logf("operator change after read %d (fired %v): PUT %d %s", n, fired, status, code)
		if !fired {
			disable() // the PUT read less often: the operator's change comes after it
		} else if status != 409 && status != 401 {
			t.Errorf("operator change after read %d: PUT %d %q, want 409 or 401", n, status, code)
		}
		c, err := e.srv.Registry().Get(ctx, "raced")
		if err != nil || !c.Disabled {
			t.Fatalf("operator change after read %d: the PUT re-enabled the client: %+v %v", n, c, err)
		}
		if resp, b := e.post(url.Values{"grant_type": {"client_credentials"}}, basic("raced", r.Secret)); resp.StatusCode != 401 {
			t.Fatalf("operator change after read %d: disabled client got %d %v", n, resp.StatusCode, b)
		}
	}
}

// Registration writes, their refusals and secret rotation are audit events.
func TestRegistrationWritesAreAudited(t *testing.T) {
	trail := &syncBuffer{}
	e := newEnv(t, func(c *broker.Config, _ *cache.Options) { c.Audit = audit.New(trail, true, "") })
	resp, b := e.reg("POST", broker.PathRegister, e.regToken, map[string]any{"scope": "read write"})
	if resp.StatusCode != 201 {
		t.Fatalf("register: %d %v", resp.StatusCode, b)
	}
	id, rat := b["client_id"].(string), b["registration_access_token"].(string)
	e.putMeta(id, rat, map[string]any{"scope": "read"})
	e.putMeta(id, rat, map[string]any{"scope": "admin"})
	if _, err := e.srv.Registry().RotateSecret(context.Background(), id, time.Minute); err != nil {
		t.Fatal(err)
	}
	e.reg("DELETE", broker.PathRegister+"/"+id, rat, nil)
	e.reg("POST", broker.PathRegister, "wrong-token", map[string]any{"scope": "read"})
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(trail.String()), "\n") {
		var ev audit.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if ev.ClientID == id || ev.ClientID == "" {
			got = append(got, ev.Event+" "+ev.Outcome)
		}
	}
	want := []string{"client_registered success", "client_updated success", "client_updated invalid_client_metadata", "secret_rotated success", "client_deleted success", "client_registered invalid_token"}
	if !slices.Equal(got, want) {
		t.Fatalf("audit events\n got %q\nwant %q", got, want)
	}
	if n, broken, err := audit.VerifyChain(strings.NewReader(trail.String()), "", nil); err != nil || broken != 0 || n < len(want) {
		t.Fatalf("audit chain: %d lines, broken at %d, %v", n, broken, err)
	}
	for _, s := range []string{rat, e.regToken} {
		if strings.Contains(trail.String(), s) {
			t.Fatal("a token in the audit trail")
		}
	}
}

// A granted lifetime of 0 is the broker's default (tokens.lifetime, 5m in
// the test env), and that default is the ceiling: the client may shorten its
// tokens and go back up to the default, never beyond it.
func TestSelfUpdateDefaultLifetimeIsTheCeiling(t *testing.T) {
	e := newEnv(t)
	r, err := e.srv.Registry().Create(context.Background(), &backends.Client{ClientID: "svc-life", Scope: "read", AllowedResources: []string{audience}}, registry.WithRegistrationToken())
	if err != nil {
		t.Fatal(err)
	}
	e.handedOut = append(e.handedOut, r.Secret, r.RegistrationToken)
	for _, st := range []struct {
		life   int
		status int
	}{{120, 200}, {300, 200}, {301, 400}, {900, 400}, {60, 200}} {
		status, code, b := e.putMeta("svc-life", r.RegistrationToken, map[string]any{"access_token_lifetime": st.life})
		if status != st.status || (status == 400 && !strings.HasPrefix(code, "invalid_client_metadata access_token_lifetime:")) {
			t.Fatalf("PUT lifetime %d: %d %q %v, want %d", st.life, status, code, b, st.status)
		}
	}
	resp, b := e.post(url.Values{"grant_type": {"client_credentials"}}, basic("svc-life", r.Secret))
	if resp.StatusCode != 200 || b["expires_in"] != float64(60) {
		t.Fatalf("token after narrowing to 60s: %d %v", resp.StatusCode, b)
	}
}
