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

// A trust domain whose source keeps failing is trusted on its last good
// bundle only for max_stale: past it the domain is refused (and Status still
// answers), so an authority removed upstream — a compromised CA dropped from
// a bundle the broker can no longer fetch — does not stay trusted forever
// (noticed by review revspiffe). A good load trusts the domain again.
func TestLastGoodBundleHasAMaximumAge(t *testing.T) {
	t.Parallel()
	ca, _ := spiffetest.NewCA("a.test")
	f := filepath.Join(t.TempDir(), "a.json")
	b, _ := ca.BundleJSON()
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(time.Now())
	tds, err := spiffe.New(context.Background(), []spiffe.Domain{{TrustDomain: ca.TD, BundleFile: f}},
		spiffe.WithRefresh(time.Hour, time.Hour), spiffe.WithMaxStale(2*time.Hour), spiffe.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer tds.Close()
	if err := os.Remove(f); err != nil { // the source fails from now on
		t.Fatal(err)
	}
	if err := tds.Refresh(context.Background(), ca.TD); err == nil {
		t.Fatal("refresh of a missing bundle file succeeded")
	}
	clock.Advance(time.Hour)
	if _, err := tds.GetX509BundleForTrustDomain(ca.TD); err != nil {
		t.Fatalf("last good bundle within max_stale refused: %v", err)
	}
	clock.Advance(90 * time.Minute)
	if _, err := tds.GetX509BundleForTrustDomain(ca.TD); err == nil {
		t.Fatal("a bundle 2h30m old, past max_stale 2h, still trusted (X.509)")
	}
	if _, err := tds.GetJWTBundleForTrustDomain(ca.TD); err == nil {
		t.Fatal("a bundle past max_stale still trusted (JWT)")
	}
	if st := tds.Status(); len(st) != 1 || st[0].Age < 2*time.Hour || st[0].X509Authorities != 1 {
		t.Fatalf("status of a stale domain: %+v", st)
	}
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := tds.Refresh(context.Background(), ca.TD); err != nil {
		t.Fatal(err)
	}
	if _, err := tds.GetX509BundleForTrustDomain(ca.TD); err != nil {
		t.Fatalf("after a good load: %v", err)
	}
}
