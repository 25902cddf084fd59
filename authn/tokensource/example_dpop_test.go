package tokensource_test

import (
	"github.com/tokenbroker/tokenbroker/authn/tokensource"
)

// A job without a client certificate gets DPoP-bound tokens (RFC 9449): the
// Source makes and holds the key, and its client proves possession with
// every call.
func ExampleDPoP() {
	src, err := tokensource.New(tokensource.Config{TokenURL: "https://auth.example.com/token", ClientID: "nightly-report",
		Secret: "…", Scopes: []string{"orders:read"}, DPoP: &tokensource.DPoP{}})
	if err != nil {
		panic(err)
	}
	resp, err := src.Client().Get("https://api.example.com/orders")
	if err == nil {
		resp.Body.Close()
	}
}
