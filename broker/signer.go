package broker

import "github.com/tokenbroker/tokenbroker/backends"

// Signer is the signing seam: a local key (backends.NewLocalSigner), Vault
// Transit in backends/vault, version-staged keys in backends/awssm.
type Signer = backends.Signer

var signingAlgs = backends.SigningAlgs
