package vault_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vapi "github.com/hashicorp/vault/api"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/backendtest"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/backends/vault"
	"github.com/tokenbroker/tokenbroker/backends/vault/vaulttest"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

var prefixN atomic.Int64

func uniquePrefix() string {
	return fmt.Sprintf("tb-test-%d-%d", time.Now().UnixNano(), prefixN.Add(1))
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func open(t testing.TB, v *vaulttest.Server, prefix string, auth vault.Auth, log *slog.Logger) *vault.Store {
	t.Helper()
	s, err := vault.New(context.Background(), vault.Config{Address: v.URL(), Prefix: prefix, Auth: auth, Logger: log, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	v := server(t)
	var prefixes sync.Map // *vault.Store → its prefix
	backendtest.Run(t, func(t *testing.T) backends.Store {
		p := uniquePrefix()
		s := open(t, v, p, vault.Token(v.RootToken()), quiet())
		prefixes.Store(s, p)
		return s
	}, backendtest.WithRaw(backendtest.Raw{CollapsesDuplicates: true, Write: func(t *testing.T, s backends.Store, id string, doc []byte) error {
		// The KV v2 HTTP API as the vault CLI calls it, with the document as sent.
		p, _ := prefixes.Load(s)
		body := append(append([]byte(`{"data":`), doc...), '}')
		_, err := v.Root().Logical().WriteBytesWithContext(context.Background(), "secret/data/"+p.(string)+"/clients/"+id, body)
		return err
	}}))
}

// A record provisioned with the vault CLI's plain fields, and a team-managed
// secret given as {"client_secret": …}, are picked up as they are.
func TestProvisionedWithVaultTooling(t *testing.T) {
	v := server(t)
	prefix := uniquePrefix()
	kv := v.Root().KVv2("secret")
	ctx := context.Background()
	if _, err := kv.Put(ctx, prefix+"/clients/ops-job", map[string]any{"token_endpoint_auth_method": "client_secret_post", "scope": "read", "allowed_resources": []any{"https://api.example.test"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, prefix+"/secrets/ops-job", map[string]any{"client_secret": "team-managed-secret-value"}); err != nil {
		t.Fatal(err)
	}
	s := open(t, v, prefix, vault.Token(v.RootToken()), quiet())
	c, err := s.GetClient(ctx, "ops-job")
	if err != nil || c.ClientID != "ops-job" || c.Scope != "read" {
		t.Fatalf("GetClient = %+v, %v", c, err)
	}
	set, err := s.GetSecrets(ctx, "ops-job")
	if err != nil || len(set.Secrets) != 1 || set.Secrets[0].Plain != "team-managed-secret-value" {
		t.Fatalf("GetSecrets = %+v, %v", set, err)
	}
}

func TestStartupErrorsSayWhatToFix(t *testing.T) {
	v := server(t)
	root := v.Root()
	// A policy that can read clients but not the signing keys.
	if err := root.Sys().PutPolicy("tb-partial", `path "secret/data/limited/clients/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := root.Auth().Token().Create(&vapi.TokenCreateRequest{Policies: []string{"tb-partial"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().Mount("kv1", &vapi.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil && !strings.Contains(err.Error(), "existing mount") {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		cfg  vault.Config
		want []string
	}{
		"permission denied": {vault.Config{Address: v.URL(), Prefix: "limited", Auth: vault.Token(tok.Auth.ClientToken)}, []string{"permission denied", "read"}},
		"wrong mount type":  {vault.Config{Address: v.URL(), Mount: "kv1", Auth: vault.Token(v.RootToken())}, []string{"not a KV version 2 mount"}},
		"missing mount":     {vault.Config{Address: v.URL(), Mount: "nope", Auth: vault.Token(v.RootToken())}, []string{"nope"}},
		"bad token":         {vault.Config{Address: v.URL(), Auth: vault.Token("hvs.not-a-token")}, []string{"vault token"}},
		"unreachable":       {vault.Config{Address: "http://127.0.0.1:1", Auth: vault.Token("x"), Timeout: time.Second}, []string{"unreachable"}},
	} {
		tc.cfg.Logger = quiet()
		_, err := vault.New(context.Background(), tc.cfg)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %v, want it to say %q", name, err, w)
			}
		}
	}
	// Sealed.
	if err := root.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	_, err = vault.New(context.Background(), vault.Config{Address: v.URL(), Auth: vault.Token(v.RootToken()), Logger: quiet()})
	if err := v.Unseal(); err != nil {
		t.Fatal(err)
	}
	if err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("sealed Vault: %v", err)
	}
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// AppRole with short TTLs: the token is renewed, then, at its max TTL, the
// broker logs in again — it never silently expires.
func TestAppRoleRenewAndRelogin(t *testing.T) {
	v := server(t)
	root := v.Root()
	prefix := uniquePrefix()
	if err := root.Sys().EnableAuthWithOptions("approle", &vapi.EnableAuthOptions{Type: "approle"}); err != nil && !strings.Contains(err.Error(), "already in use") {
		t.Fatal(err)
	}
	policy := fmt.Sprintf(`path "secret/data/%[1]s/*" { capabilities = ["create","read","update","delete"] }
path "secret/metadata/%[1]s/*" { capabilities = ["list","read","delete"] }
path "sys/internal/ui/mounts/*" { capabilities = ["read"] }`, prefix)
	if err := root.Sys().PutPolicy("tb-"+prefix, policy); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/approle/role/"+prefix, map[string]any{"token_policies": "tb-" + prefix, "token_ttl": "2s", "token_max_ttl": "3s"}); err != nil {
		t.Fatal(err)
	}
	rid, err := root.Logical().Read("auth/approle/role/" + prefix + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := root.Logical().Write("auth/approle/role/"+prefix+"/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := vault.AppRole(rid.Data["role_id"].(string), sid.Data["secret_id"].(string), "")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	s := open(t, v, prefix, auth, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx := context.Background()
	if err := s.CreateClient(ctx, &backends.Client{ClientID: "c", TokenEndpointAuthMethod: "client_secret_basic"}); err != nil {
		t.Fatal(err)
	}
	// Vault's clock is its own: poll (every read must succeed) until the
	// broker has renewed and, at the max TTL, logged in again.
	start := time.Now()
	testkit.WaitFor(t, "a re-login at the max TTL", func() bool {
		if _, err := s.GetClient(ctx, "c"); err != nil {
			t.Fatalf("read failed after %s: %v\n%s", time.Since(start), err, logs)
		}
		return strings.Contains(logs.String(), "logged in again")
	})
	// And the new token serves.
	if _, err := s.GetClient(ctx, "c"); err != nil {
		t.Fatalf("read after the re-login: %v\n%s", err, logs)
	}
}

// Vault down: known clients keep getting tokens from the last good data,
// a client never seen gets 503, and Vault's return needs no restart.
func TestOutageStaleWindowAndRecovery(t *testing.T) {
	v := server(t)
	ctx := context.Background()
	store := open(t, v, uniquePrefix(), vault.Token(v.RootToken()), quiet())
	if _, err := signing.NewLocal(store, signing.Options{Alg: "ES256"}).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	clk := testkit.NewClock(time.Now()) // the cache's: entries age only when the test says
	srv, err := broker.New(ctx, broker.Config{Issuer: "https://broker.example.test", DefaultAudience: "https://api.example.test", Logger: quiet()}, store,
		broker.WithCache(cache.Options{TTL: 200 * time.Millisecond, StaleWindow: time.Minute, RetryBackoff: 100 * time.Millisecond, LoadTimeout: time.Second, Now: clk.Now}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	known, err := srv.Registry().Create(ctx, &backends.Client{ClientID: "known", Scope: "read"})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	token := func(id, secret string) int {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	ready := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code
	}
	if c := token("known", known.Secret); c != 200 {
		t.Fatalf("before the outage: %d", c)
	}
	v.Kill()
	// Requests go on, each one past the refresh point, until the cache has
	// seen the outage (/readyz 503): none of a known client may fail.
	failed, total := 0, 0
	testkit.WaitFor(t, "the cache to see the outage", func() bool {
		clk.Advance(50 * time.Millisecond)
		total++
		if token("known", known.Secret) != 200 {
			failed++
		}
		return ready() == 503
	})
	for range 20 { // and on, stale, well past TTL
		clk.Advance(50 * time.Millisecond)
		total++
		if token("known", known.Secret) != 200 {
			failed++
		}
	}
	if failed != 0 {
		t.Fatalf("%d of %d requests of a known client failed during the outage", failed, total)
	}
	if c := token("never-seen", "x"); c != 503 {
		t.Fatalf("unknown client during the outage: %d, want 503", c)
	}
	if c := ready(); c != 503 {
		t.Fatalf("/readyz while serving stale: %d, want 503", c)
	}
	if err := v.Restart(); err != nil {
		t.Fatal(err)
	}
	late, err := srv.Registry().Create(ctx, &backends.Client{ClientID: "late", Scope: "read"})
	if err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	testkit.WaitFor(t, "recovery after Vault returned", func() bool {
		clk.Advance(50 * time.Millisecond) // past the fail-fast window
		return token("late", late.Secret) == 200 && ready() == 200
	})
	t.Logf("outage: %d requests of a known client, 0 failed", total)
}
