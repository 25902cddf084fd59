package broker

import (
	"encoding/json"
	"testing"
)

// FuzzTokenResponse: the hand-written token-response encoder writes byte for
// byte what encoding/json writes, for any strings. (The claims encoder's
// target is authn/accesstoken's FuzzJSONAppenders.)
func FuzzTokenResponse(f *testing.F) {
	f.Add("eyJ.a.b", "read write", int64(300))
	f.Add("i\"s\\s<>&", "\x00\u2028", int64(-1))
	f.Add("é", "\xff", int64(0))
	f.Fuzz(func(t *testing.T, token, scope string, expiresIn int64) {
		typ := "Bearer"
		if expiresIn%2 == 0 {
			typ = "DPoP" // RFC 9449 §5
		}
		want, err := json.Marshal(tokenResponse{AccessToken: token, TokenType: typ, ExpiresIn: expiresIn, Scope: scope})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendTokenResponse(nil, token, typ, expiresIn, scope); string(got) != string(want) {
			t.Fatalf("response\n got %s\nwant %s", got, want)
		}
	})
}
