// Package file is tokenbroker's embedded default backend: a directory of JSON
// files, one per client record and per client's secrets, plus the signing key
// set. Writes are atomic (temporary file, fsync, rename, fsync of the
// directory), serialized across processes with an advisory lock, and
// check-and-set on a content hash, so the CLI and a running broker can share
// one directory. The broker's cache re-reads records, so edits by another
// process are picked up without a restart.
//
//	store, err := file.New("/var/lib/tokenbroker")
//	defer store.Close()
//
// Layout:
//
//	clients/<client_id>.json   RFC 7591 client metadata (+ tokenbroker fields)
//	secrets/<client_id>.json   {"secrets":[{"hash":"sha256:…"}], "registration_token_hash":"…"}
//	signing-keys.json          {"keys":[{"kid":…,"alg":…,"state":"active","private":{JWK}}]}
package file
