// Package certs holds tokenbroker's X.509 helpers: the RFC 8705 §3.1
// certificate thumbprint, PEM loading, DN and SAN matching, CRLs, and a
// small certificate authority used by dev mode and tests to issue server and
// client certificates. FromRequest is the one place that reads the
// certificate a request's caller presented — from the TLS handshake, or from
// a trusted proxy's header (ProxyExtractor; a header from any other peer is
// refused) — for the token endpoint and the resource middleware alike, as a
// Presented: the chain with its hash and thumbprint, derived once per TLS
// connection when the server's ConnContext is ConnContext. Behind a
// TLS-terminating proxy, ProxyExtractor also reads the client address
// (ClientAddr) that trusted proxies forward. Reloader re-reads the files a
// value was loaded from (server certificate, CA bundles) when they change.
//
//	ca, err := certs.NewCA("tokenbroker dev client CA", 365*24*time.Hour)
//	certPEM, keyPEM, err := ca.Issue(certs.Leaf{CommonName: "payments", URIs: []string{"spiffe://example.org/ns/payments/sa/api"}, Client: true})
//	x5t := certs.Thumbprint(leaf) // for cnf.x5t#S256
//
//	srv := &http.Server{Handler: h, ConnContext: certs.ConnContext} // a chain is derived once per connection
//	p, err := certs.FromRequest(r, proxy)                         // nil, nil: no certificate presented
package certs
