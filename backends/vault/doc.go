// Package vault is the HashiCorp Vault backend: client records, client
// secrets and the broker's signing key set in a KV version 2 mount, written
// with check-and-set so two writers never silently overwrite each other.
//
// Layout under <mount>/data/<prefix>/ (defaults: secret, tokenbroker):
//
//	clients/<client_id>   the RFC 7591 client record, one KV field per member
//	secrets/<client_id>   {"secrets":[{"hash":"sha256:…"}|{"plain":"…"}], "registration_token_hash":"…"}
//	                      or simply {"client_secret":"…"} for a team-managed secret
//	signing-keys          {"keys":[{"kid":…,"alg":…,"state":…,"private":{JWK}}]}
//
// New and Store.Transit ask Vault (sys/capabilities-self) for every
// capability the broker will use and fail start-up naming each path and
// capability the policy lacks, rather than letting the first token request
// find out. Store.Transit signs with a Transit key that never leaves Vault
// (signing source "vault-transit"); Store.PKIRoots turns the issuers of PKI
// mounts into tls_client_auth trust anchors, re-read periodically. The
// minimal policy the broker needs is in docs/backends.md (a test runs
// against exactly that policy).
//
//	auth, err := vault.AppRole(roleID, secretID, "") // "": the default mount, approle
//	s, err := vault.New(ctx, vault.Config{Address: "https://vault:8200", Auth: auth})
//	defer s.Close()
package vault
