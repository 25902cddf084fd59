package tokensource_test

import (
	"crypto/tls"

	"github.com/tokenbroker/tokenbroker/authn/tokensource"
)

// A client authenticating with its certificate (tls_client_auth) calls an
// API that checks the token's certificate binding.
func ExampleNew() {
	cert, err := tls.LoadX509KeyPair("payments.pem", "payments-key.pem")
	if err != nil {
		return // (no files in this example)
	}
	src, err := tokensource.New(tokensource.Config{TokenURL: "https://auth.example.com/token", ClientID: "payments", Certificate: &cert, Scopes: []string{"orders:read"}})
	if err != nil {
		panic(err)
	}
	resp, err := src.Client().Get("https://api.example.com/orders")
	if err == nil {
		resp.Body.Close()
	}
}
