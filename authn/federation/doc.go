// Package federation is federated client authentication: a workload
// presents the token its platform issued it — a Kubernetes projected
// service-account token, a CI system's OIDC token, any OIDC issuer's — as
// an RFC 7523 §2.2 jwt-bearer client assertion, and the broker verifies it
// against an issuer the operator configured (never one a client names).
//
// The method (backends.AuthFederatedJWT, "federated_jwt") is picked by the
// assertion's iss: an iss naming a configured issuer makes it this
// method's and never private_key_jwt's (authn.IssuerMethod), so exactly one
// method applies. Per issuer: the issuer URL, its keys by discovery or an
// explicit jwks_uri (through authn's JWKS fetcher: HTTPS, timeout, size
// limit, negative cache, public addresses only unless that issuer allows
// private ones), the required audience, the maximum token age, required
// claims with exact values, the allowed algorithms.
//
// The request names a registered client with client_id; the client's
// federated_subject must be exactly the token's {iss, sub}. Without a
// client_id, the verified claims may match a client template
// (authn/template), and the workload gets that template's client with the
// identity iss#sub as its client_id.
//
//	m, err := federation.New(federation.Config{Issuers: []federation.IssuerConfig{{
//		Issuer:   "https://kubernetes.default.svc.cluster.local",
//		Audience: "https://broker.example",
//		RequiredClaims: map[string]string{"kubernetes.io.namespace": "payments"},
//	}}})
//	// add m to the broker's authentication methods
//
// ParseClaims is the strict claims parser (no duplicate or case-variant
// members, bounded depth and size); Claims.Lookup resolves dotted claim
// paths whose member names may contain dots ("kubernetes.io.namespace").
package federation
