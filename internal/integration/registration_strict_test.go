package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/broker"
)

// rawReg sends body as is and returns the raw response body, so a test can
// see what a map would hide (a duplicate member).
func (e *env) rawReg(method, path, bearer, body string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.issuer+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// tokenScope asks for a token with scope (empty: the registered scope) and
// returns the granted scope, or "" and the error code.
func (e *env) tokenScope(id, secret, scope string) (granted, code string) {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	resp, b := e.post(form, basic(id, secret))
	if resp.StatusCode != 200 {
		code, _ := b["error"].(string)
		return "", code
	}
	claims, _ := e.verify(b["access_token"].(string))
	return claims.Scope, ""
}

// RFC 7591 §2, §3.2.2: member names match exactly. A member that differs
// from a known or reserved one only in letter case (Unicode simple folding
// included), a duplicate, a member only the server or the operator sets, or
// nesting past 16 levels is refused with invalid_client_metadata naming it —
// on main the variant was stored and won on read-back (a token with scope
// admin; an operator's disable undone by a "Disabled" member).
func TestRegistrationRefusesAmbiguousAndReservedMembers(t *testing.T) {
	e := newEnv(t)
	deep := `{"scope":"read","x":` + strings.Repeat("[", 9990) + strings.Repeat("]", 9990) + `}`
	tests := []struct {
		name, body, member string
	}{
		{"case variant", `{"scope":"read","Scope":"read admin"}`, "Scope"},
		{"case variant first", `{"Scope":"read admin","scope":"read"}`, "Scope"},
		{"long s U+017F", `{"scope":"read","ſcope":"read admin"}`, "ſcope"},
		{"disabled variant", `{"scope":"read","Disabled":false}`, "Disabled"},
		{"disabled with U+017F", `{"scope":"read","Diſabled":false}`, "Diſabled"},
		{"Kelvin sign U+212A", `{"scope":"read","to` + "\u212a" + `en_endpoint_auth_method":"private_key_jwt"}`, "to\u212aen_endpoint_auth_method"},
		{"escaped variant", `{"scope":"read","\u0053cope":"admin"}`, "Scope"},
		{"duplicate", `{"scope":"read","scope":"read admin"}`, "scope"},
		{"client_secret", `{"scope":"read","client_secret":"chosen-by-the-client-000000000000000"}`, "client_secret"},
		{"client_secret variant", `{"scope":"read","Client_Secret":"chosen"}`, "Client_Secret"},
		{"client_secrets", `{"scope":"read","client_secrets":[{"plain":"chosen"}]}`, "client_secrets"},
		{"registration_access_token", `{"registration_access_token":"x"}`, "registration_access_token"},
		{"registration_client_uri", `{"registration_client_uri":"https://evil.example.test"}`, "registration_client_uri"},
		{"client_secret_expires_at", `{"client_secret_expires_at":0}`, "client_secret_expires_at"},
		{"client_id_issued_at", `{"client_id_issued_at":1}`, "client_id_issued_at"},
		{"stored hash", `{"registration_token_hash":"sha256:x"}`, "registration_token_hash"},
		{"disabled", `{"disabled":false}`, "disabled"},
		{"ceiling", `{"scope":"read","operator_ceiling":{"scope":"read admin"}}`, "operator_ceiling"},
		{"9,990 nested arrays", deep, "(body)"},
	}
	before, _ := e.store.ListClients(context.Background())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.reg("POST", broker.PathRegister, e.regToken, tc.body)
			desc, _ := b["error_description"].(string)
			if resp.StatusCode != 400 || b["error"] != "invalid_client_metadata" || !strings.HasPrefix(desc, tc.member+":") {
				t.Fatalf("got %d %v, want invalid_client_metadata naming %s", resp.StatusCode, b, tc.member)
			}
		})
	}
	after, _ := e.store.ListClients(context.Background())
	if len(after) != len(before) {
		t.Fatalf("refused registrations stored clients: %v", after)
	}
	// Nothing grew on disk either (main wrote ~200 MB for the nested arrays).
	var size int64
	filepath.Walk(e.store.Dir(), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	if size > 1<<20 {
		t.Fatalf("backend directory holds %d bytes after refused registrations", size)
	}
}

// The same attacks against RFC 7592 update of a registered client: refused,
// and no token with a widened scope, and no secret of the client's choosing.
func TestRegistrationUpdateCannotSmuggleMembers(t *testing.T) {
	e := newEnv(t)
	resp, b := e.reg("POST", broker.PathRegister, e.regToken, map[string]any{"scope": "read"})
	if resp.StatusCode != 201 {
		t.Fatalf("register: %d %v", resp.StatusCode, b)
	}
	id, secret, rat := b["client_id"].(string), b["client_secret"].(string), b["registration_access_token"].(string)
	uri := broker.PathRegister + "/" + id
	for _, tc := range []struct{ body, member string }{
		{`{"client_id":"` + id + `","scope":"read","Scope":"read admin"}`, "Scope"},
		{`{"client_id":"` + id + `","scope":"read","ſcope":"admin"}`, "ſcope"},
		{`{"client_id":"` + id + `","scope":"read","scope":"admin"}`, "scope"},
		{`{"client_id":"` + id + `","scope":"read","Diſabled":false}`, "Diſabled"},
		{`{"client_id":"` + id + `","scope":"read","client_secret":"chosen-by-the-client-000000000000000"}`, "client_secret"},
		{`{"client_id":"` + id + `","scope":"read","registration_client_uri":"https://evil.example.test"}`, "registration_client_uri"},
		{`{"client_id":"` + id + `","scope":"read","client_id_issued_at":1}`, "client_id_issued_at"},
		{`{"client_id":"` + id + `","scope":"read","disabled":false}`, "disabled"},
	} {
		resp, b := e.reg("PUT", uri, rat, tc.body)
		desc, _ := b["error_description"].(string)
		if resp.StatusCode != 400 || b["error"] != "invalid_client_metadata" || !strings.HasPrefix(desc, tc.member+":") {
			t.Errorf("PUT %s: %d %v, want invalid_client_metadata naming %s", tc.body, resp.StatusCode, b, tc.member)
		}
	}
	if got, code := e.tokenScope(id, secret, "admin"); code != "invalid_scope" {
		t.Fatalf("token for scope admin: %q %q, want invalid_scope", got, code)
	}
	if got, _ := e.tokenScope(id, secret, ""); got != "read" {
		t.Fatalf("registered scope now %q", got)
	}
	if r, _ := e.post(url.Values{"grant_type": {"client_credentials"}}, basic(id, "chosen-by-the-client-000000000000000")); r.StatusCode != 401 {
		t.Fatalf("a secret of the client's choosing works: %d", r.StatusCode)
	}
	// RFC 7592 §2.2: the current secret may be sent back; another one may not.
	ok := `{"client_id":"` + id + `","scope":"read","client_secret":"` + secret + `"}`
	if resp, b := e.reg("PUT", uri, rat, ok); resp.StatusCode != 200 || b["client_secret"] != nil {
		t.Fatalf("PUT with the current secret: %d %v", resp.StatusCode, b)
	}
}

// Every member appears once in each registration response: on main an unknown
// member named client_secret or registration_client_uri came out twice.
func TestRegistrationResponsesHaveEachMemberOnce(t *testing.T) {
	e := newEnv(t)
	once := func(what string, b []byte) {
		t.Helper()
		own := []string{"client_secret", "client_secret_expires_at", "registration_access_token", "registration_client_uri", "client_id_issued_at"}
		if _, _, err := backends.DecodeRecord(b, own...); err != nil {
			t.Fatalf("%s response does not decode strictly (%v): %s", what, err, b)
		}
	}
	resp, b := e.rawReg("POST", broker.PathRegister, e.regToken, `{"scope":"read","software_id":"s","x_registration":"y"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, b)
	}
	once("registration", b)
	var reg struct {
		ID     string `json:"client_id"`
		RAT    string `json:"registration_access_token"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal(b, &reg); err != nil {
		t.Fatal(err)
	}
	e.handedOut = append(e.handedOut, reg.RAT, reg.Secret)
	for _, m := range []string{"disabled", "operator_ceiling"} {
		if bytes.Contains(b, []byte(`"`+m+`"`)) {
			t.Errorf("registration response shows the operator's %s: %s", m, b)
		}
	}
	resp, b = e.rawReg("GET", broker.PathRegister+"/"+reg.ID, reg.RAT, "")
	if resp.StatusCode != 200 {
		t.Fatalf("read: %d %s", resp.StatusCode, b)
	}
	once("read", b)
	resp, b = e.rawReg("PUT", broker.PathRegister+"/"+reg.ID, reg.RAT, `{"client_id":"`+reg.ID+`","scope":"read","software_id":"s2"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("update: %d %s", resp.StatusCode, b)
	}
	once("update", b)
}

// A record in the backend that does not decode strictly (written past the
// broker, here with both "scope" and "Scope") never yields a token, and the
// other clients are served.
func TestInvalidStoredRecordMintsNothing(t *testing.T) {
	e := newEnv(t)
	good := e.client(&backends.Client{ClientID: "good", Scope: "read"})
	victim := e.client(&backends.Client{ClientID: "victim", Scope: "read"})
	// "good" is cached; whether an uncached client is served while an invalid
	// record is refused is the cache's contract (ErrInvalidRecord is no outage).
	if got, code := e.tokenScope("good", good, ""); got != "read" {
		t.Fatalf("good client: %q %q", got, code)
	}
	rec := `{"client_id":"victim","token_endpoint_auth_method":"client_secret_basic","scope":"read","Scope":"read admin","grant_types":["client_credentials"]}`
	if err := os.WriteFile(filepath.Join(e.store.Dir(), "clients", "victim.json"), []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Registry().Get(context.Background(), "victim"); err == nil {
		t.Fatal("the registry loaded the record")
	}
	for _, scope := range []string{"admin", ""} {
		got, _ := e.tokenScope("victim", victim, scope)
		if strings.Contains(got, "admin") {
			t.Fatalf("a token with scope %q from an invalid record", got)
		}
	}
	if got, code := e.tokenScope("good", good, ""); got != "read" {
		t.Fatalf("another client after an invalid record: %q %q", got, code)
	}
}
