package integration_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker"
)

// A real OAuth client library, both auth styles, over real TLS.
func TestClientCredentialsWithOAuth2Library(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		method string
		style  oauth2.AuthStyle
	}{
		{backends.AuthClientSecretBasic, oauth2.AuthStyleInHeader},
		{backends.AuthClientSecretPost, oauth2.AuthStyleInParams},
	} {
		t.Run(tc.method, func(t *testing.T) {
			id := "svc-" + strings.ReplaceAll(tc.method, "_", "-")
			secret := e.client(&backends.Client{ClientID: id, TokenEndpointAuthMethod: tc.method, Scope: "read write"})
			cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: e.issuer + broker.PathToken, Scopes: []string{"read"}, AuthStyle: tc.style}
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.http)
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			e.handedOut = append(e.handedOut, tok.AccessToken)
			if tok.TokenType != "Bearer" || tok.RefreshToken != "" || tok.Extra("scope") != "read" {
				t.Fatalf("token response: type %q refresh %q scope %v", tok.TokenType, tok.RefreshToken, tok.Extra("scope"))
			}
			claims, h := e.verify(tok.AccessToken)
			if h.ExtraHeaders["typ"] != "at+jwt" || h.KeyID == "" || h.Algorithm != "ES256" {
				t.Errorf("header = %+v, want typ at+jwt, a kid, ES256", h)
			}
			if claims.Issuer != e.issuer || claims.Subject != id || claims.ClientID != id || claims.Scope != "read" ||
				!slices.Equal(claims.Audience, []string{audience}) || claims.ID == "" || claims.Expiry-claims.IssuedAt != 300 {
				t.Errorf("claims = %+v", claims)
			}
		})
	}
}

// RFC 6749 §2.3.1: id and secret are form-urlencoded inside the Basic header.
func TestBasicCredentialsAreFormDecoded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id, secret := "svc.odd~id", "p@ss:w+rd %/é&="
	e.client(&backends.Client{ClientID: id, Scope: "read"})
	set, _ := e.store.GetSecrets(ctx, id)
	set.Secrets = []backends.Secret{{Plain: secret, CreatedAt: time.Now()}}
	if err := e.store.PutSecrets(ctx, id, set); err != nil {
		t.Fatal(err)
	}
	resp, body := e.post(url.Values{"grant_type": {"client_credentials"}}, basic(id, secret))
	if resp.StatusCode != 200 {
		t.Fatalf("encoded Basic credentials refused: %d %v", resp.StatusCode, body)
	}
	// Sent raw, "+" decodes to a space and "%/" is malformed: refused.
	req := http.Header{}
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(id, secret)
	req.Set("Authorization", r.Header.Get("Authorization"))
	if resp, _ := e.post(url.Values{"grant_type": {"client_credentials"}}, req); resp.StatusCode == 200 {
		t.Fatal("raw (not form-encoded) credentials accepted")
	}
}

func TestTokenErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb := e.client(&backends.Client{ClientID: "basic", TokenEndpointAuthMethod: backends.AuthClientSecretBasic, Scope: "read write"})
	sp := e.client(&backends.Client{ClientID: "post", TokenEndpointAuthMethod: backends.AuthClientSecretPost, Scope: "read"})
	sd := e.client(&backends.Client{ClientID: "off", Scope: "read", Disabled: true})
	so := e.client(&backends.Client{ClientID: "other-grant", Scope: "read"})
	c, _ := e.store.GetClient(ctx, "other-grant")
	c.GrantTypes = []string{"authorization_code"} // written behind the registry's back
	if err := e.store.UpdateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	with := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name      string
		method    string
		ctype     string
		query     string
		body      string
		form      url.Values
		header    http.Header
		status    int
		code      string
		challenge bool
	}{
		{name: "GET", method: "GET", status: 405, code: "invalid_request"},
		{name: "wrong content type", ctype: "application/json", body: `{"grant_type":"client_credentials"}`, header: basic("basic", sb), status: 400, code: "invalid_request"},
		{name: "no grant_type", form: url.Values{"scope": {"read"}}, header: basic("basic", sb), status: 400, code: "invalid_request"},
		{name: "password grant", form: url.Values{"grant_type": {"password"}}, header: basic("basic", sb), status: 400, code: "unsupported_grant_type"},
		{name: "repeated grant_type", body: "grant_type=client_credentials&grant_type=client_credentials", header: basic("basic", sb), status: 400, code: "invalid_request"},
		{name: "repeated scope", body: "grant_type=client_credentials&scope=read&scope=write", header: basic("basic", sb), status: 400, code: "invalid_request"},
		{name: "params in query", query: "client_secret=" + sp, form: with("client_id", "post"), status: 400, code: "invalid_request"},
		{name: "malformed body", body: "grant_type=client_credentials&%zz", header: basic("basic", sb), status: 400, code: "invalid_request"},
		{name: "no client authentication", form: cc, status: 401, code: "invalid_client"},
		{name: "client_id only", form: with("client_id", "basic"), status: 401, code: "invalid_client"},
		{name: "wrong secret", form: cc, header: basic("basic", "nope"), status: 401, code: "invalid_client", challenge: true},
		{name: "unknown client", form: cc, header: basic("ghost", "nope"), status: 401, code: "invalid_client", challenge: true},
		{name: "empty secret", form: cc, header: basic("basic", ""), status: 401, code: "invalid_client", challenge: true},
		{name: "two methods", form: with("client_id", "post", "client_secret", sp), header: basic("basic", sb), status: 400, code: "invalid_request"},
		{name: "registered post, used basic", form: cc, header: basic("post", sp), status: 401, code: "invalid_client", challenge: true},
		{name: "registered basic, used post", form: with("client_id", "basic", "client_secret", sb), status: 401, code: "invalid_client"},
		{name: "client_id mismatch", form: with("client_id", "post"), header: basic("basic", sb), status: 401, code: "invalid_client", challenge: true},
		{name: "post secret without client_id", form: with("client_secret", sp), status: 400, code: "invalid_request"},
		{name: "disabled client", form: cc, header: basic("off", sd), status: 401, code: "invalid_client", challenge: true},
		// Re-validated on load: a record the registry would refuse refuses its client.
		{name: "not registered for grant", form: cc, header: basic("other-grant", so), status: 401, code: "invalid_client", challenge: true},
		{name: "unregistered scope", form: with("scope", "admin"), header: basic("basic", sb), status: 400, code: "invalid_scope"},
		{name: "malformed scope", form: with("scope", "read\"x"), header: basic("basic", sb), status: 400, code: "invalid_scope"},
		{name: "resource not allowed", form: with("resource", "https://evil.example.test"), header: basic("basic", sb), status: 400, code: "invalid_target"},
		{name: "resource with fragment", form: with("resource", audience+"#x"), header: basic("basic", sb), status: 400, code: "invalid_target"},
		{name: "relative resource", form: with("resource", "/api"), header: basic("basic", sb), status: 400, code: "invalid_target"},
		{name: "not base64 Basic", form: cc, header: http.Header{"Authorization": {"Basic !!!"}}, status: 400, code: "invalid_request"},
		{name: "Basic without colon", form: cc, header: http.Header{"Authorization": {"Basic YWJj"}}, status: 400, code: "invalid_request"},
		{name: "Bearer on token endpoint", form: cc, header: http.Header{"Authorization": {"Bearer abc"}}, status: 401, code: "invalid_client"},
		{name: "oversize body", body: "grant_type=client_credentials&x=" + strings.Repeat("a", 70<<10), header: basic("basic", sb), status: 413, code: "invalid_request"},
		{name: "oversize secret", form: cc, header: basic("basic", strings.Repeat("s", 600)), status: 401, code: "invalid_client", challenge: true},
		{name: "oversize client_id", form: with("client_id", strings.Repeat("c", 300), "client_secret", "x"), status: 401, code: "invalid_client"},
		{name: "invalid UTF-8", body: "grant_type=client_credentials&scope=%ff", header: basic("basic", sb), status: 400, code: "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if tc.form != nil {
				body = tc.form.Encode()
			}
			m := tc.method
			if m == "" {
				m = http.MethodPost
			}
			u := e.issuer + broker.PathToken
			if tc.query != "" {
				u += "?" + tc.query
			}
			req, _ := http.NewRequest(m, u, strings.NewReader(body))
			ct := tc.ctype
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ct)
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, got := e.do(req)
			if resp.StatusCode != tc.status || got["error"] != tc.code {
				t.Fatalf("got %d %v, want %d %s", resp.StatusCode, got, tc.status, tc.code)
			}
			if _, ok := got["access_token"]; ok {
				t.Fatal("an error response carries a token")
			}
			if resp.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("headers: %v", resp.Header)
			}
			if hasBasic := strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic"); hasBasic != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want Basic challenge %v", resp.Header.Get("WWW-Authenticate"), tc.challenge)
			}
			if d, _ := got["error_description"].(string); tc.code == "invalid_client" && d != "client authentication failed" {
				t.Errorf("invalid_client leaks a reason: %q", d)
			}
		})
	}
}

// Unknown client and wrong secret must look alike from outside.
func TestUnknownClientAndWrongSecretLookAlike(t *testing.T) {
	e := newEnv(t)
	e.client(&backends.Client{ClientID: "real", Scope: "read"})
	cc := url.Values{"grant_type": {"client_credentials"}}
	r1, b1 := e.post(cc, basic("real", "wrong-secret"))
	r2, b2 := e.post(cc, basic("nobody", "wrong-secret"))
	if r1.StatusCode != r2.StatusCode || b1["error"] != b2["error"] || b1["error_description"] != b2["error_description"] {
		t.Fatalf("distinguishable: %d %v vs %d %v", r1.StatusCode, b1, r2.StatusCode, b2)
	}
	for _, h := range []string{"WWW-Authenticate", "Cache-Control", "Content-Type", "Content-Length"} {
		if r1.Header.Get(h) != r2.Header.Get(h) {
			t.Errorf("header %s differs: %q vs %q", h, r1.Header.Get(h), r2.Header.Get(h))
		}
	}
}

func TestScopeResourceLifetimePolicy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	secret := e.client(&backends.Client{ClientID: "p", Scope: "read write", AllowedResources: []string{"https://a.example.test", "https://b.example.test"}, DefaultAudience: "https://a.example.test", AccessTokenLifetime: 60})
	tok := func(kv ...string) (map[string]any, accesstoken.Claims) {
		t.Helper()
		v := url.Values{"grant_type": {"client_credentials"}}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		resp, body := e.post(v, basic("p", secret))
		if resp.StatusCode != 200 {
			t.Fatalf("%v: %d %v", kv, resp.StatusCode, body)
		}
		c, _ := e.verify(body["access_token"].(string))
		return body, c
	}
	body, c := tok()
	if body["scope"] != "read write" || c.Scope != "read write" || !slices.Equal(c.Audience, []string{"https://a.example.test"}) || body["expires_in"].(float64) != 60 {
		t.Errorf("defaults: %v %+v", body, c)
	}
	_, c = tok("scope", "write write", "resource", "https://b.example.test", "resource", "https://a.example.test")
	if c.Scope != "write" || !slices.Equal(c.Audience, []string{"https://b.example.test", "https://a.example.test"}) {
		t.Errorf("subset/multi-resource: %+v", c)
	}
	// A per-client lifetime over the global hard maximum, written straight
	// into the store, fails validation on load: that client is refused.
	secret2 := e.client(&backends.Client{ClientID: "q", Scope: "read"})
	cq, _ := e.store.GetClient(ctx, "q")
	cq.AccessTokenLifetime = 3600
	if err := e.store.UpdateClient(ctx, cq); err != nil {
		t.Fatal(err)
	}
	resp, b := e.post(url.Values{"grant_type": {"client_credentials"}}, basic("q", secret2))
	if resp.StatusCode != 401 || b["error"] != "invalid_client" || b["access_token"] != nil {
		t.Fatalf("lifetime over the maximum: %d %v, want 401 invalid_client", resp.StatusCode, b)
	}
	secret3 := e.client(&backends.Client{ClientID: "q3", Scope: "read"})
	resp, b = e.post(url.Values{"grant_type": {"client_credentials"}}, basic("q3", secret3))
	if resp.StatusCode != 200 || b["expires_in"].(float64) > 900 {
		t.Fatalf("lifetime not capped at 15 min: %d %v", resp.StatusCode, b)
	}
	// A client with no default audience gets the configured default.
	c2, _ := e.verify(b["access_token"].(string))
	if !slices.Equal(c2.Audience, []string{audience}) {
		t.Errorf("configured default audience not used: %v", c2.Audience)
	}
}

func TestJTIIsUnique(t *testing.T) {
	e := newEnv(t)
	secret := e.client(&backends.Client{ClientID: "u", Scope: "read"})
	seen := map[string]bool{}
	for range 50 {
		_, b := e.post(url.Values{"grant_type": {"client_credentials"}}, basic("u", secret))
		c, _ := e.verify(b["access_token"].(string))
		if seen[c.ID] {
			t.Fatalf("jti %s issued twice", c.ID)
		}
		seen[c.ID] = true
	}
}
