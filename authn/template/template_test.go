package template_test

import (
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn/template"
	"github.com/tokenbroker/tokenbroker/backends"
)

func TestPattern(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "*", "*:*", "a::b", "a/", "/a", "pay*", "a/*b", "a b", "a\tb", strings.Repeat("a/", 70) + "a", strings.Repeat("a", 600), "\xff"} {
		if _, err := template.ParsePattern(bad); err == nil {
			t.Errorf("ParsePattern(%q) accepted", bad)
		}
	}
	p, err := template.ParsePattern("system:serviceaccount:*:deployer")
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]bool{
		"system:serviceaccount:prod:deployer":      true,
		"system:serviceaccount::deployer":          false, // empty segment
		"system:serviceaccount:a:b:deployer":       false, // * is one segment
		"system:serviceaccount:a/b:deployer":       false, // other separator inside
		"system:serviceaccount:prod:deployer2":     false,
		"System:serviceaccount:prod:deployer":      false, // exact, case-sensitive
		"system:serviceaccount:prod:deployer:x":    false,
		"system:serviceaccount:prod/deployer":      false,
		"repo:system:serviceaccount:prod:deployer": false,
	} {
		if got := p.Match(v); got != want {
			t.Errorf("Match(%q) = %v, want %v", v, got, want)
		}
	}
	ov := func(a, b string) bool {
		pa, _ := template.ParsePattern(a)
		pb, _ := template.ParsePattern(b)
		return pa.Overlaps(pb)
	}
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"ns/*/sa/x", "ns/payments/sa/*", true},
		{"ns/*/sa/x", "ns/*/sa/y", false},
		{"ns/*/sa/x", "ns/*/sa/x/y", false},
		{"a:b", "a/b", false},
		{"repo:octo/*:ref:*", "repo:*/app:ref:refs", true}, // repo:octo/app:ref:refs
		{"repo:octo/*:ref:*", "repo:*/app:ref:refs/heads/main", false},
		{"repo:octo/*:ref:refs/heads/main", "repo:*/app:ref:refs/heads/*", true},
	} {
		if got := ov(tc.a, tc.b); got != tc.want {
			t.Errorf("Overlaps(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSPIFFEPattern(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"spiffe://prod.example", "spiffe://prod.example/", "spiffe://*/ns/x", "spiffe://Prod.example/ns", "https://prod.example/ns", "spiffe://prod.example/ns/../x", "spiffe://prod.example/ns:x", "spiffe://prod.example/ns/pay*", "spiffe://prod.example/*"} {
		if _, err := template.ParseSPIFFEPattern(bad); err == nil && bad != "spiffe://prod.example/*" {
			t.Errorf("ParseSPIFFEPattern(%q) accepted", bad)
		}
	}
	p, err := template.ParseSPIFFEPattern("spiffe://prod.example/ns/*/sa/api")
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]bool{
		"spiffe://prod.example/ns/payments/sa/api":   true,
		"spiffe://other.example/ns/payments/sa/api":  false,
		"spiffe://prod.example/ns/payments/sa/api/x": false,
		"spiffe://prod.example/ns/a/b/sa/api":        false,
		"spiffe://prod.example.evil/ns/x/sa/api":     false,
	} {
		if got := p.Match(v); got != want {
			t.Errorf("Match(%q) = %v, want %v", v, got, want)
		}
	}
}

type claims map[string]string

func (c claims) Lookup(p string) (string, bool) { v, ok := c[p]; return v, ok }

func TestSetOverlapsAndConflicts(t *testing.T) {
	t.Parallel()
	base := func(name string) template.Template {
		return template.Template{Name: name, Scope: []string{"read"}, Audiences: []string{"https://api.example"}}
	}
	spiffe := func(name, pat string) template.Template {
		tp := base(name)
		tp.SPIFFEID, tp.Method = pat, "spiffe_x509"
		return tp
	}
	fed := func(name, iss string, c map[string]string) template.Template {
		tp := base(name)
		tp.Issuer, tp.Claims = iss, c
		return tp
	}
	const k8s = "https://kube.example"
	for name, ts := range map[string][]template.Template{
		"spiffe overlap":        {spiffe("a", "spiffe://td/ns/*/sa/api"), spiffe("b", "spiffe://td/ns/payments/sa/*")},
		"claims overlap":        {fed("a", k8s, map[string]string{"sub": "system:serviceaccount:*:api"}), fed("b", k8s, map[string]string{"sub": "system:serviceaccount:prod:*"})},
		"disjoint claim names":  {fed("a", k8s, map[string]string{"sub": "system:serviceaccount:prod:api"}), fed("b", k8s, map[string]string{"kubernetes.io.namespace": "prod"})},
		"duplicate name":        {spiffe("a", "spiffe://td/x"), spiffe("a", "spiffe://td/y")},
		"both kinds":            {func() template.Template { x := spiffe("a", "spiffe://td/x"); x.Issuer = k8s; return x }()},
		"no claims":             {fed("a", k8s, nil)},
		"bad claim path":        {fed("a", k8s, map[string]string{"a..b": "x"})},
		"partial wildcard":      {fed("a", k8s, map[string]string{"sub": "system:serviceaccount:pay*:api"})},
		"spiffe without method": {func() template.Template { x := spiffe("a", "spiffe://td/x"); x.Method = ""; return x }()},
		"spiffe, not a SPIFFE method": {func() template.Template {
			x := spiffe("a", "spiffe://td/x")
			x.Method = "tls_client_auth"
			return x
		}()},
		"no scope": {func() template.Template { x := spiffe("a", "spiffe://td/x"); x.Scope = nil; return x }()},
		"federated wrong method": {func() template.Template {
			x := fed("a", k8s, map[string]string{"sub": "x"})
			x.Method = "private_key_jwt"
			return x
		}()},
	} {
		if _, err := template.New(ts); err == nil {
			t.Errorf("%s: New accepted %+v", name, ts)
		}
	}
	set, err := template.New([]template.Template{
		spiffe("payments", "spiffe://td/ns/payments/sa/*"),
		spiffe("billing", "spiffe://td/ns/billing/sa/*"),
		fed("deployers", k8s, map[string]string{"sub": "system:serviceaccount:*:deployer", "kubernetes.io.namespace": "prod"}),
		fed("staging", k8s, map[string]string{"kubernetes.io.namespace": "staging"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if tp, ok := set.MatchSPIFFE("spiffe://td/ns/payments/sa/api"); !ok || tp.Name != "payments" {
		t.Fatalf("MatchSPIFFE = %v %v", tp, ok)
	}
	if tp, ok := set.MatchClaims(k8s, claims{"sub": "system:serviceaccount:prod:deployer", "kubernetes.io.namespace": "prod"}); !ok || tp.Name != "deployers" {
		t.Fatalf("MatchClaims = %v %v", tp, ok)
	}
	if _, ok := set.MatchClaims(k8s, claims{"sub": "system:serviceaccount:prod:deployer"}); ok {
		t.Fatal("a token missing a constrained claim matched")
	}
	if _, ok := set.MatchClaims("https://other.example", claims{"sub": "system:serviceaccount:prod:deployer", "kubernetes.io.namespace": "prod"}); ok {
		t.Fatal("another issuer's token matched")
	}
	for id, want := range map[string]string{
		"spiffe://td/ns/payments/sa/api":                                                "payments",
		template.FederatedIdentity(k8s, "system:serviceaccount:x:deployer"):             "deployers",
		template.FederatedIdentity(k8s, "system:serviceaccount:x:other"):                "staging", // no sub pattern: can match
		template.FederatedIdentity("https://other", "system:serviceaccount:x:deployer"): "",
		"spiffe://td/ns/ops/sa/api":                                                     "",
	} {
		tp, ok := set.Conflict(id)
		if got := map[bool]string{true: "", false: ""}[ok]; ok {
			got = tp.Name
			if got != want {
				t.Errorf("Conflict(%q) = %q, want %q", id, got, want)
			}
		} else if want != "" {
			t.Errorf("Conflict(%q) = none, want %q", id, want)
		}
	}
	e := set.Templates()[0].Entry("spiffe://td/ns/payments/sa/api")
	if e.Template != "payments" || e.Client.ClientID != "spiffe://td/ns/payments/sa/api" || e.Client.DefaultAudience != "https://api.example" || e.Client.TokenEndpointAuthMethod != "spiffe_x509" {
		t.Fatalf("Entry = %+v", e.Client)
	}
	if got := template.Identities(&backends.Client{TLSClientAuthSANURI: "spiffe://td/x", FederatedSubject: &backends.FederatedSubject{Issuer: k8s, Subject: "s"}}); len(got) != 2 {
		t.Fatalf("Identities = %v", got)
	}
	if got := template.Identities(&backends.Client{ClientID: "spiffe~td~ns~payments~sa~api"}); len(got) != 1 || got[0] != "spiffe://td/ns/payments/sa/api" {
		t.Fatalf("Identities of a registered SPIFFE client = %v", got)
	}
}

// FuzzPattern: whatever parses, a value matching two patterns means they
// overlap (Overlaps is never too narrow — what the configuration check
// relies on), and a pattern matches its own literal instances.
func FuzzPattern(f *testing.F) {
	for _, s := range []string{"system:serviceaccount:*:api", "ns/*/sa/x", "repo:octo/app:ref:refs/heads/main", "a", "*:b"} {
		f.Add(s, "system:serviceaccount:prod:api", "ns/x/sa/x")
	}
	f.Fuzz(func(t *testing.T, a, b, v string) {
		pa, errA := template.ParsePattern(a)
		pb, errB := template.ParsePattern(b)
		if errA != nil || errB != nil {
			if errA == nil && !pa.Match(strings.ReplaceAll(a, "*", "w")) {
				t.Fatalf("%q does not match its own instance", a)
			}
			return
		}
		if pa.Match(v) && pb.Match(v) && !pa.Overlaps(pb) {
			t.Fatalf("%q matches %q and %q, yet they do not overlap", v, a, b)
		}
		if pa.Overlaps(pb) != pb.Overlaps(pa) {
			t.Fatalf("Overlaps is not symmetric for %q, %q", a, b)
		}
	})
}

// FuzzSPIFFEPattern: a parsed pattern never matches an ID of another trust
// domain, and matching agrees with overlapping.
func FuzzSPIFFEPattern(f *testing.F) {
	f.Add("spiffe://prod.example/ns/*/sa/api", "spiffe://prod.example/ns/payments/sa/api")
	f.Add("spiffe://td/a/b", "spiffe://td.evil/a/b")
	f.Fuzz(func(t *testing.T, pat, id string) {
		p, err := template.ParseSPIFFEPattern(pat)
		if err != nil {
			return
		}
		if p.Match(id) && !strings.HasPrefix(id, "spiffe://"+p.TrustDomain()+"/") {
			t.Fatalf("%q matched %q outside its trust domain", pat, id)
		}
		if p.Match(id) {
			q, err := template.ParseSPIFFEPattern(id)
			if err == nil && !p.Overlaps(q) {
				t.Fatalf("%q matches %q but does not overlap it", pat, id)
			}
		}
	})
}
