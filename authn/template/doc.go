// Package template maps workload identities the broker did not register —
// SPIFFE IDs and federated issuers' verified claims — to operator-configured
// client templates (scopes, audiences, lifetime, bound tokens), so that a
// fleet of workloads needs no client record each.
//
// Patterns are exact-segment globs (Pattern, SPIFFEPattern): "*" stands for
// one whole segment between "/" or ":" separators, never for part of one,
// never for several; no regular expressions. New refuses a Set in which two
// templates overlap (Overlap: some identity matches both), so at most one
// template ever matches. A template that could match the identity of a
// registered client (Identities: its SPIFFE URI SAN or federated subject) is
// refused at start (NewIndex) and, for clients registered later, at request
// time (Source.Workload, and the federated method through Index.Registered):
// the request is refused as ambiguous — never resolved to either.
//
// Source wraps the client cache for the Authenticator (authn.WorkloadSource):
// a SPIFFE ID that no registry can hold as a client_id resolves to its
// template's synthesized client (Template.Entry), whose client_id — and so
// the token's sub and client_id — is the SPIFFE ID itself.
//
//	set, err := template.New([]template.Template{{
//		Name: "payments", SPIFFEID: "spiffe://prod.example/ns/payments/sa/*",
//		Method: "spiffe_x509", Scope: []string{"payments:read"},
//		Audiences: []string{"https://payments.example"},
//	}})
//	index, err := template.NewIndex(ctx, set, store, log, 0)
//	source := template.NewSource(clientCache, set, index)
package template
