package broker

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzJSONAppenders: the hand-written claims and token-response encoders
// write byte for byte what encoding/json writes, for any strings.
func FuzzJSONAppenders(f *testing.F) {
	f.Add("https://as.example", "svc", "api", "", "read write", "x5t", int64(1700000000), uint8(1))
	f.Add("i\"s\\s<>&", "\x00\u2028", "a", "b", "", "", int64(-1), uint8(2))
	f.Add("é", "\xff", "", "", "s", "", int64(0), uint8(0))
	f.Fuzz(func(t *testing.T, iss, sub, aud1, aud2, scope, x5t string, now int64, naud uint8) {
		c := &AccessTokenClaims{Issuer: iss, Subject: sub, Expiry: now + 300, IssuedAt: now, NotBefore: now, ID: sub + "j", ClientID: sub, Scope: scope}
		switch naud % 3 {
		case 1:
			c.Audience = Audience{aud1}
		case 2:
			c.Audience = Audience{aud1, aud2}
		}
		if x5t != "" {
			c.Cnf = &Confirmation{X5tS256: x5t}
		}
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendClaims(nil, c); string(got) != string(want) {
			t.Fatalf("claims\n got %s\nwant %s", got, want)
		}
		want, _ = json.Marshal(tokenResponse{AccessToken: iss, TokenType: "Bearer", ExpiresIn: now, Scope: scope})
		if got := appendTokenResponse(nil, iss, now, scope); string(got) != string(want) {
			t.Fatalf("response\n got %s\nwant %s", got, want)
		}
		if s := strings.Repeat(aud1, 2); string(appendJSONString(nil, s)) != mustJSON(t, s) {
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
