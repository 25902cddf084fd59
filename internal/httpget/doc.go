// Package httpget is the one bounded HTTP GET of documents the broker
// fetches from elsewhere (a CRL of RFC 5280 §4.2.1.13, a SPIFFE bundle of
// SPIFFE Trust Domain and Bundle §5.2): a 200 answer, a body of at most a
// given size, read whole. The caller owns the client (timeouts, TLS,
// redirect and address rules) and parses the bytes.
//
//	b, err := httpget.Get(ctx, client, u, 1<<20)
package httpget
