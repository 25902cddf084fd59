package accesstoken_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tokenbroker/tokenbroker/authn/accesstoken"
	"github.com/tokenbroker/tokenbroker/internal/jsonappend"
)

// FuzzJSONAppenders: the hand-written claims encoder writes byte for byte
// what encoding/json writes, for any strings. (The token response's is
// broker's FuzzTokenResponse.)
func FuzzJSONAppenders(f *testing.F) {
	f.Add("https://as.example", "svc", "api", "", "read write", "x5t", int64(1700000000), uint8(1))
	f.Add("i\"s\\s<>&", "\x00\u2028", "a", "b", "", "", int64(-1), uint8(2))
	f.Add("é", "\xff", "", "", "s", "", int64(0), uint8(0))
	f.Add("https://as.example", "svc", "api", "", "read", "", int64(1700000000), uint8(5))
	f.Add("https://as.example", "svc", "api", "", "read", "x5t", int64(1700000000), uint8(6))
	f.Fuzz(func(t *testing.T, iss, sub, aud1, aud2, scope, x5t string, now int64, naud uint8) {
		c := &accesstoken.Claims{Issuer: iss, Subject: sub, Expiry: now + 300, IssuedAt: now, NotBefore: now, ID: sub + "j", ClientID: sub, Scope: scope}
		switch naud % 3 {
		case 1:
			c.Audience = accesstoken.Audience{aud1}
		case 2:
			c.Audience = accesstoken.Audience{aud1, aud2}
		}
		if x5t != "" || naud&4 != 0 {
			c.Cnf = &accesstoken.Confirmation{X5tS256: x5t}
			if naud&4 != 0 {
				c.Cnf.JKT = scope + "jkt" // with and without x5t#S256
			}
		}
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := accesstoken.AppendClaims(nil, c); string(got) != string(want) {
			t.Fatalf("claims\n got %s\nwant %s", got, want)
		}
		if s := strings.Repeat(aud1, 2); string(jsonappend.String(nil, s)) != mustJSON(t, s) {
			t.Fatalf("string %q", s)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAudienceJSON: one audience is a string, several an array (RFC 7519 §4.1.3); both read back.
func TestAudienceJSON(t *testing.T) {
	for _, tc := range []struct {
		aud  accesstoken.Audience
		want string
	}{
		{accesstoken.Audience{"a"}, `"a"`},
		{accesstoken.Audience{"a", "b"}, `["a","b"]`},
	} {
		b, err := json.Marshal(tc.aud)
		if err != nil || string(b) != tc.want {
			t.Fatalf("marshal %v: %s %v", tc.aud, b, err)
		}
		var back accesstoken.Audience
		if err := json.Unmarshal(b, &back); err != nil || strings.Join(back, ",") != strings.Join(tc.aud, ",") {
			t.Fatalf("unmarshal %s: %v %v", b, back, err)
		}
	}
	var a accesstoken.Audience
	if err := json.Unmarshal([]byte(`1`), &a); err == nil {
		t.Fatal("a number is not an audience")
	}
}
