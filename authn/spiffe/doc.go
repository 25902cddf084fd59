// Package spiffe authenticates SPIFFE workloads at the token endpoint with
// the SVIDs their platform issues them (draft-ietf-oauth-spiffe-client-auth-02):
// an X.509-SVID over mutual TLS (method spiffe_x509) or a JWT-SVID as a
// jwt-spiffe client assertion (method spiffe_jwt). No client holds a secret.
//
// TrustDomains holds the bundles (X.509 and JWT authorities) of the trust
// domains the operator configured — never one a client names — each from one
// source: a SPIFFE bundle endpoint (https_web or https_spiffe profile, SPIFFE
// Federation §5), a local bundle file, or the SPIFFE Workload API. The
// constructor waits for every domain's first good bundle; then each is
// refreshed in the background (per its spiffe_refresh_hint, within a floor
// and a ceiling) and the last good bundle is kept, and logged, when a
// refresh fails. Verification is go-spiffe's (x509svid.Verify,
// jwtsvid.ParseAndValidate): nothing here parses a certificate, a bundle or
// a JWT by hand.
//
// The methods' identity is the SPIFFE ID. Clients maps it to the record of a
// registered client (ClientKey: spiffe://td/a/b is stored as spiffe~td~a~b,
// a client_id every backend can hold) and passes any other id through.
//
//	tds, err := spiffe.New(ctx, []spiffe.Domain{{
//		TrustDomain: spiffeid.RequireTrustDomainFromString("prod.example"),
//		Endpoint:    &spiffe.Endpoint{URL: "https://spire.prod.example:8443", Profile: spiffe.ProfileWeb},
//	}}, spiffe.WithLogger(log))
//	defer tds.Close()
//	x509m := spiffe.X509SVID(tds)
//	jwtm, err := spiffe.JWTSVID(tds, spiffe.JWTConfig{Issuer: "https://broker.example"})
//	a, err := authn.New(spiffe.Clients(clientCache), []authn.Method{x509m, jwtm})
package spiffe
