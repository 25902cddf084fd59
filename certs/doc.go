// Package certs holds tokenbroker's X.509 helpers: the RFC 8705 §3.1
// certificate thumbprint, PEM loading, and a small certificate authority used
// by dev mode and tests to issue server and client certificates. Behind a
// TLS-terminating proxy, ProxyExtractor reads the client certificate and the
// client address (ClientAddr) that trusted proxies forward.
//
//	ca, err := certs.NewCA("tokenbroker dev client CA", 365*24*time.Hour)
//	certPEM, keyPEM, err := ca.Issue(certs.Leaf{CommonName: "payments", URIs: []string{"spiffe://example.org/ns/payments/sa/api"}, Client: true})
//	x5t := certs.Thumbprint(leaf) // for cnf.x5t#S256
package certs
