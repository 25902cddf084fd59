// Package spiffetest is a small SPIFFE trust domain for tests and the dev
// mode: a CA that issues X.509-SVIDs and JWT-SVIDs, its bundle, and a bundle
// endpoint served over TLS (https_web or https_spiffe). Everything is made
// with the standard library, go-jose and go-spiffe. It is not a SPIRE: for
// the real thing see spiretest.
//
//	ca, err := spiffetest.NewCA("prod.example")
//	svid, err := ca.X509SVID(spiffeid.RequireFromString("spiffe://prod.example/api"), time.Hour)
//	jwt, err := ca.JWTSVID(spiffeid.RequireFromString("spiffe://prod.example/api"), []string{issuer}, 5*time.Minute)
//	b := ca.Bundle() // *spiffebundle.Bundle, X.509 and JWT authorities
package spiffetest
