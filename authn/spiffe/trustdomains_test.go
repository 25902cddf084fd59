package spiffe_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/authn/spiffe/spiffetest"
	"github.com/tokenbroker/tokenbroker/internal/testkit"
)

// TestRefreshHintCeiling: a bundle asking to be refreshed once a day is
// refreshed at the configured ceiling; the new bundle is picked up on its
// own, and Status reports it.
func TestRefreshHintCeiling(t *testing.T) {
	t.Parallel()
	ca, _ := spiffetest.NewCA("a.test")
	ca.SetRefreshHint(24 * time.Hour)
	f := filepath.Join(t.TempDir(), "a.json")
	write := func() {
		b, _ := ca.BundleJSON()
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write()
	tds, err := spiffe.New(context.Background(), []spiffe.Domain{{TrustDomain: ca.TD, BundleFile: f}}, spiffe.WithRefresh(10*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer tds.Close()
	_ = ca.Rotate()
	write()
	testkit.WaitFor(t, "the rotated bundle", func() bool {
		b, _ := tds.Bundle(ca.TD)
		return len(b.X509Authorities()) == 2
	})
	st := tds.Status()
	if len(st) != 1 || st[0].TrustDomain != "a.test" || st[0].X509Authorities != 2 || st[0].JWTAuthorities != 2 {
		t.Fatalf("status %+v", st)
	}
}

// TestNewRefuses: configurations New refuses, and a first bundle that
// cannot be loaded.
func TestNewRefuses(t *testing.T) {
	t.Parallel()
	ca, _ := spiffetest.NewCA("a.test")
	other, _ := spiffetest.NewCA("b.test")
	dir := t.TempDir()
	ob, _ := other.BundleJSON()
	wrongTD := filepath.Join(dir, "b.json")
	_ = os.WriteFile(wrongTD, ob, 0o600)
	ctx := context.Background()
	for name, d := range map[string][]spiffe.Domain{
		"no source":           {{TrustDomain: ca.TD}},
		"two sources":         {{TrustDomain: ca.TD, BundleFile: wrongTD, WorkloadAPI: "unix:///x"}},
		"missing file":        {{TrustDomain: ca.TD, BundleFile: filepath.Join(dir, "absent.json")}},
		"twice":               {{TrustDomain: other.TD, BundleFile: wrongTD}, {TrustDomain: other.TD, BundleFile: wrongTD}},
		"http endpoint":       {{TrustDomain: ca.TD, Endpoint: &spiffe.Endpoint{URL: "http://127.0.0.1/b", Profile: spiffe.ProfileWeb}}},
		"spiffe without ID":   {{TrustDomain: ca.TD, Endpoint: &spiffe.Endpoint{URL: "https://127.0.0.1/b", Profile: spiffe.ProfileSPIFFE, Initial: ca.Bundle()}}},
		"unknown profile":     {{TrustDomain: ca.TD, Endpoint: &spiffe.Endpoint{URL: "https://127.0.0.1/b", Profile: "https"}}},
		"unreachable address": {{TrustDomain: ca.TD, WorkloadAPI: "unix:///nonexistent/agent.sock"}},
		"nothing":             nil,
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if tds, err := spiffe.New(ctx, d, spiffe.WithTimeout(time.Second)); err == nil {
				tds.Close()
				t.Fatal("accepted")
			}
		})
	}
}
