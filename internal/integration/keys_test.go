package integration_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/broker"
	"github.com/tokenbroker/tokenbroker/broker/policy"
	"github.com/tokenbroker/tokenbroker/broker/registry"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

func kids(e *env) []string {
	var out []string
	ks := e.jwks()
	for _, k := range ks.Keys {
		if !k.IsPublic() {
			e.t.Fatalf("JWKS publishes a private key: %s", k.KeyID)
		}
		out = append(out, k.KeyID)
	}
	return out
}

// Publish before use, keep until expiry.
func TestKeyRotation(t *testing.T) {
	e := newEnv(t, func(c *broker.Config, _ *cache.Options) { c.KeyRefresh = 50 * time.Millisecond })
	ctx := context.Background()
	secret := e.client(&backends.Client{ClientID: "k", Scope: "read"})
	token := func() string {
		_, b := e.post(url.Values{"grant_type": {"client_credentials"}}, basic("k", secret))
		return b["access_token"].(string)
	}
	ks, _ := e.store.GetKeySet(ctx)
	var next string
	for _, k := range ks.Keys {
		if k.State == backends.KeyNext {
			next = k.KID
		}
	}
	if !slices.Contains(kids(e), next) {
		t.Fatalf("next key %s not published before use: %v", next, kids(e))
	}
	before := token()
	_, h := e.verify(before)
	oldKid := h.KeyID

	if err := signing.NewLocal(e.store, signing.Options{Alg: "ES256", PublishDelay: time.Hour, MaxLifetime: policy.HardMaxLifetime}).Rotate(ctx, false); !errors.Is(err, signing.ErrTooSoon) {
		t.Fatalf("rotation before the next key was published long enough = %v, want ErrTooSoon", err)
	}
	if err := signing.NewLocal(e.store, signing.Options{Alg: "ES256", PublishDelay: 0, MaxLifetime: policy.HardMaxLifetime}).Rotate(ctx, false); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { _, h := e.verify(token()); return h.KeyID == next })
	// The retired key is still published, so the earlier token still verifies.
	e.verify(before)
	if got := kids(e); !slices.Contains(got, oldKid) || len(got) != 3 {
		t.Fatalf("after rotation JWKS = %v, want retired %s + active + next", got, oldKid)
	}
	// Once every token the retired key signed has expired, it is no longer published.
	ks, _ = e.store.GetKeySet(ctx)
	for i, k := range ks.Keys {
		if k.KID == oldKid {
			long := time.Now().Add(-time.Hour)
			ks.Keys[i].RetiredAt = &long
		}
	}
	if err := e.store.PutKeySet(ctx, ks); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return !slices.Contains(kids(e), oldKid) })
}

// Every selectable algorithm mints tokens that verify against the JWKS.
func TestSigningAlgorithms(t *testing.T) {
	for _, alg := range signing.Algs() {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, func(c *broker.Config, _ *cache.Options) { c.SigningAlg = alg; c.KeyRefresh = 20 * time.Millisecond })
			ctx := context.Background()
			if err := signing.NewLocal(e.store, signing.Options{Alg: alg, PublishDelay: 0, MaxLifetime: policy.HardMaxLifetime}).Rotate(ctx, true); err != nil {
				t.Fatal(err)
			}
			if err := signing.NewLocal(e.store, signing.Options{Alg: alg, PublishDelay: 0, MaxLifetime: policy.HardMaxLifetime}).Rotate(ctx, true); err != nil {
				t.Fatal(err)
			}
			secret := e.client(&backends.Client{ClientID: "a", Scope: "read"})
			waitUntil(t, func() bool {
				_, b := e.post(url.Values{"grant_type": {"client_credentials"}}, basic("a", secret))
				_, h := e.verify(b["access_token"].(string))
				return h.Algorithm == alg
			})
		})
	}
}

// Edits by another process (here: a second store on the same directory) are
// picked up without a restart.
func TestFileEditsPickedUp(t *testing.T) {
	e := newEnv(t, func(_ *broker.Config, o *cache.Options) {
		o.TTL = 100 * time.Millisecond
		o.NegativeTTL = 50 * time.Millisecond
	})
	ctx := context.Background()
	secret := e.client(&backends.Client{ClientID: "edit", Scope: "read"})
	cc := url.Values{"grant_type": {"client_credentials"}}
	if r, _ := e.post(cc, basic("edit", secret)); r.StatusCode != 200 {
		t.Fatal("initial token refused")
	}
	other, _ := file.New(e.store.Dir())
	c, _ := other.GetClient(ctx, "edit")
	c.Disabled = true
	if err := other.UpdateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { r, _ := e.post(cc, basic("edit", secret)); return r.StatusCode == 401 })

	// A client created by another process is found too.
	reg := registry.New(other, registry.Config{Methods: []string{backends.AuthClientSecretBasic}})
	if r, _ := e.post(cc, basic("late", "x")); r.StatusCode != 401 {
		t.Fatal("unknown client not refused")
	}
	created, err := reg.Create(ctx, &backends.Client{ClientID: "late", Scope: "read"})
	if err != nil {
		t.Fatal(err)
	}
	e.handedOut = append(e.handedOut, created.Secret, created.RegistrationToken)
	waitUntil(t, func() bool { r, _ := e.post(cc, basic("late", created.Secret)); return r.StatusCode == 200 })
}

func TestMetadata(t *testing.T) {
	e := newEnv(t)
	_, md := e.do(mustReq(t, e.issuer+broker.PathMetadata))
	want := map[string]any{
		"issuer":                e.issuer,
		"token_endpoint":        e.issuer + broker.PathToken,
		"jwks_uri":              e.issuer + broker.PathJWKS,
		"registration_endpoint": e.issuer + broker.PathRegister,
	}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("%s = %v, want %v", k, md[k], v)
		}
	}
	for _, k := range []string{"response_types_supported", "grant_types_supported", "token_endpoint_auth_methods_supported", "scopes_supported"} {
		if _, ok := md[k].([]any); !ok {
			t.Errorf("%s missing or not a list: %v", k, md[k])
		}
	}
	if g := md["grant_types_supported"].([]any); len(g) != 1 || g[0] != "client_credentials" {
		t.Errorf("grant_types_supported = %v", g)
	}
	r, _ := e.http.Get(e.issuer + broker.PathJWKS)
	r.Body.Close()
	if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("JWKS Cache-Control = %q", cc)
	}
}

// Validate names the field (a *FieldError); the program that reads a
// configuration file maps the field to its key.
func TestConfigValidationNamesTheField(t *testing.T) {
	tests := map[string]broker.Config{
		"Issuer":                           {Issuer: "http://insecure.example"},
		"MaxTokenLifetime":                 {Issuer: "https://a.example", MaxTokenLifetime: time.Hour},
		"SigningAlg":                       {Issuer: "https://a.example", SigningAlg: "HS256"},
		"TokenLifetime":                    {Issuer: "https://a.example", TokenLifetime: time.Second},
		"DefaultAudience":                  {Issuer: "https://a.example", DefaultAudience: "no-scheme"},
		"RateLimits.FailedPerClient.Burst": {Issuer: "https://a.example", RateLimits: broker.RateLimits{FailedPerClient: broker.Rate{PerSecond: 1}}},
	}
	for field, cfg := range tests {
		err := cfg.Validate()
		var fe *broker.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: Validate() = %v, want a *FieldError naming %s", field, err, field)
		}
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, "the condition", cond)
}
