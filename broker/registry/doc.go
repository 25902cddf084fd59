// Package registry keeps the client records in a backend: RFC 7591
// registration (Create), RFC 7592 reads, updates and deletes, secret
// rotation, and the checks every record passes — strict metadata decoding
// (DecodeMetadata: exact member names, bounded size, reserved members
// refused), validation (Validate, whose refusals are *MetadataError, RFC 7591
// §3.2.2), and the operator ceiling: a client's own update (SelfUpdate) may
// narrow what the operator granted, never widen it. The broker's HTTP
// registration endpoints and the CLI both write through one Registry; the
// broker also validates every record it loads with Validate.
//
//	reg := registry.New(store, registry.Config{Methods: []string{"client_secret_basic"}})
//	r, err := reg.Create(ctx, &backends.Client{ClientID: "billing", Scope: "read"}, registry.WithRegistrationToken())
//	// r.Secret and r.RegistrationToken are shown once; the store keeps their hashes.
//	md, err := registry.DecodeMetadata(body) // untrusted JSON
//	r, err = reg.SelfUpdate(ctx, "billing", md) // within the ceiling
package registry
