package spiffe_test

import (
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/tokenbroker/tokenbroker/authn/spiffe"
	"github.com/tokenbroker/tokenbroker/authn/spiffe/spiffetest"
)

// FuzzParseBundle: any bytes from a bundle file or endpoint either parse to
// a bundle of the expected trust domain or are refused; never a panic.
func FuzzParseBundle(f *testing.F) {
	ca, err := spiffetest.NewCA("a.test")
	if err != nil {
		f.Fatal(err)
	}
	b, _ := ca.BundleJSON()
	f.Add(b)
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"use":"jwt-svid","kty":"EC","crv":"P-256","x":"","y":""}],"spiffe_refresh_hint":-1}`))
	f.Add([]byte(`{"Keys":[],"keys":[],"spiffe_sequence":18446744073709551615}`))
	td := spiffeid.RequireTrustDomainFromString("a.test")
	f.Fuzz(func(t *testing.T, data []byte) {
		bundle, err := spiffe.ParseBundle(td, data, 64<<10)
		if err != nil {
			return
		}
		if bundle.TrustDomain() != td {
			t.Fatalf("bundle of %s parsed for %s", bundle.TrustDomain(), td)
		}
	})
}

// FuzzUnverifiedSubject: any client_assertion yields a well-formed SPIFFE
// ID or an error; never a panic.
func FuzzUnverifiedSubject(f *testing.F) {
	ca, err := spiffetest.NewCA("a.test")
	if err != nil {
		f.Fatal(err)
	}
	tok, _ := ca.JWTSVID(spiffeid.RequireFromString("spiffe://a.test/w"), []string{"https://as"}, time.Minute)
	f.Add(tok)
	f.Add("e30.e30.")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJzcGlmZmU6Ly9hLnRlc3QvdyJ9.")
	f.Add(strings.Repeat("a.", 100))
	f.Fuzz(func(t *testing.T, a string) {
		id, err := spiffe.UnverifiedSubject(a)
		if err != nil {
			return
		}
		if _, err := spiffeid.FromString(id.String()); err != nil {
			t.Fatalf("subject %q is not a SPIFFE ID: %v", id, err)
		}
	})
}

// FuzzClientKey: the SPIFFE ID → client_id mapping is one-to-one: a key
// decodes to at most one ID, and that ID encodes back to the very key.
func FuzzClientKey(f *testing.F) {
	for _, s := range []string{"spiffe~a.test~w", "spiffe~a.test", "spiffe~~", "spiffe~a.test~~x", "spiffe~A.test~w", "spiffe~a.test~..", "other"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		id, err := spiffe.IDFromClientKey(key)
		if err != nil {
			return
		}
		back, ok := spiffe.ClientKey(id)
		if ok && back != key {
			t.Fatalf("%q decodes to %s, which encodes to %q", key, id, back)
		}
		if !ok && len(key) <= 128 {
			t.Fatalf("%q decodes to %s, whose key is refused", key, id)
		}
	})
}
