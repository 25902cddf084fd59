package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/backends"
	"github.com/tokenbroker/tokenbroker/backends/cache"
	"github.com/tokenbroker/tokenbroker/backends/file"
)

// A record that does not decode or validate refuses that client and is
// remembered like "not found": it is not an outage (issue 11 item 1).
func TestInvalidRecordIsNotAnOutage(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	b := &backend{val: map[string]string{"good": "v"}, invalid: map[string]bool{"bad": true}}
	c := cache.New(b.load, opts(clk))
	defer c.Close()
	ctx := context.Background()
	for range 3 {
		_, err := c.Get(ctx, "bad")
		if !errors.Is(err, backends.ErrInvalidRecord) || errors.Is(err, backends.ErrUnavailable) {
			t.Fatalf("invalid record = %v, want ErrInvalidRecord and not ErrUnavailable", err)
		}
	}
	if n := b.loads.Load(); n != 1 {
		t.Fatalf("invalid record not cached: %d loads", n)
	}
	if c.Degraded() {
		t.Fatal("one invalid record flagged the backend degraded")
	}
	// No fail-fast window: a client never seen loads normally.
	if v, err := c.Get(ctx, "good"); v != "v" || err != nil {
		t.Fatalf("other client after an invalid record = %q, %v", v, err)
	}
	// Fixed in the backend: seen after the (negative) TTL.
	b.mu.Lock()
	delete(b.invalid, "bad")
	b.val["bad"] = "fixed"
	b.mu.Unlock()
	clk.Add(3 * time.Second)
	waitFor(t, func() bool { v, _ := c.Get(ctx, "bad"); return v == "fixed" })
}

type warmer []*backends.ClientEntry

func (w warmer) WarmClients(context.Context) ([]*backends.ClientEntry, error) { return w, nil }

// WithValidator refuses what the registry would refuse, on a load and on a
// warm start, as ErrInvalidRecord.
func TestWithValidator(t *testing.T) {
	t.Parallel()
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	good := &backends.Client{ClientID: "good", TokenEndpointAuthMethod: backends.AuthClientSecretBasic, Scope: "read"}
	bad := &backends.Client{ClientID: "bad", TokenEndpointAuthMethod: backends.AuthClientSecretBasic, Scope: "read admin"}
	for _, cl := range []*backends.Client{good, bad} {
		if err := store.CreateClient(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	errAdmin := errors.New("scope admin is not allowed")
	validate := func(c *backends.Client) error {
		if c.Scope != "read" {
			return errAdmin
		}
		return nil
	}
	c := cache.NewClients(store, cache.Options{Logger: quiet()}, cache.WithValidator(validate))
	defer c.Close()
	if e, err := c.Get(ctx, "good"); err != nil || e.Client.ClientID != "good" {
		t.Fatalf("valid record = %v, %v", e, err)
	}
	_, err = c.Get(ctx, "bad")
	if !errors.Is(err, backends.ErrInvalidRecord) || !errors.Is(err, errAdmin) {
		t.Fatalf("refused record = %v, want ErrInvalidRecord wrapping the cause", err)
	}
	if c.Degraded() {
		t.Fatal("a refused record flagged the backend degraded")
	}

	w := cache.NewClients(store, cache.Options{Logger: quiet()}, cache.WithValidator(validate))
	defer w.Close()
	n, err := w.Warm(ctx, warmer{{Client: good, Secrets: &backends.SecretSet{}}, {Client: bad, Secrets: &backends.SecretSet{}}})
	if err != nil || n != 1 {
		t.Fatalf("warm = %d, %v; want 1 (the invalid record left out)", n, err)
	}
	if _, err := w.Get(ctx, "bad"); !errors.Is(err, backends.ErrInvalidRecord) {
		t.Fatalf("after warm start: %v, want ErrInvalidRecord", err)
	}
}
