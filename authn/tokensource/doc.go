// Package tokensource is the client side of tokenbroker: an
// oauth2.TokenSource that gets client-credentials tokens with mutual TLS,
// private_key_jwt or a client secret, caches them, refreshes them ahead of
// expiry (single-flight) and retries server errors with backoff; and an
// *http.Client that presents the same client certificate to the API as to the
// broker — so certificate-bound tokens work — and fetches a new token after a
// 401 invalid_token. With Config.DPoP it holds a DPoP key and gets
// DPoP-bound tokens (RFC 9449), sending a fresh proof to the broker and with
// every API call and following use_dpop_nonce once at each (dpop.go).
// Credentials go only where they were set up to go: the
// token request follows no redirect, and the API client adds the token only
// to the origin the caller addressed, never to a redirect to another one.
//
//	src, err := tokensource.New(tokensource.Config{
//		TokenURL:    "https://auth.example.com/token",
//		ClientID:    "payments",
//		Certificate: &cert, // tls_client_auth
//		RootCAs:     pool,
//	})
//	api := src.Client()
//	resp, err := api.Get("https://api.example.com/orders")
package tokensource
