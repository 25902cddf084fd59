package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker"
)

func (e *env) reg(method, path, bearer string, body any) (*http.Response, map[string]any) {
	e.t.Helper()
	var rd *bytes.Reader
	if s, ok := body.(string); ok {
		rd = bytes.NewReader([]byte(s))
	} else {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.issuer+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, m := e.do(req)
	for _, k := range []string{"client_secret", "registration_access_token"} {
		if s, ok := m[k].(string); ok {
			e.handedOut = append(e.handedOut, s)
		}
	}
	return resp, m
}

func TestRegistrationLifecycle(t *testing.T) {
	e := newEnv(t)
	md := map[string]any{"client_name": "billing", "scope": "read write", "allowed_resources": []string{audience}, "software_id": "abc-123", "x_owner": map[string]any{"team": "payments"}}

	if resp, b := e.reg("POST", broker.PathRegister, "", md); resp.StatusCode != 401 || b["error"] != "invalid_token" || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no initial access token: %d %v", resp.StatusCode, b)
	}
	if resp, _ := e.reg("POST", broker.PathRegister, "wrong-token", md); resp.StatusCode != 401 {
		t.Fatalf("wrong initial access token: %d", resp.StatusCode)
	}
	resp, b := e.reg("POST", broker.PathRegister, e.regToken, md)
	if resp.StatusCode != 201 {
		t.Fatalf("register: %d %v", resp.StatusCode, b)
	}
	id, secret, rat := b["client_id"].(string), b["client_secret"].(string), b["registration_access_token"].(string)
	if id == "" || len(secret) < 43 || rat == "" || b["software_id"] != "abc-123" || b["token_endpoint_auth_method"] != "client_secret_basic" ||
		b["registration_client_uri"] != e.issuer+broker.PathRegister+"/"+id || b["client_secret_expires_at"] != 0.0 {
		t.Fatalf("registration response: %v", b)
	}
	if r, tb := e.post(url.Values{"grant_type": {"client_credentials"}}, basic(id, secret)); r.StatusCode != 200 {
		t.Fatalf("registered client cannot get a token: %v", tb)
	}

	// RFC 7592 read: unknown fields survived.
	uri := broker.PathRegister + "/" + id
	if resp, _ := e.reg("GET", uri, "wrong", nil); resp.StatusCode != 401 {
		t.Fatalf("read with a wrong token: %d", resp.StatusCode)
	}
	if resp, _ := e.reg("GET", broker.PathRegister+"/someone-else", rat, nil); resp.StatusCode != 401 {
		t.Fatalf("read of another client with my token: %d", resp.StatusCode)
	}
	resp, got := e.reg("GET", uri, rat, nil)
	if resp.StatusCode != 200 || got["x_owner"].(map[string]any)["team"] != "payments" || got["client_secret"] != nil {
		t.Fatalf("read: %d %v", resp.StatusCode, got)
	}

	// RFC 7592 update: full replacement; unknown fields the caller sends back
	// survive. §2.2: the server's members are not sent back.
	got["scope"] = "read"
	delete(got, "registration_client_uri")
	delete(got, "client_id_issued_at")
	resp, upd := e.reg("PUT", uri, rat, got)
	if resp.StatusCode != 200 || upd["scope"] != "read" || upd["x_owner"] == nil {
		t.Fatalf("update: %d %v", resp.StatusCode, upd)
	}
	if r, tb := e.post(url.Values{"grant_type": {"client_credentials"}, "scope": {"write"}}, basic(id, secret)); r.StatusCode != 400 || tb["error"] != "invalid_scope" {
		t.Fatalf("update not applied at once: %v", tb)
	}
	got["client_id"] = "other"
	if resp, b := e.reg("PUT", uri, rat, got); resp.StatusCode != 400 || b["error"] != "invalid_client_metadata" {
		t.Fatalf("update with another client_id: %d %v", resp.StatusCode, b)
	}

	// An operator disables the client: it can neither re-enable itself nor manage itself.
	cur, _ := e.srv.Registry().Get(context.Background(), id)
	cur.Disabled = true
	if _, err := e.srv.Registry().Update(context.Background(), id, cur); err != nil {
		t.Fatal(err)
	}
	got["client_id"], got["disabled"] = id, false
	if resp, _ := e.reg("PUT", uri, rat, got); resp.StatusCode != 401 {
		t.Fatalf("disabled client updated itself: %d", resp.StatusCode)
	}
	if c, _ := e.srv.Registry().Get(context.Background(), id); !c.Disabled {
		t.Fatal("a client re-enabled itself")
	}
	cur, _ = e.srv.Registry().Get(context.Background(), id)
	cur.Disabled = false
	e.srv.Registry().Update(context.Background(), id, cur)

	// Delete: the client stops authenticating at once.
	if resp, _ := e.reg("DELETE", uri, rat, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if r, _ := e.post(url.Values{"grant_type": {"client_credentials"}}, basic(id, secret)); r.StatusCode != 401 {
		t.Fatalf("deleted client still gets tokens: %d", r.StatusCode)
	}
	if resp, _ := e.reg("GET", uri, rat, nil); resp.StatusCode != 401 {
		t.Fatalf("read after delete: %d", resp.StatusCode)
	}
}

func TestRegistrationRejectsBadMetadata(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name  string
		body  any
		field string
	}{
		{"password grant", map[string]any{"grant_types": []string{"client_credentials", "password"}}, "grant_types"},
		{"response types", map[string]any{"response_types": []string{"code"}}, "response_types"},
		{"unknown method", map[string]any{"token_endpoint_auth_method": "none"}, "token_endpoint_auth_method"},
		{"unsupported scope", map[string]any{"scope": "read superuser"}, "scope"},
		{"bad scope token", map[string]any{"scope": "a\\b"}, "scope"},
		{"relative resource", map[string]any{"allowed_resources": []string{"/api"}}, "allowed_resources"},
		{"lifetime over max", map[string]any{"access_token_lifetime": 3600}, "access_token_lifetime"},
		{"wrong type", map[string]any{"scope": 5}, "scope"},
		{"jwks and jwks_uri", map[string]any{"token_endpoint_auth_method": "client_secret_post", "jwks": map[string]any{"keys": []any{map[string]any{"kty": "EC"}}}, "jwks_uri": "https://x.example.test/jwks"}, "jwks"},
		{"not JSON", "{", "(body)"},
		{"self-granted audience", map[string]any{"allowed_resources": []string{"https://payroll.example.test"}}, "allowed_resources"},
		{"self-granted default audience", map[string]any{"default_audience": "https://payroll.example.test"}, "default_audience"},
		{"trailing data", `{"scope":"read"} {}`, "(body)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.reg("POST", broker.PathRegister, e.regToken, tc.body)
			desc, _ := b["error_description"].(string)
			if resp.StatusCode != 400 || b["error"] != "invalid_client_metadata" || !strings.HasPrefix(desc, tc.field) {
				t.Fatalf("got %d %v, want invalid_client_metadata naming %s", resp.StatusCode, b, tc.field)
			}
		})
	}
	req, _ := http.NewRequest("POST", e.issuer+broker.PathRegister, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+e.regToken)
	req.Header.Set("Content-Type", "text/plain")
	if resp, b := e.do(req); resp.StatusCode != 400 || b["error"] != "invalid_request" {
		t.Fatalf("wrong content type: %d %v", resp.StatusCode, b)
	}
}

// A client holds two valid secrets while it rotates; the old one ends after the grace period.
func TestSecretRotation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := e.client(&backends.Client{ClientID: "rot", Scope: "read"})
	reg := e.srv.Registry()
	fresh, err := reg.RotateSecret(ctx, "rot", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.handedOut = append(e.handedOut, fresh)
	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, s := range []string{old, fresh} {
		if r, b := e.post(cc, basic("rot", s)); r.StatusCode != 200 {
			t.Fatalf("secret refused during rotation: %v", b)
		}
	}
	newest, err := reg.RotateSecret(ctx, "rot", -time.Second) // the previous secret ends now
	if err != nil {
		t.Fatal(err)
	}
	e.handedOut = append(e.handedOut, newest)
	set, _ := e.store.GetSecrets(ctx, "rot")
	if len(set.Secrets) != 2 {
		t.Fatalf("%d secrets stored, want at most 2", len(set.Secrets))
	}
	if r, _ := e.post(cc, basic("rot", old)); r.StatusCode != 401 {
		t.Fatal("oldest secret still valid after two rotations")
	}
	if r, _ := e.post(cc, basic("rot", fresh)); r.StatusCode != 401 {
		t.Fatal("secret past its grace period still valid")
	}
	if r, _ := e.post(cc, basic("rot", newest)); r.StatusCode != 200 {
		t.Fatal("newest secret refused")
	}
	for _, s := range set.Secrets {
		if s.Plain != "" || !strings.HasPrefix(s.Hash, "sha256:") {
			t.Fatalf("generated secret stored in a usable form: %+v", s)
		}
	}
}
