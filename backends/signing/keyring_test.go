package signing_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tokenbroker/tokenbroker/backends/signing"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// fakeSource serves whatever set (or error) the test put in it.
type fakeSource struct {
	mu  sync.Mutex
	set *signing.Set
	err error
}

func (f *fakeSource) SigningSet(context.Context) (*signing.Set, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.set, f.err
}

func (f *fakeSource) put(set *signing.Set, err error) {
	f.mu.Lock()
	f.set, f.err = set, err
	f.mu.Unlock()
}

// localSet is a Set of fresh keys of alg, the first one active.
func localSet(t *testing.T, alg string, n int) *signing.Set {
	t.Helper()
	set := &signing.Set{}
	for i := range n {
		sk, err := signing.NewSigningKey(alg, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		s, pub, err := signing.ParseSigningKey(sk)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			set.Active = s
		}
		set.Published = append(set.Published, signing.PublicKey{KID: sk.KID, Alg: sk.Alg, Key: pub})
	}
	return set
}

func TestKeyringRefusesUnusableSets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	noActive := localSet(t, "ES256", 2)
	noActive.Active = nil
	unpublished := localSet(t, "ES256", 2)
	unpublished.Published = unpublished.Published[1:]
	for name, src := range map[string]*fakeSource{
		"no active key":          {set: noActive},
		"active key unpublished": {set: unpublished},
		"source fails":           {err: errors.New("backend down")},
	} {
		if _, err := signing.NewKeyring(ctx, src); err == nil {
			t.Errorf("%s: NewKeyring succeeded", name)
		}
	}
}

func TestKeyringPublishesAndKeepsLastGood(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first := localSet(t, "EdDSA", 2)
	src := &fakeSource{set: first}
	ring, err := signing.NewKeyring(ctx, src, signing.WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	a := ring.Active()
	b, _ := base64.RawURLEncoding.DecodeString(a.Header)
	var h map[string]string
	if err := json.Unmarshal(b, &h); err != nil || h["alg"] != "EdDSA" || h["kid"] != a.KeyID() || h["typ"] != "at+jwt" || len(h) != 3 {
		t.Fatalf("header %s: %v", b, err)
	}
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(ring.JWKS(), &jwks); err != nil || len(jwks.Keys) != 2 {
		t.Fatalf("JWKS %s: %v", ring.JWKS(), err)
	}
	for _, k := range jwks.Keys {
		if !k.IsPublic() || k.Use != "sig" || ring.PublicKey(k.KeyID) == nil {
			t.Errorf("JWKS key %s: public %v, use %q", k.KeyID, k.IsPublic(), k.Use)
		}
	}
	if ring.PublicKey("unknown") != nil {
		t.Error("unknown kid has a key")
	}

	// A failed read keeps the last good set.
	src.put(nil, errors.New("backend down"))
	if err := ring.Reload(ctx); err == nil || ring.Active().KeyID() != a.KeyID() {
		t.Fatalf("failed reload: %v, active %s", err, ring.Active().KeyID())
	}
	// A new set is taken as a whole.
	second := localSet(t, "ES256", 1)
	src.put(second, nil)
	if err := ring.Reload(ctx); err != nil || ring.Active().KeyID() != second.Active.KeyID() || ring.PublicKey(a.KeyID()) != nil {
		t.Fatalf("reload: %v", err)
	}
	if err := ring.Close(); err != nil {
		t.Fatal(err)
	}
	ring.Close() // twice
}

func TestKeyringRefreshes(t *testing.T) {
	t.Parallel()
	src := &fakeSource{set: localSet(t, "ES256", 1)}
	ring, err := signing.NewKeyring(context.Background(), src, signing.WithRefresh(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	next := localSet(t, "ES256", 1)
	src.put(next, nil)
	testkit.WaitFor(t, "the refresh loop to pick up the new set", func() bool { return ring.Active().KeyID() == next.Active.KeyID() })
}
