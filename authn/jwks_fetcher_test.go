package authn_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn"
)

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "100.64.0.1": false, "0.0.0.0": false, "::": false,
		"224.0.0.1": false, "fd00::1": false, "::ffff:127.0.0.1": false, "::ffff:169.254.169.254": false,
	} {
		if got := authn.PublicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

// SSRF: by default a jwks_uri pointing at this machine is never fetched.
func TestFetcherRefusesLoopbackByDefault(t *testing.T) {
	t.Parallel()
	hit := false
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hit = true }))
	defer srv.Close()
	f := authn.NewJWKSFetcher(authn.FetcherOptions{})
	_, err := f.Get(t.Context(), "c", srv.URL+"/jwks", "")
	if err == nil || !strings.Contains(err.Error(), "non-public address") || hit {
		t.Fatalf("loopback jwks_uri: err %v, server hit %v", err, hit)
	}
	if _, err := f.Get(t.Context(), "c", "http://example.org/jwks", ""); err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("http jwks_uri: %v", err)
	}
}

func TestFetcherLimitsAndRedirects(t *testing.T) {
	t.Parallel()
	big := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"keys":[` + strings.Repeat(" ", 70<<10) + `]}`))
	}))
	defer big.Close()
	redirect := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://169.254.169.254/latest/meta-data", http.StatusFound)
	}))
	defer redirect.Close()
	pool := big.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	pool.AddCert(redirect.Certificate())
	f := authn.NewJWKSFetcher(authn.FetcherOptions{AllowPrivate: true, RootCAs: pool})
	if _, err := f.Get(t.Context(), "c", big.URL, ""); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversize response: %v", err)
	}
	if _, err := f.Get(t.Context(), "c", redirect.URL, ""); err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("redirect followed: %v", err)
	}
}

func FuzzParseAssertion(f *testing.F) {
	f.Add("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.AAAA")
	f.Add("a.b.c.d.e")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := authn.ParseAssertion(s)
		if err != nil {
			return
		}
		alg := tok.Signatures[0].Header.Algorithm
		ok := false
		for _, a := range authn.AssertionAlgs {
			ok = ok || string(a) == alg
		}
		if !ok {
			t.Fatalf("parsed an assertion with alg %q outside the allow-list", alg)
		}
	})
}
