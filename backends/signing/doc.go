// Package signing is how the broker signs access tokens: one Manager
// interface over wherever the signing keys live, the algorithms a local key
// can sign with, and the Keyring that holds the current Set for the token
// endpoint and the JWKS.
//
// Sources: Local — a key set (backends.KeySet) in any backend's KeyStore,
// private keys held by the broker — is built in; backends register the
// sources they hold themselves (vault: "vault-transit", awssm:
// "aws-version-stages") and Open picks one by name:
//
//	m, err := signing.Open(ctx, store, signing.Options{Source: "local", Alg: "ES256",
//		PublishDelay: 5 * time.Minute, MaxLifetime: 15 * time.Minute})
//	if _, err := m.Ensure(ctx); err != nil { … }
//	ring, err := signing.NewKeyring(ctx, m, signing.WithRefresh(time.Minute), signing.WithType("at+jwt"))
//	defer ring.Close()
//	active := ring.Active() // active.Header + "." + payload, signed by active.Signer
//
// Adding an algorithm is one entry in alg.go; adding a source is an
// implementation of Manager that registers itself with Register.
package signing
