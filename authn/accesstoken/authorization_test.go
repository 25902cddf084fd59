package accesstoken_test

import (
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
)

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		h, scheme, token string
		ok               bool
	}{
		{"Bearer abc.def-ghi_jkl~mno+pqr/stu==", "Bearer", "abc.def-ghi_jkl~mno+pqr/stu==", true},
		{"bEaReR x", "bEaReR", "x", true}, // RFC 9110 §11.1: case-insensitive, returned as written
		{"DPoP eyJ.eyJ.sig", "DPoP", "eyJ.eyJ.sig", true},
		{"Bearer   x", "Bearer", "x", true}, // 1*SP
		{"Basic dXNlcjpwYXNz", "Basic", "dXNlcjpwYXNz", true},
		{"Bearer", "Bearer", "", false}, // no credentials
		{"Bearer ", "Bearer", "", false},
		{"Bearer a b", "Bearer", "", false}, // two tokens
		{"Bearer a\tb", "Bearer", "", false},
		{"Bearer a=b", "Bearer", "", false}, // "=" only at the end
		{"Bearer ==", "Bearer", "", false},
		{"Bearer a,b", "Bearer", "", false},
		{"Bearer realm=\"x\"", "Bearer", "", false}, // auth-params are not a token
		{"Bearer x ", "Bearer", "", false},
		{"Bearer\tx", "", "", false}, // SP, not HTAB, after the scheme
		{" Bearer x", "", "", false},
		{"", "", "", false},
		{"Bea(rer x", "", "", false},
		{"Bearer é", "Bearer", "", false},
		{"Bearer x\x00", "Bearer", "", false},
	} {
		scheme, token, ok := accesstoken.ParseAuthorization(tc.h)
		if scheme != tc.scheme || token != tc.token || ok != tc.ok {
			t.Errorf("ParseAuthorization(%q) = %q, %q, %v; want %q, %q, %v", tc.h, scheme, token, ok, tc.scheme, tc.token, tc.ok)
		}
	}
}

// FuzzParseAuthorization: what parses is exactly scheme, spaces, token68;
// the parts are substrings of the header and carry no white space or
// separators a later split could disagree about.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer abc", "DPoP a.b.c", "Basic dXNlcjpwYXNz", "Bearer a b", "Bearer  x==", "bearer", "", "Bearer =", "x y=z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		scheme, token, ok := accesstoken.ParseAuthorization(h)
		if !strings.HasPrefix(h, scheme) {
			t.Fatalf("scheme %q is not the start of %q", scheme, h)
		}
		if !ok {
			if token != "" {
				t.Fatalf("a token %q without ok", token)
			}
			return
		}
		if scheme == "" || token == "" || !strings.HasSuffix(h, token) || strings.TrimSpace(h[len(scheme):len(h)-len(token)]) != "" {
			t.Fatalf("%q parsed as %q, %q", h, scheme, token)
		}
		if strings.ContainsAny(scheme+token, " \t\r\n,;\"\\") || strings.Contains(strings.TrimRight(token, "="), "=") {
			t.Fatalf("separator in %q / %q", scheme, token)
		}
	})
}

// The claims' views for a handler: scopes split as RFC 6749 §3.3 lists
// them, the certificate thumbprint only when bound.
func TestClaimsViews(t *testing.T) {
	t.Parallel()
	c := &accesstoken.Claims{Scope: "read  write"}
	if got := c.Scopes(); len(got) != 2 || got[0] != "read" || got[1] != "write" {
		t.Fatalf("Scopes() = %q", got)
	}
	if !c.HasScope("write") || c.HasScope("rea") || c.HasScope("") || c.CertThumbprint() != "" {
		t.Fatalf("HasScope/CertThumbprint wrong for %+v", c)
	}
	c.Cnf = &accesstoken.Confirmation{X5tS256: "abc"}
	if c.CertThumbprint() != "abc" {
		t.Fatalf("CertThumbprint() = %q", c.CertThumbprint())
	}
}
