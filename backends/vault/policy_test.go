package vault_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	vapi "github.com/hashicorp/vault/api"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/backends/vault"
	"github.com/tokenbroker/tokenbroker/backends/vault/vaulttest"
	"github.com/tokenbroker/tokenbroker/broker"
)

// docsPolicy returns the minimal Vault policy of docs/backends.md, so the
// policy the operator copies and the one tested cannot drift apart.
func docsPolicy(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/backends.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "A minimal policy for the broker")
	if i < 0 {
		t.Fatal("docs/backends.md: no minimal Vault policy")
	}
	s = s[i:]
	start := strings.Index(s, "```hcl\n")
	if start < 0 {
		t.Fatal("docs/backends.md: the minimal policy is not an hcl block")
	}
	s = s[start+len("```hcl\n"):]
	end := strings.Index(s, "```")
	if end < 0 {
		t.Fatal("docs/backends.md: unterminated hcl block")
	}
	return s[:end]
}

// tokenWith returns a token that holds exactly policy (no default policy).
func tokenWith(t *testing.T, v *vaulttest.Server, name, policy string) string {
	t.Helper()
	root := v.Root()
	if err := root.Sys().PutPolicy(name, policy); err != nil {
		t.Fatalf("policy %s: %v\n%s", name, err, policy)
	}
	tok, err := root.Auth().Token().Create(&vapi.TokenCreateRequest{Policies: []string{name}, NoDefaultPolicy: true})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Auth.ClientToken
}

// The documented minimal policy (docs/backends.md) is enough for everything the broker does —
// start-up, registration, a token request that reads the client, secret
// rotation, deletion, the local key set, Transit key creation, signing and
// rotation, PKI trust anchors — with a token holding nothing else (issue 11
// item 13).
func TestDocsPolicyIsEnough(t *testing.T) {
	v := server(t)
	ctx := context.Background()
	root := v.Root()
	// The docs name the default mount, prefix and key: start from nothing there.
	for _, p := range []string{"clients/c", "secrets/c", "signing-keys"} {
		root.KVv2("secret").DeleteMetadata(ctx, "tokenbroker/"+p)
	}
	if _, err := root.Logical().Write("transit/keys/tokenbroker/config", map[string]any{"deletion_allowed": true}); err == nil {
		if _, err := root.Logical().Delete("transit/keys/tokenbroker"); err != nil {
			t.Fatal(err)
		}
	}
	if err := root.Sys().Mount("pki", &vapi.MountInput{Type: "pki"}); err != nil && !strings.Contains(err.Error(), "existing mount") {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("pki/root/generate/internal", map[string]any{"common_name": "policy test root", "ttl": "1h"}); err != nil {
		t.Fatal(err)
	}
	tok := tokenWith(t, v, "tb-documented", docsPolicy(t))

	store, err := vault.New(ctx, vault.Config{Address: v.URL(), Auth: vault.Token(tok), Logger: quiet(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("start-up with the documented policy: %v", err)
	}
	defer store.Close()
	if _, err := signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx); err != nil {
		t.Fatalf("local key set with the documented policy: %v", err)
	}
	tr, err := store.Transit(ctx, vault.TransitConfig{PublishDelay: time.Millisecond})
	if err != nil {
		t.Fatalf("Transit key creation with the documented policy: %v", err)
	}
	defer tr.Close()
	pki, err := store.PKIRoots(ctx, []string{"pki"}, 0)
	if err != nil {
		t.Fatalf("PKI trust anchors with the documented policy: %v", err)
	}
	pki.Close()
	srv, err := broker.New(ctx, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test", Logger: quiet(), Signing: tr}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	reg, err := srv.Registry().Create(ctx, &backends.Client{ClientID: "c", Scope: "read"})
	if err != nil {
		t.Fatalf("registration with the documented policy: %v", err)
	}
	token := func(secret string) int {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("c:"+secret)))
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	if c := token(reg.Secret); c != 200 {
		t.Fatalf("token with the documented policy: %d", c)
	}
	if err := tr.Rotate(ctx, false); err != nil {
		t.Fatalf("Transit rotation with the documented policy: %v", err)
	}
	if vs, err := tr.List(ctx); err != nil || len(vs) != 2 {
		t.Fatalf("versions after rotation: %v, %v", vs, err)
	}
	secret, err := srv.Registry().RotateSecret(ctx, "c", 0)
	if err != nil {
		t.Fatalf("secret rotation with the documented policy: %v", err)
	}
	if c := token(secret); c != 200 {
		t.Fatalf("token after rotations: %d", c)
	}
	if ids, err := store.ListClients(ctx); err != nil || len(ids) != 1 {
		t.Fatalf("list with the documented policy: %v, %v", ids, err)
	}
	if err := srv.Registry().Delete(ctx, "c"); err != nil {
		t.Fatalf("delete with the documented policy: %v", err)
	}
}

// A policy too narrow for what the broker does fails start-up, naming the
// path and the capability — not the first token request (issue 11 item 13).
func TestNarrowPolicyFailsStartup(t *testing.T) {
	v := server(t)
	ctx := context.Background()
	prefix := uniquePrefix()
	full := map[string]string{
		"data":    fmt.Sprintf(`path "secret/data/%s/*" { capabilities = ["create", "read", "update"] }`, prefix),
		"meta":    fmt.Sprintf(`path "secret/metadata/%s/*" { capabilities = ["list", "read", "delete"] }`, prefix),
		"mounts":  `path "sys/internal/ui/mounts/secret" { capabilities = ["read"] }`,
		"caps":    `path "sys/capabilities-self" { capabilities = ["update"] }`,
		"tkeys":   fmt.Sprintf(`path "transit/keys/%s" { capabilities = ["read", "update"] }`, prefix),
		"trotate": fmt.Sprintf(`path "transit/keys/%s/rotate" { capabilities = ["update"] }`, prefix),
		"tsign":   fmt.Sprintf(`path "transit/sign/%s" { capabilities = ["update"] }`, prefix),
	}
	policy := func(replace map[string]string) string {
		var b strings.Builder
		for k, line := range full {
			if r, ok := replace[k]; ok {
				line = r
			}
			b.WriteString(line + "\n")
		}
		return b.String()
	}
	for _, tc := range []struct {
		name    string
		replace map[string]string
		transit bool
		want    string
	}{
		{"no read on client records", map[string]string{"data": fmt.Sprintf(`path "secret/data/%[1]s/*" { capabilities = ["create", "read", "update"] }
path "secret/data/%[1]s/clients/*" { capabilities = ["create", "update"] }`, prefix)}, false, fmt.Sprintf(`"read" on secret/data/%s/clients/*`, prefix)},
		{"no read on secrets", map[string]string{"data": fmt.Sprintf(`path "secret/data/%[1]s/*" { capabilities = ["create", "read", "update"] }
path "secret/data/%[1]s/secrets/*" { capabilities = ["deny"] }`, prefix)}, false, fmt.Sprintf(`"read" on secret/data/%s/secrets/*`, prefix)},
		{"no list on clients", map[string]string{"meta": fmt.Sprintf(`path "secret/metadata/%s/*" { capabilities = ["read", "delete"] }`, prefix)}, false, fmt.Sprintf(`"list" on secret/metadata/%s/clients/*`, prefix)},
		{"no capabilities-self", map[string]string{"caps": ""}, false, "sys/capabilities-self"},
		{"cannot create the Transit key", map[string]string{"tkeys": fmt.Sprintf(`path "transit/keys/%s" { capabilities = ["read"] }`, prefix)}, true, fmt.Sprintf(`"update" on transit/keys/%s`, prefix)},
		{"cannot sign", map[string]string{"tsign": ""}, true, fmt.Sprintf(`"update" on transit/sign/%s`, prefix)},
		{"cannot rotate", map[string]string{"trotate": ""}, true, fmt.Sprintf(`"update" on transit/keys/%s/rotate`, prefix)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := tokenWith(t, v, "tb-narrow-"+prefix, policy(tc.replace))
			store, err := vault.New(ctx, vault.Config{Address: v.URL(), Prefix: prefix, Auth: vault.Token(tok), Logger: quiet()})
			if err == nil && tc.transit {
				defer store.Close()
				var tr *vault.Transit
				if tr, err = store.Transit(ctx, vault.TransitConfig{Key: prefix}); err == nil {
					tr.Close()
				}
			} else if err == nil {
				store.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "permission denied") {
				t.Fatalf("start-up error %v, want it to name %s", err, tc.want)
			}
		})
	}
}

// ReadOnly asks only for what reads need: a policy without any write
// starts a read-only broker and refuses a writing one, naming the write.
func TestReadOnlyPolicy(t *testing.T) {
	v := server(t)
	prefix := uniquePrefix()
	tok := tokenWith(t, v, "tb-ro-"+prefix, fmt.Sprintf(`path "secret/data/%[1]s/*" { capabilities = ["read"] }
path "secret/metadata/%[1]s/*" { capabilities = ["list"] }
path "sys/internal/ui/mounts/secret" { capabilities = ["read"] }
path "sys/capabilities-self" { capabilities = ["update"] }`, prefix))
	ctx := context.Background()
	s, err := vault.New(ctx, vault.Config{Address: v.URL(), Prefix: prefix, Auth: vault.Token(tok), Logger: quiet(), ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only start with a read-only policy: %v", err)
	}
	s.Close()
	_, err = vault.New(ctx, vault.Config{Address: v.URL(), Prefix: prefix, Auth: vault.Token(tok), Logger: quiet()})
	if want := fmt.Sprintf(`"create" on secret/data/%s/clients/*`, prefix); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("writing broker with a read-only policy: %v, want it to name %s", err, want)
	}
}
